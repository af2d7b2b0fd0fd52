"""Benchmark: one inventory tick of 100,000 resources (1% changed) through the warehouse, and
the as-of lookup.

    python bench/bench_inventory_store.py [--resources 100000] [--changed 0.01]
                                          [--database-url postgresql+psycopg2://...]

Records the baseline snapshot, then the changed one (`record_snapshot`: hashes, compares with the
open versions, closes and opens versions), derives its config changes (`compute_pending_changes`:
field-level diff of the changed subset only), and reads "the inventory as of T" for both times.
Uses the same generated resources as bench_inventory_diff.py. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_inventory_diff import ACCOUNT, collect, universe  # noqa: E402

from cloudinsights_dagster.inventory.model import (  # noqa: E402
    ApiOutcome,
    CollectionResult,
    ResourceRecord,
)
from cloudinsights_dagster.inventory.store import (  # noqa: E402
    compute_pending_changes,
    inventory_as_of,
    record_snapshot,
)
from cloudinsights_dagster.warehouse.db import session_scope  # noqa: E402

LOCATION = f"{ACCOUNT}-eu-west-1"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def _result(snapshot: dict) -> CollectionResult:
    types = sorted({k[0] for k in snapshot})
    return CollectionResult(
        LOCATION,
        ACCOUNT,
        "eu-west-1",
        [ResourceRecord(t, i, d) for (t, i), d in snapshot.items()],
        [ApiOutcome(t, f"ec2:Describe{t}", "ok", None, 0) for t in types],
    )


def _rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - started, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="bench-store-")
    url = args.database_url or f"sqlite:///{tmp.name}/warehouse.db"
    u = universe(args.resources)
    baseline = _result(collect(u, None))
    changed = _result(collect(u, args.changed))

    def record(result, at):
        with session_scope(url) as session:
            write = record_snapshot(session, result, at)
            changes = compute_pending_changes(session, LOCATION)
        return write, changes

    _, baseline_s = _timed(lambda: record(baseline, T0))
    rss_after_baseline = _rss_mib()
    (write, changes), tick_s = _timed(lambda: record(changed, T1))

    def as_of(at):
        with session_scope(url) as session:
            return inventory_as_of(session, LOCATION, at)

    at_t0, as_of_t0_s = _timed(lambda: as_of(T0))
    at_t1, as_of_t1_s = _timed(lambda: as_of(T1))

    def eni_as_of(at):
        with session_scope(url) as session:
            return inventory_as_of(session, LOCATION, at, ["network_interface"])

    enis, as_of_eni_s = _timed(lambda: eni_as_of(T1))
    kinds: dict[str, int] = {}
    for c in changes[0].changes:
        kinds[c.change_type] = kinds.get(c.change_type, 0) + 1
    print(
        json.dumps(
            {
                "backend": url.split(":", 1)[0],
                "resources": len(baseline.records),
                "baseline_snapshot_seconds": baseline_s,
                "tick_seconds": tick_s,
                "tick_versions_opened": write.versions_opened,
                "tick_versions_closed": write.versions_closed,
                "tick_changes": kinds,
                "as_of_seconds": {
                    "t0_all": as_of_t0_s,
                    "t1_all": as_of_t1_s,
                    "t1_enis": as_of_eni_s,
                },
                "as_of_rows": {"t0": len(at_t0), "t1": len(at_t1), "t1_enis": len(enis)},
                "peak_rss_mib": {"after_baseline": rss_after_baseline, "end": _rss_mib()},
            },
            indent=2,
        )
    )
    tmp.cleanup()


if __name__ == "__main__":
    main()
