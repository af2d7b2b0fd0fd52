"""Inventory in the warehouse: snapshots as temporal resource versions, config-change events
derived from consecutive snapshots, and "the inventory of a location as of a time".

A resource type whose API was denied or failed in a snapshot is *unknown* there: its current
versions stay open, so it never produces a deleted event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudinsights_dagster.inventory.diff import Change, diff_snapshots
from cloudinsights_dagster.inventory.model import CollectionResult, ResourceRecord, load_snapshot
from cloudinsights_dagster.warehouse import schema as s

_CHUNK = 1000  # rows per bulk statement, within every backend's bound-parameter limit
# Resource data read as JSON text and decoded in batches (load_snapshot): much faster than one
# decode per row through the JSON type.
_DATA_TEXT = sa.cast(s.InventoryResource.data, sa.Text)


class OutOfOrderSnapshot(ValueError):
    """A snapshot older than the location's latest one: the past cannot be re-read from AWS."""


@dataclass(frozen=True)
class SnapshotWrite:
    location_key: str
    snapshot_time: datetime
    already_recorded: bool
    versions_opened: int
    versions_closed: int
    duplicate_ids: tuple[tuple[str, str], ...]


def _current_versions(
    session: Session, location_key: str
) -> dict[tuple[str, str], tuple[int, str]]:
    rows = session.execute(
        sa.select(
            s.InventoryResource.id,
            s.InventoryResource.resource_type,
            s.InventoryResource.resource_id,
            s.InventoryResource.content_hash,
        ).where(
            s.InventoryResource.location_key == location_key,
            s.InventoryResource.valid_to.is_(None),
        )
    )
    return {(rtype, rid): (row_id, digest) for row_id, rtype, rid, digest in rows}


def record_snapshot(
    session: Session, result: CollectionResult, snapshot_time: datetime
) -> SnapshotWrite:
    """Store one collection as of `snapshot_time` (idempotent for the same time)."""
    key = result.location_key
    if session.scalar(
        sa.select(s.InventorySnapshot.id).where(
            s.InventorySnapshot.location_key == key,
            s.InventorySnapshot.snapshot_time == snapshot_time,
        )
    ):
        return SnapshotWrite(key, snapshot_time, True, 0, 0, ())
    latest = session.scalar(
        sa.select(sa.func.max(s.InventorySnapshot.snapshot_time)).where(
            s.InventorySnapshot.location_key == key
        )
    )
    if latest is not None and snapshot_time < latest:
        raise OutOfOrderSnapshot(
            f"location {key}: snapshot time {snapshot_time.isoformat()} is before the latest "
            f"snapshot {latest.isoformat()}; inventory can only move forward in time"
        )

    records: dict[tuple[str, str], ResourceRecord] = {}
    duplicates: list[tuple[str, str]] = []
    for record in result.records:
        if record.key in records:
            duplicates.append(record.key)
        else:
            records[record.key] = record

    unknown = result.unknown_types
    current = _current_versions(session, key)
    to_close: list[int] = []
    to_open: list[ResourceRecord] = []
    for rkey, record in records.items():
        existing = current.get(rkey)
        if existing is None:
            to_open.append(record)
        elif existing[1] != record.content_hash:
            to_close.append(existing[0])
            to_open.append(record)
    for rkey, (row_id, _) in current.items():
        if rkey not in records and rkey[0] not in unknown:
            to_close.append(row_id)

    for chunk in _chunks(to_close):
        session.execute(
            sa.update(s.InventoryResource)
            .where(s.InventoryResource.id.in_(chunk))
            .values(valid_to=snapshot_time)
        )
    for chunk in _chunks(to_open):
        session.execute(
            sa.insert(s.InventoryResource),
            [
                {
                    "location_key": key,
                    "account_id": result.account_id,
                    "region": result.region,
                    "resource_type": r.resource_type,
                    "resource_id": r.resource_id,
                    "content_hash": r.content_hash,
                    "data": r.data,
                    "valid_from": snapshot_time,
                    "valid_to": None,
                }
                for r in chunk
            ],
        )
    session.add(
        s.InventorySnapshot(
            location_key=key,
            account_id=result.account_id,
            region=result.region,
            snapshot_time=snapshot_time,
            completeness=result.completeness,
            api_outcomes=[
                {
                    "resource_type": o.resource_type,
                    "action": o.action,
                    "outcome": o.outcome,
                    "error": o.error,
                    "count": o.count,
                }
                for o in result.outcomes
            ],
            resource_counts=result.counts_by_type,
            unknown_types=sorted(unknown),
            changes=None,
        )
    )
    session.flush()
    return SnapshotWrite(key, snapshot_time, False, len(to_open), len(to_close), tuple(duplicates))


@dataclass(frozen=True)
class SnapshotChanges:
    location_key: str
    snapshot_time: datetime
    previous_snapshot_time: datetime | None  # None: the location's baseline
    changes: tuple[Change, ...]


def compute_pending_changes(session: Session, location_key: str) -> list[SnapshotChanges]:
    """Derive config-change events for every snapshot of a location not yet compared with its
    predecessor; rewrites that snapshot's events, so a re-run never duplicates them."""
    snapshots = (
        session.execute(
            sa.select(s.InventorySnapshot)
            .where(s.InventorySnapshot.location_key == location_key)
            .order_by(s.InventorySnapshot.snapshot_time)
        )
        .scalars()
        .all()
    )
    results = []
    previous: s.InventorySnapshot | None = None
    for snapshot in snapshots:
        if snapshot.changes is None:
            results.append(_changes_for(session, snapshot, previous))
        previous = snapshot
    return results


