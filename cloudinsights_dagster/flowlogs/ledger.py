"""The ledger of flow-log objects: what was notified or listed, and what became of it.

At-least-once delivery from SQS becomes exactly-once in the tables here: an object is one row per
(integration, bucket, key); a redelivered notification of the same eTag changes nothing, and an
overwritten object (new eTag) is processed again, replacing its previous output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudinsights_dagster.warehouse import schema as s

Upsert = Literal["new", "duplicate", "changed"]


@dataclass(frozen=True)
class ObjectRef:
    integration_id: int
    bucket: str
    key: str
    etag: str | None
    size: int | None
    location_key: str
    day: str


def upsert_object(
    session: Session,
    ref: ObjectRef,
    source: str,
    status: str = "pending",
    error: str | None = None,
    now: datetime | None = None,
) -> Upsert:
    row = session.scalar(
        sa.select(s.FlowLogObject).where(
            s.FlowLogObject.integration_id == ref.integration_id,
            s.FlowLogObject.bucket == ref.bucket,
            s.FlowLogObject.object_key == ref.key,
        )
    )
    if row is None:
        session.add(
            s.FlowLogObject(
                integration_id=ref.integration_id,
                bucket=ref.bucket,
                object_key=ref.key,
                etag=ref.etag,
                size=ref.size,
                location_key=ref.location_key,
                day=ref.day,
                source=source,
                status=status,
                error=error,
                first_seen_at=now or s.utcnow(),
                processed_at=(now or s.utcnow()) if status != "pending" else None,
            )
        )
        session.flush()
        return "new"
    if ref.etag and row.etag and ref.etag != row.etag:
        row.etag, row.size, row.status, row.error = ref.etag, ref.size, status, error
        row.records_read = row.records_loaded = row.records_filtered = None
        row.processed_at = None
        # A run still working on the old content loses its claim and cannot record an outcome.
        row.claimed_by_run = row.lease_expires_at = None
        row.attempts = 0
        return "changed"
    return "duplicate"


def partition_objects(
    session: Session, location_key: str, day: str, statuses: Iterable[str] | None = None
) -> list[s.FlowLogObject]:
    query = sa.select(s.FlowLogObject).where(
        s.FlowLogObject.location_key == location_key, s.FlowLogObject.day == day
    )
    if statuses is not None:
        query = query.where(s.FlowLogObject.status.in_(list(statuses)))
    return list(session.scalars(query.order_by(s.FlowLogObject.bucket, s.FlowLogObject.object_key)))


def partitions_with_pending(session: Session) -> list[tuple[str, str]]:
    """(location_key, day) of every partition that has objects waiting."""
    rows = session.execute(
        sa.select(s.FlowLogObject.location_key, s.FlowLogObject.day)
        .where(s.FlowLogObject.status == "pending")
        .distinct()
        .order_by(s.FlowLogObject.day, s.FlowLogObject.location_key)
    )
    return [(loc, day) for loc, day in rows]


def known_buckets(session: Session, location_key: str) -> list[tuple[int, str, str]]:
    """(integration_id, bucket, prefix) pairs where this location's objects were seen."""
    rows = session.execute(
        sa.select(
            s.FlowLogObject.integration_id,
            s.FlowLogObject.bucket,
            sa.func.min(s.FlowLogObject.object_key),
        )
        .where(s.FlowLogObject.location_key == location_key)
        .group_by(s.FlowLogObject.integration_id, s.FlowLogObject.bucket)
    )
    found = set()
    for integration_id, bucket, key in rows:
        prefix = key.split("AWSLogs/", 1)[0].rstrip("/")
        found.add((integration_id, bucket, prefix))
    return sorted(found)


# ---------------------------------------------------------------------------------------------
# Leased claims: several runs drain the same day; a dead run's objects come back by themselves.

