"""Drain flow-log objects of one day: claim a batch from the ledger with a lease, download,
parse, check, enrich and write each object (one Parquet output per object), record the outcome,
and claim the next batch until nothing claimable is left or the run's budget is spent.

Runs share a day: claims are disjoint, a run that dies lets its leases lapse and another run
takes its objects over. One bad object fails alone; the ledger says what became of each.
Nothing here lists S3: the sensor records notified objects, and `reconcile.py` lists the day's
prefixes (backfills and the daily reconciliation).

S3 access (readers, sessions, clients, the prefetcher) is in `s3_access`, lease renewal in
`leases`. Dagster-free: the `flowlog_records` asset calls `drain_day`.

Transactions: unlike the library functions it calls (they take a session), `drain_day` opens
its own short ones, by design: each claim batch, each object's outcome and its logs commit on
their own, so other runs see the claims at once and a crash loses nothing already done.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from cloudinsights_dagster import aws
from cloudinsights_dagster.flowlogs.fields import recreate_hint
from cloudinsights_dagster.flowlogs.inventory_table import eni_table
from cloudinsights_dagster.flowlogs.ledger import (
    DEFAULT_LEASE,
    EVERY_LOCATION,
    Claimed,
    Scope,
    claim_objects,
    fail_exhausted,
    finish_object,
)
from cloudinsights_dagster.flowlogs.parse import (
    FlowLogCorruptError,
    FlowLogError,
    FlowLogFormatError,
)
from cloudinsights_dagster.flowlogs.quality import QualityAccumulator
from cloudinsights_dagster.integration_logs import LogEntry, add_logs
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.warehouse.db import session_scope

from .leases import Clock, LeaseKeeper
from .s3_access import OBJECT_WORKERS, Prefetcher, Reader, S3Clients, flowlogs_readers

if TYPE_CHECKING:  # pyarrow is imported by the stages that use it
    import pyarrow as pa

# Records of a day may start a little before it (aggregation intervals, delivery delay).
INVENTORY_MARGIN = timedelta(hours=1)
# Objects claimed at a time: small enough that a dead run strands little work, large enough
# that claiming costs nothing next to processing.
CLAIM_BATCH = 20


@dataclass
class DrainReport:
    day: str
    objects: Counter[str] = field(default_factory=Counter)  # outcome -> count
    records_read: int = 0
    records_loaded: int = 0
    records_filtered: int = 0
    bytes_read: int = 0
    claims: int = 0
    lost_leases: int = 0  # objects another run took over before this one finished them
    locations: set[str] = field(default_factory=set)
    outputs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    integrations: set[int] = field(default_factory=set)
    # The quality suite over the records of the objects loaded, checked as they were written.
    quality: QualityAccumulator = field(default_factory=QualityAccumulator)

    def merge(self, other: DrainReport) -> None:
        """Add another report of the same day (one object's, made in a worker thread)."""
        for f in fields(self):
            if f.name == "day":
                continue
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, Counter):
                mine.update(theirs)
            elif isinstance(mine, set):
                mine |= theirs
            elif isinstance(mine, list):
                mine.extend(theirs)
            elif isinstance(mine, int):
                setattr(self, f.name, mine + theirs)
            elif hasattr(mine, "merge"):
                mine.merge(theirs)
            else:
                raise TypeError(f"DrainReport.{f.name}: cannot merge a {type(mine).__name__}")


def utc_clock() -> datetime:
    return datetime.now(UTC)


class EnrichmentIndexes:
    """ENI inventory indexes per account group (and the regions met so far), built once a run."""

    def __init__(self, registry: Registry, day: str):
        self._url = registry.database_url
        self._day_start = datetime.fromisoformat(day).replace(tzinfo=UTC)
        self._group_locations: dict[str, list[str]] = {}
        for loc in registry.locations():
            self._group_locations.setdefault(loc.account_group, []).append(loc.key)
        self._cache: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()  # objects are processed in parallel

    def monitors(self, group: str, location_key: str) -> bool:
        return location_key in self._group_locations.get(group, ())

    def index(self, group: str, region: str):
        from cloudinsights_dagster.flowlogs.enrich import EniIndex

        key = (group, region)
        with self._lock:  # built once even when two objects of a new region start together
            if key not in self._cache:
                # The group's locations in the object's region: a flow's peer is resolved to a
                # monitored ENI of any account there (peering, transit gateway, shared VPCs).
                keys = sorted(
                    {k for k in self._group_locations.get(group, []) if k.endswith(f"-{region}")}
                )
                # A short read of its own: the index is built once and shared by the run.
                with session_scope(self._url) as session:
                    table = eni_table(
                        session,
                        keys,
                        self._day_start - INVENTORY_MARGIN,
                        self._day_start + timedelta(days=1) + INVENTORY_MARGIN,
                    )
                accounts = {k.partition("-")[0] for k in self._group_locations.get(group, [])}
                self._cache[key] = EniIndex(table, accounts)
            return self._cache[key]