def _changes_for(
    session: Session, snapshot: s.InventorySnapshot, previous: s.InventorySnapshot | None
) -> SnapshotChanges:
    at = snapshot.snapshot_time
    if previous is None:  # the baseline: everything exists, nothing "changed"
        snapshot.changes = 0
        return SnapshotChanges(snapshot.location_key, at, None, ())
    columns = (
        s.InventoryResource.resource_type,
        s.InventoryResource.resource_id,
        s.InventoryResource.data,
    )
    where_location = s.InventoryResource.location_key == snapshot.location_key
    before = {
        (t, i): d
        for t, i, d in session.execute(
            sa.select(*columns).where(where_location, s.InventoryResource.valid_to == at)
        )
    }
    after = {
        (t, i): d
        for t, i, d in session.execute(
            sa.select(*columns).where(where_location, s.InventoryResource.valid_from == at)
        )
    }
    # Types we could not see last time: what appears now may have existed for a while.
    blind_before = set(previous.unknown_types or [])
    changes = tuple(
        c
        for c in diff_snapshots(before, after)
        if not (c.change_type == "created" and c.resource_type in blind_before)
    )
    session.execute(
        sa.delete(s.ConfigChange).where(
            s.ConfigChange.location_key == snapshot.location_key, s.ConfigChange.change_time == at
        )
    )
    for chunk in _chunks(list(changes)):
        session.execute(
            sa.insert(s.ConfigChange),
            [
                {
                    "location_key": snapshot.location_key,
                    "account_id": snapshot.account_id,
                    "region": snapshot.region,
                    "change_time": at,
                    "previous_snapshot_time": previous.snapshot_time,
                    "resource_type": c.resource_type,
                    "resource_id": c.resource_id,
                    "change_type": c.change_type,
                    "changed_fields": [
                        {"path": f.path, "before": f.before, "after": f.after} for f in c.fields
                    ],
                }
                for c in chunk
            ],
        )
    snapshot.changes = len(changes)
    return SnapshotChanges(snapshot.location_key, at, previous.snapshot_time, changes)


def inventory_as_of(
    session: Session,
    location_key: str,
    at: datetime,
    resource_types: Iterable[str] | None = None,
) -> list[ResourceRecord]:
    """The inventory of one location as it was at `at` (one indexed query)."""
    query = sa.select(
        s.InventoryResource.resource_type, s.InventoryResource.resource_id, _DATA_TEXT
    ).where(
        s.InventoryResource.location_key == location_key,
        s.InventoryResource.valid_from <= at,
        sa.or_(s.InventoryResource.valid_to.is_(None), s.InventoryResource.valid_to > at),
    )
    if resource_types is not None:
        query = query.where(s.InventoryResource.resource_type.in_(list(resource_types)))
    rows = session.execute(
        query.order_by(s.InventoryResource.resource_type, s.InventoryResource.resource_id)
    )
    return [ResourceRecord(t, i, d) for (t, i), d in load_snapshot(rows).items()]


def latest_snapshot(session: Session, location_key: str) -> s.InventorySnapshot | None:
    return session.scalars(
        sa.select(s.InventorySnapshot)
        .where(s.InventorySnapshot.location_key == location_key)
        .order_by(s.InventorySnapshot.snapshot_time.desc())
        .limit(1)
    ).first()


def _decode(texts: list[str], size: int = 2000) -> list[dict]:
    """JSON texts decoded a batch per json.loads call (see model.load_snapshot)."""
    out: list[dict] = []
    for start in range(0, len(texts), size):
        out.extend(json.loads("[" + ",".join(texts[start : start + size]) + "]"))
    return out


def _chunks(items: Sequence, size: int = _CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def eni_versions(
    session: Session, location_keys: Iterable[str], start: datetime, end: datetime
) -> list[tuple[datetime, datetime | None, dict]]:
    """Every network-interface version of these locations valid at some time in [start, end),
    plus each ENI's first version when it was first seen after `end` (so records older than
    any snapshot still resolve): (valid_from, valid_to, data)."""
    keys = list(location_keys)
    if not keys:
        return []
    rows = session.execute(
        sa.select(s.InventoryResource.valid_from, s.InventoryResource.valid_to, _DATA_TEXT)
        .where(
            s.InventoryResource.location_key.in_(keys),
            s.InventoryResource.resource_type == "network_interface",
            sa.or_(s.InventoryResource.valid_to.is_(None), s.InventoryResource.valid_to > start),
        )
        .order_by(s.InventoryResource.resource_id, s.InventoryResource.valid_from)
    ).all()
    decoded = _decode([text for _, _, text in rows])
    out: list[tuple[datetime, datetime | None, dict]] = []
    seen: set[str | None] = set()
    for (valid_from, valid_to, _), data in zip(rows, decoded, strict=True):
        eni = data.get("interface_id")
        if valid_from < end or eni not in seen:
            out.append((valid_from, valid_to, data))
        seen.add(eni)
    return out
