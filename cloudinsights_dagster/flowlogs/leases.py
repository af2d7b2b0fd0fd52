"""Keeping a run's leases on its claimed objects alive while it works."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cloudinsights_dagster.flowlogs.ledger import (
    renew_leases,
)
from cloudinsights_dagster.warehouse.db import session_scope

if TYPE_CHECKING:  # pyarrow is imported by the stages that use it
    pass


Clock = Callable[[], datetime]


class LeaseKeeper:
    """Renews the leases of the objects a run holds, from a background thread, so that only a
    dead or hung run lets them lapse."""

    def __init__(self, database_url: str, run_id: str, lease: timedelta, clock: Clock):
        self._url, self._run_id, self._lease, self._clock = database_url, run_id, lease, clock
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def hold(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._held.update(ids)

    def release(self, object_id: int) -> None:
        with self._lock:
            self._held.discard(object_id)

    def _loop(self) -> None:
        interval = max(self._lease.total_seconds() / 3, 0.05)
        while not self._stop.wait(interval):
            with self._lock:
                held = sorted(self._held)
            if held:
                try:
                    # Its own transaction, from its own thread: a renewal commits at once,
                    # whatever the run's other transactions are doing.
                    with session_scope(self._url) as session:
                        renew_leases(session, self._run_id, held, self._clock() + self._lease)
                except Exception:  # noqa: BLE001 - a missed renewal only risks a takeover
                    continue