def drain_day(
    registry: Registry,
    day: str,
    output_base: str,
    run_id: str,
    *,
    scope: Scope = EVERY_LOCATION,
    max_objects: int = 2000,
    max_bytes: int | None = None,
    clock: Clock = utc_clock,
    lease: timedelta = DEFAULT_LEASE,
    clients: S3Clients | None = None,
    on_object: Callable[[Claimed, str], None] | None = None,
    workers: int = OBJECT_WORKERS,
) -> DrainReport:
    """Claim and process the day's claimable objects (within `scope`) until none is left or
    `max_objects` / `max_bytes` are reached; never raises for one object.

    `workers` objects are processed at once, each object's GET started ahead of its processing;
    the next batch is claimed while the last objects of the previous one are still processed."""
    report = DrainReport(day)
    clients = clients or S3Clients(registry)
    readers = flowlogs_readers(registry)
    indexes = EnrichmentIndexes(registry, day)
    url = registry.database_url
    prefetch = Prefetcher(clients, readers, indexes, workers + 1)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="flowlog-object")

    def work(claimed: Claimed, body: Future[bytes] | None):
        part, logs = DrainReport(day), list[LogEntry]()
        try:
            fetch = body.result if body is not None else _no_body
            outcome = _process_one(
                url, claimed, readers, indexes, fetch, output_base, run_id, clock, part, logs
            )
        finally:
            prefetch.processed(body)
        return outcome, part, logs

    in_flight: dict[Future, Claimed] = {}
    claimed_bytes = 0
    exhausted = False
    try:
        with LeaseKeeper(url, run_id, lease, clock) as keeper:
            while True:
                # Claim the next batch once the workers are about to run out of objects.
                if not exhausted and len(in_flight) <= workers:
                    remaining_bytes = None if max_bytes is None else max_bytes - claimed_bytes
                    if report.claims >= max_objects or (
                        remaining_bytes is not None and remaining_bytes <= 0
                    ):
                        exhausted = True
                    else:
                        batch = _claim_batch(
                            url, day, run_id, clock(), scope, lease, report, remaining_bytes,
                            min(CLAIM_BATCH, max_objects - report.claims),
                        )  # fmt: skip
                        exhausted = not batch
                        report.claims += len(batch)
                        keeper.hold(o.id for o in batch)
                        for claimed in batch:
                            claimed_bytes += claimed.size or 0
                            future = pool.submit(work, claimed, prefetch.fetch(claimed))
                            in_flight[future] = claimed
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                logs: list[LogEntry] = []
                for future in sorted(done, key=lambda f: in_flight[f].id):
                    claimed = in_flight.pop(future)
                    outcome, part, part_logs = future.result()
                    report.merge(part)
                    logs.extend(part_logs)
                    keeper.release(claimed.id)
                    if on_object is not None:
                        on_object(claimed, outcome)
                if logs:
                    # The finished objects' logs, committed with them done (not at the run's end).
                    with session_scope(url) as session:
                        add_logs(session, logs)
    finally:
        # On an unexpected error, objects not started yet keep their claims: their leases
        # lapse and another run takes them, as after a crash.
        prefetch.close()
        pool.shutdown(wait=True, cancel_futures=True)
        prefetch.join()
    return report


def _claim_batch(url, day, run_id, now, scope, lease, report, max_bytes, max_objects):
    # A claim commits on its own (SKIP LOCKED): other runs then skip exactly these objects.
    with session_scope(url) as session:
        for integration_id, bucket, key in fail_exhausted(session, now):
            report.errors.append(f"s3://{bucket}/{key}: runs kept dying on it; failed")
            report.integrations.add(integration_id)
        return claim_objects(
            session,
            day,
            run_id,
            now,
            scope=scope,
            max_objects=max_objects,
            max_bytes=max_bytes,
            lease=lease,
        )


def _no_body() -> bytes:
    raise AssertionError("an object the run does not read was fetched")


