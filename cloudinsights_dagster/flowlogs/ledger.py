"""The ledger of flow-log objects: what was notified or listed, and what became of it.

At-least-once delivery from SQS becomes exactly-once in the tables here: an object is one row per
(integration, bucket, key); a redelivered notification of the same eTag changes nothing, and an
overwritten object (new eTag) is processed again, replacing its previous output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
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