# Claimed objects whose lease ran out are claimable again. The lease is renewed while a run
# works (see process.LeaseKeeper), so only a dead or stuck run lets it lapse.
DEFAULT_LEASE = timedelta(minutes=10)
# An object claimed this many times without finishing (each claim's run died on it) is failed.
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Scope:
    """Which objects of a day a run takes: every location (empty) or only some."""

    locations: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()

    def where(self, query):
        if self.locations:
            query = query.where(s.FlowLogObject.location_key.in_(sorted(self.locations)))
        if self.accounts:
            query = query.where(
                sa.or_(
                    *(s.FlowLogObject.location_key.like(f"{a}-%") for a in sorted(self.accounts))
                )
            )
        return query


EVERY_LOCATION = Scope()


@dataclass(frozen=True)
class Claimed:
    id: int
    integration_id: int
    bucket: str
    key: str
    location_key: str
    day: str
    size: int | None
    attempts: int


def _claimable(now: datetime):
    return sa.or_(
        s.FlowLogObject.status == "pending",
        sa.and_(s.FlowLogObject.status == "claimed", s.FlowLogObject.lease_expires_at < now),
    )


def claim_objects(
    session: Session,
    day: str,
    run_id: str,
    now: datetime,
    *,
    scope: Scope = EVERY_LOCATION,
    max_objects: int = 100,
    max_bytes: int | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> list[Claimed]:
    """Claim up to `max_objects` (and about `max_bytes`) claimable objects of a day for a run.

    Claimable: pending, or claimed by a run whose lease expired. On PostgreSQL the rows are
    locked with SKIP LOCKED, so concurrent runs take disjoint sets; SQLite serializes writers.
    """
    query = (
        sa.select(s.FlowLogObject.id, s.FlowLogObject.size)
        .where(s.FlowLogObject.day == day, _claimable(now))
        .order_by(s.FlowLogObject.id)
        .limit(max_objects)
    )
    query = scope.where(query)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    chosen: list[int] = []
    total = 0
    for object_id, size in session.execute(query):
        if max_bytes is not None and chosen and total + (size or 0) > max_bytes:
            break
        total += size or 0
        chosen.append(object_id)
    if not chosen:
        return []
    until = now + lease
    # Claim only what is still claimable when the write happens: a concurrent run may have
    # taken some rows since the read (SQLite reads outside the write lock).
    session.execute(
        sa.update(s.FlowLogObject)
        .where(s.FlowLogObject.id.in_(chosen), _claimable(now))
        .values(
            status="claimed",
            claimed_by_run=run_id,
            lease_expires_at=until,
            attempts=s.FlowLogObject.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        sa.select(
            s.FlowLogObject.id,
            s.FlowLogObject.integration_id,
            s.FlowLogObject.bucket,
            s.FlowLogObject.object_key,
            s.FlowLogObject.location_key,
            s.FlowLogObject.day,
            s.FlowLogObject.size,
            s.FlowLogObject.attempts,
        )
        .where(
            s.FlowLogObject.id.in_(chosen),
            s.FlowLogObject.claimed_by_run == run_id,
            s.FlowLogObject.lease_expires_at == until,
        )
        .order_by(s.FlowLogObject.id)
    ).all()
    return [Claimed(*row) for row in rows]


def renew_leases(session: Session, run_id: str, ids: Iterable[int], until: datetime) -> int:
    """Extend this run's leases; returns how many it still holds."""
    ids = list(ids)
    if not ids:
        return 0
    result = session.execute(
        sa.update(s.FlowLogObject)
        .where(
            s.FlowLogObject.id.in_(ids),
            s.FlowLogObject.claimed_by_run == run_id,
            s.FlowLogObject.status == "claimed",
        )
        .values(lease_expires_at=until)
    )
    return result.rowcount or 0


def finish_object(
    session: Session,
    object_id: int,
    run_id: str | None,
    status: str,
    now: datetime,
    *,
    error: str | None = None,
    result=None,
) -> bool:
    """Record what became of a claimed object. False (nothing written) when the run no longer
    holds it: its lease expired and another run took it over, which then records the outcome.
    Both write the same output file (one deterministic path per object), so nothing doubles."""
    row = session.get(s.FlowLogObject, object_id)
    if row is None or (run_id is not None and row.claimed_by_run != run_id):
        return False
    if run_id is not None and row.status != "claimed":
        return False
    row.status, row.error, row.processed_at = status, error, now
    row.lease_expires_at = None
    if result is not None:
        row.records_read = result.records_read
        row.records_loaded = result.records_loaded
        row.records_filtered = result.records_filtered
        row.output_path = result.out_path
        row.first_start, row.last_end = result.first_start, result.last_end
    return True


def fail_exhausted(session: Session, now: datetime) -> list[tuple[int, str, str]]:
    """Objects whose runs died on them MAX_ATTEMPTS times are failed, not retried forever.

    Returns (integration_id, bucket, key) of each object failed now."""
    rows = session.scalars(
        sa.select(s.FlowLogObject).where(
            s.FlowLogObject.status == "claimed",
            s.FlowLogObject.lease_expires_at < now,
            s.FlowLogObject.attempts >= MAX_ATTEMPTS,
        )
    ).all()
    for row in rows:
        row.status, row.processed_at, row.lease_expires_at = "failed", now, None
        row.error = (
            f"{row.attempts} runs claimed this object and none finished it (each died or was "
            "killed while processing): look for a crash or an out-of-memory kill in those runs"
        )
    return [(r.integration_id, r.bucket, r.object_key) for r in rows]


@dataclass(frozen=True)
class DayBacklog:
    day: str
    objects: int
    bytes: int
    expired: int  # of which claimed by a run whose lease ran out


def claimable_by_day(session: Session, now: datetime) -> list[DayBacklog]:
    """Per day, the objects waiting for a run (an index range scan over pending and claimed
    rows only: loaded, filtered and failed rows, the bulk of the ledger, are never read)."""
    expired = sa.case((s.FlowLogObject.status == "claimed", 1), else_=0)
    rows = session.execute(
        sa.select(
            s.FlowLogObject.day,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(s.FlowLogObject.size), 0),
            sa.func.sum(expired),
        )
        .where(_claimable(now))
        .group_by(s.FlowLogObject.day)
        .order_by(s.FlowLogObject.day)
    )
    return [DayBacklog(day, int(n), int(size), int(exp or 0)) for day, n, size, exp in rows]


def expired_leases(session: Session, integration_ids: Iterable[int], now: datetime):
    """(count, oldest lease expiry, run ids) of objects waiting past their lease."""
    ids = list(integration_ids)
    if not ids:
        return 0, None, []
    rows = session.execute(
        sa.select(s.FlowLogObject.lease_expires_at, s.FlowLogObject.claimed_by_run).where(
            s.FlowLogObject.integration_id.in_(ids),
            s.FlowLogObject.status == "claimed",
            s.FlowLogObject.lease_expires_at < now,
        )
    ).all()
    if not rows:
        return 0, None, []
    return len(rows), min(r[0] for r in rows), sorted({r[1] for r in rows if r[1]})


def run_objects(session: Session, run_id: str) -> list[s.FlowLogObject]:
    """The objects a run loaded (views re-aggregate the windows they touch)."""
    return list(
        session.scalars(
            sa.select(s.FlowLogObject).where(
                s.FlowLogObject.claimed_by_run == run_id, s.FlowLogObject.status == "loaded"
            )
        )
    )


def sample_outputs(session: Session, day: str, max_records: int) -> tuple[list[str], int]:
    """Outputs of a day's loaded objects, evenly spread over the day, holding about
    `max_records` records; and how many loaded objects the day has."""
    rows = session.execute(
        sa.select(s.FlowLogObject.output_path, s.FlowLogObject.records_loaded)
        .where(
            s.FlowLogObject.day == day,
            s.FlowLogObject.status == "loaded",
            s.FlowLogObject.output_path.is_not(None),
        )
        .order_by(s.FlowLogObject.first_start, s.FlowLogObject.id)
    ).all()
    total = sum(r.records_loaded or 0 for r in rows)
    if total <= max_records:
        return [r.output_path for r in rows], len(rows)
    step = total / max_records
    chosen, taken = [], 0
    for i, row in enumerate(rows):
        if taken >= max_records:
            break
        if i % max(int(step), 1) == 0:
            chosen.append(row.output_path)
            taken += row.records_loaded or 0
    return chosen, len(rows)