def _process_one(
    url: str,
    claimed: Claimed,
    readers: dict[int, Reader],
    indexes: EnrichmentIndexes,
    fetch: Callable[[], bytes],
    output_base: str,
    run_id: str,
    clock: Clock,
    report: DrainReport,
    logs: list[LogEntry],
) -> str:
    from cloudinsights_dagster.flowlogs.table import is_compacted, object_output
    from cloudinsights_dagster.flowlogs.writer import process_object
    from cloudinsights_dagster.views.partials import (
        SMALL_OBJECT_RECORDS,
        PartialBuilder,
        partial_path,
    )

    bucket, key, integration_id = claimed.bucket, claimed.key, claimed.integration_id
    details = {"bucket": bucket, "key": key}
    report.integrations.add(integration_id)
    report.locations.add(claimed.location_key)
    region = claimed.location_key.partition("-")[2]
    reader = readers.get(integration_id)
    if reader is None or not indexes.monitors(reader.account_group, claimed.location_key):
        return _record(
            url,
            claimed,
            run_id,
            "filtered",
            clock(),
            report,
            error=f"{claimed.location_key} is not monitored by the integration's account group",
        )
    if is_compacted(claimed.output_path):
        with session_scope(url) as session:  # committed before the object's new file is written
            out = object_output(session, output_base, claimed)
    else:
        out = object_output(None, output_base, claimed)  # its own file: no query
    try:
        body = fetch()  # the GET, started ahead by the run's prefetcher
        report.bytes_read += len(body)
        checked, views = QualityAccumulator(), PartialBuilder(skip_below=SMALL_OBJECT_RECORDS)

        def feed(batch: pa.RecordBatch) -> None:  # the quality gate and the views' partials
            checked.add(batch)
            views.add(batch)

        result = process_object(
            body,
            out,
            indexes.index(reader.account_group, region),
            (),
            name=f"s3://{bucket}/{key}",
            on_batch=feed,
        )
    except (ClientError, BotoCoreError) as exc:
        error = aws.error_message(exc)
        now = clock()
        logs.append(
            LogEntry(
                integration_id,
                "logDownload",
                "error",
                f"could not download s3://{bucket}/{key}: {error}",
                now,
                {**details, "api": "s3:GetObject", "error": error},
            )
        )
        report.errors.append(f"s3://{bucket}/{key}: {error}")
        return _record(url, claimed, run_id, "failed", now, report, error=f"download: {error}")
    except FlowLogError as exc:
        now = clock()
        message = _parse_error_message(exc, bucket, key)
        logs.append(
            LogEntry(
                integration_id,
                "logParse",
                "error",
                message,
                now,
                {**details, "error": str(exc), "kind": _error_kind(exc)},
            )
        )
        report.errors.append(message)
        return _record(url, claimed, run_id, "failed", now, report, error=message)
    views.write_or_remove(partial_path(output_base, integration_id, bucket, key), out)
    now = clock()
    if result.records_filtered:
        accounts = ", ".join(sorted(result.filtered_by_account)) or "?"
        logs.append(
            LogEntry(
                integration_id,
                "logFilter",
                "warning",
                f"{result.records_filtered} record(s) of s3://{bucket}/{key} belong to accounts "
                f"no inventory integration of this account group monitors ({accounts}): not loaded",
                now,
                {**details, "accounts": sorted(result.filtered_by_account)},
            )
        )
    outcome = _record(url, claimed, run_id, "loaded", now, report, result=result)
    if outcome == "loaded":
        report.quality.merge(checked)
        report.records_read += result.records_read
        report.records_loaded += result.records_loaded
        report.records_filtered += result.records_filtered
        report.outputs.append(out)
    return outcome


def _record(url, claimed: Claimed, run_id, status, now, report, *, error=None, result=None) -> str:
    # Each object's outcome commits on its own: a crash later in the run loses nothing done.
    with session_scope(url) as session:
        kept = finish_object(session, claimed.id, run_id, status, now, error=error, result=result)
    if not kept:
        report.lost_leases += 1
        return "lost"
    report.objects[status] += 1
    return status


def _parse_error_message(exc: FlowLogError, bucket: str, key: str) -> str:
    if isinstance(exc, FlowLogFormatError):
        missing = getattr(exc, "missing_fields", None) or []
        if missing:
            return (
                f"s3://{bucket}/{key} lacks mandatory fields {', '.join(missing)}: "
                f"{recreate_hint(missing)}"
            )
    return str(exc)


def _error_kind(exc: FlowLogError) -> str:
    if isinstance(exc, FlowLogFormatError):
        return "format"
    if isinstance(exc, FlowLogCorruptError):
        return "corrupt"
    return "parse"
