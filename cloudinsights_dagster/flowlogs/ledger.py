"""The ledger of flow-log objects: what was notified or listed, and what became of it.

At-least-once delivery from SQS becomes exactly-once in the tables here: an object is one row per
(integration, bucket, key); a redelivered notification of the same eTag changes nothing, and an
overwritten object (new eTag) is processed again, replacing its previous output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

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
        for name, value in _changed_values(ref, status, error).items():
            setattr(row, name, value)
        return "changed"
    return "duplicate"


UPSERT_CHUNK = 500  # object keys per lookup SELECT (well under SQLite's bound-parameter limit)


def upsert_objects(
    session: Session,
    refs: Sequence[ObjectRef],
    source: str,
    now: datetime | None = None,
    status: str = "pending",
    error: str | None = None,
) -> list[Upsert]:
    """`upsert_object` for many refs at once: the outcome per ref, in order, exactly as that
    many `upsert_object` calls in a row would give (a key notified twice in one batch: "new",
    then "duplicate", or "changed" for another eTag), with a bounded number of queries: per
    chunk of refs, one SELECT per (integration, bucket) of the chunk, one bulk INSERT of the new
    rows and one bulk UPDATE of the changed ones.
    """
    session.flush()  # rows added through the ORM earlier in this transaction are seen
    outcomes: list[Upsert] = []
    for start in range(0, len(refs), UPSERT_CHUNK):
        outcomes.extend(
            _upsert_chunk(session, refs[start : start + UPSERT_CHUNK], source, now, status, error)
        )
    return outcomes


def _upsert_chunk(
    session: Session,
    refs: Sequence[ObjectRef],
    source: str,
    now: datetime | None,
    status: str,
    error: str | None,
) -> list[Upsert]:
    by_place: dict[tuple[int, str], set[str]] = {}
    for ref in refs:
        by_place.setdefault((ref.integration_id, ref.bucket), set()).add(ref.key)
    # identity -> [row id or None for a row inserted by this chunk, current eTag]
    known: dict[tuple[int, str, str], list] = {}
    table = s.FlowLogObject
    for (integration_id, bucket), keys in by_place.items():
        rows = session.execute(
            sa.select(table.id, table.object_key, table.etag).where(
                table.integration_id == integration_id,
                table.bucket == bucket,
                table.object_key.in_(sorted(keys)),
            )
        )
        for row_id, key, etag in rows:
            known[(integration_id, bucket, key)] = [row_id, etag]

    inserts: dict[tuple[int, str, str], dict] = {}
    updates: dict[int, dict] = {}
    outcomes: list[Upsert] = []
    seen_at = now or s.utcnow()
    for ref in refs:
        identity = (ref.integration_id, ref.bucket, ref.key)
        current = known.get(identity)
        if current is None:
            inserts[identity] = {
                "integration_id": ref.integration_id,
                "bucket": ref.bucket,
                "object_key": ref.key,
                "etag": ref.etag,
                "size": ref.size,
                "location_key": ref.location_key,
                "day": ref.day,
                "source": source,
                "status": status,
                "error": error,
                "first_seen_at": seen_at,
                "processed_at": seen_at if status != "pending" else None,
            }
            known[identity] = [None, ref.etag]
            outcomes.append("new")
        elif ref.etag and current[1] and ref.etag != current[1]:
            current[1] = ref.etag
            changed = _changed_values(ref, status, error)
            if current[0] is None:  # inserted earlier in this chunk: insert the final state
                inserts[identity].update(
                    {k: v for k, v in changed.items() if k in inserts[identity]}
                )
            else:
                updates[current[0]] = {"id": current[0], **changed}
            outcomes.append("changed")
        else:
            outcomes.append("duplicate")
    if inserts:
        session.execute(sa.insert(table), list(inserts.values()))
    if updates:
        session.execute(sa.update(table), list(updates.values()))  # bulk UPDATE by primary key
    return outcomes


def _changed_values(ref: ObjectRef, status: str, error: str | None) -> dict:
    """A new eTag for a known object: its new content is processed afresh, so it goes back to
    `status` (pending, or filtered) with no results, no claim and no attempts yet."""
    return {
        "etag": ref.etag,
        "size": ref.size,
        "status": status,
        "error": error,
        "records_read": None,
        "records_loaded": None,
        "records_filtered": None,
        "processed_at": None,
        "claimed_by_run": None,
        "lease_expires_at": None,
        "attempts": 0,
    }


# ---------------------------------------------------------------------------------------------
# Leased claims: several runs drain the same day; a dead run's objects come back by themselves.

# Claimed objects whose lease ran out are claimable again. The lease is renewed while a run
# works (see leases.LeaseKeeper), so only a dead or stuck run lets it lapse.
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
    # Where its rows are now, if it was loaded before (a compacted file: see flowlogs/table.py).
    output_path: str | None = None


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
    until = now + lease
    # SQLite reads outside the write lock: a concurrent run may take the rows read before this
    # run's write. The write then claims none, and the read is repeated, now under the write
    # lock the update took, so it sees what is really left (an empty claim means "nothing
    # left" to the caller). PostgreSQL's SKIP LOCKED read never loses its rows: one pass.
    for _ in range(3):
        chosen: list[int] = []
        total = 0
        for object_id, size in session.execute(query):
            if max_bytes is not None and chosen and total + (size or 0) > max_bytes:
                break
            total += size or 0
            chosen.append(object_id)
        if not chosen:
            return []
        # Claim only what is still claimable when the write happens.
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
                s.FlowLogObject.output_path,
            )
            .where(
                s.FlowLogObject.id.in_(chosen),
                s.FlowLogObject.claimed_by_run == run_id,
                s.FlowLogObject.lease_expires_at == until,
            )
            .order_by(s.FlowLogObject.id)
        ).all()
        if rows:
            return [Claimed(*row) for row in rows]
    return []


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
    return cast(sa.CursorResult, result).rowcount or 0


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
    rows only: loaded, filtered and failed rows, the bulk of the ledger, are never read; see
    `explain_backlog_query`)."""
    rows = session.execute(_backlog_query(now))
    return [DayBacklog(day, int(n), int(size), int(exp or 0)) for day, n, size, exp in rows]


def _backlog_query(now: datetime):
    expired = sa.case((s.FlowLogObject.status == "claimed", 1), else_=0)
    return (
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


def explain_backlog_query(session: Session, now: datetime) -> list[str]:
    """How the database runs `claimable_by_day` (the sensor's query, every tick), one line per
    plan step: EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL. It must stay an index
    lookup of the pending and claimed rows as the ledger grows, never a scan of the table."""
    dialect = session.get_bind().dialect
    sql = str(_backlog_query(now).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    connection = session.connection()
    if dialect.name == "sqlite":
        return [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    if dialect.name == "postgresql":
        return [row[0] for row in connection.exec_driver_sql(f"EXPLAIN {sql}")]
    raise ValueError(f"no query plan for the {dialect.name} dialect (SQLite or PostgreSQL only)")


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
    oldest = min((r[0] for r in rows if r[0] is not None), default=None)
    return len(rows), oldest, sorted({r[1] for r in rows if r[1]})


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
        # A compacted file holds many objects' rows: each path once.
        return list(dict.fromkeys(r.output_path for r in rows)), len(rows)
    step = total / max_records
    chosen, taken = [], 0
    for i, row in enumerate(rows):
        if taken >= max_records:
            break
        if i % max(int(step), 1) == 0:
            chosen.append(row.output_path)
            taken += row.records_loaded or 0
    return list(dict.fromkeys(chosen)), len(rows)
