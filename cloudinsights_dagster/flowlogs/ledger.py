"""The ledger of flow-log objects: what was notified or listed, and what became of it.

At-least-once delivery from SQS becomes exactly-once in the tables here: an object is one row per
(integration, bucket, key); a redelivered notification of the same eTag changes nothing, and an
overwritten object (new eTag) is processed again, replacing its previous output.
"""

from __future__ import annotations

from collections.abc import Iterable
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
        row.etag, row.size, row.status, row.error = ref.etag, ref.size, status, error
        row.records_read = row.records_loaded = row.records_filtered = None
        row.processed_at = None
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
