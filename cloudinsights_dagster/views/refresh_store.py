"""The warehouse side of a view refresh, in the caller's transaction: what it reads (each group's
flow-logs integrations, the security groups of the interfaces) and what it writes (the capped
view rows, the reasons with their config-change events, the change impacts)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudinsights_dagster.inventory.store import inventory_as_of
from cloudinsights_dagster.views import columnar
from cloudinsights_dagster.views.caps import cap_reasons, cap_rejected, cap_throughput
from cloudinsights_dagster.views.impact import change_impacts, impact_windows
from cloudinsights_dagster.views.sources import in_windows
from cloudinsights_dagster.views.throughput import THROUGHPUT_SCHEMA
from cloudinsights_dagster.warehouse import schema as s

IMPACT_WINDOWS = 3  # five-minute windows before and after a change
_CHUNK = 1000


def flowlogs_integrations_by_group(session: Session) -> dict[int, list[int]]:
    """Each account group's flow-logs integrations: a group's views count its own records only."""
    by_group: dict[int, list[int]] = defaultdict(list)
    for integration_id, group_id in session.execute(
        sa.select(s.Integration.id, s.Integration.account_group_id).where(
            s.Integration.integration_type == "flowlogs"
        )
    ):
        by_group[group_id].append(integration_id)
    return by_group


def security_groups_at(session: Session, location_key: str, at: datetime) -> dict[str, list[str]]:
    """Interface -> security groups as of the latest touched window, for egress rejects whose
    destination ENI has no records of its own."""
    enis = inventory_as_of(session, location_key, at, ["network_interface"])
    return {r.resource_id: list(r.data.get("security_group_ids") or []) for r in enis}


@dataclass
class StoredCounts:
    throughput_rows: int
    rejected_rows: int
    reason_rows: int
    impacts: int


def store_windows(
    session: Session,
    group_id: int,
    location_key: str,
    touched: set[datetime],
    now: datetime,
    throughput: pa.Table,
    rejected: pa.Table,
    reasons: pa.Table,
    eni_throughput: EniThroughput,
) -> StoredCounts:
    """Replace the touched windows' capped rows of the three views and recompute the impacts of
    the changes around them."""
    for model in (s.EntityThroughput, s.RejectedTraffic, s.RejectReason):
        session.execute(
            sa.delete(model).where(
                model.account_group_id == group_id,
                model.location_key == location_key,
                model.window_start.in_(sorted(touched)),
            )
        )
    t_rows = [
        {"account_group_id": group_id, "location_key": location_key, **row}
        for row in cap_throughput(throughput).to_pylist()
    ]
    r_rows = [
        {"account_group_id": group_id, "location_key": location_key, **row}
        for row in cap_rejected(rejected).to_pylist()
    ]
    for row in r_rows:
        row["destination_security_group_ids"] = row["destination_security_group_ids"] or []
    _insert(session, s.EntityThroughput, t_rows)
    _insert(session, s.RejectedTraffic, r_rows)
    reason_rows = _reason_rows(session, group_id, location_key, cap_reasons(reasons))
    _insert(session, s.RejectReason, reason_rows)
    impacts = _refresh_impacts(session, group_id, location_key, touched, now, eni_throughput)
    return StoredCounts(len(t_rows), len(r_rows), len(reason_rows), impacts)


def _insert(session: Session, model, rows: list[dict]) -> None:
    """Core executemany: the ORM's bulk insert costs ~0.1 ms more per row."""
    connection = session.connection()
    for start in range(0, len(rows), _CHUNK):
        connection.execute(model.__table__.insert(), rows[start : start + _CHUNK])


class EniThroughput:
    """ENI throughput rows of given windows at full resolution: the refresh's own windows from
    memory, the others from the columnar view (or, without one, the relational table)."""

    def __init__(self, fresh: pa.Table, views_base: str | None, group_id: int, location_key: str):
        self.fresh = fresh.filter(pc.equal(fresh["entity_type"], "eni"))
        self.fresh_windows = set(fresh["window_start"].cast(pa.int64()).to_pylist())
        self.views_base, self.group_id, self.location_key = views_base, group_id, location_key

    def rows(self, session: Session, windows: set[datetime], refreshed: set[datetime]) -> pa.Table:
        others = windows - refreshed
        parts = [in_windows(self.fresh, windows & refreshed)]
        if others and self.views_base is not None:
            stored = columnar.read_windows(
                self.views_base, "entity_throughput", self.group_id, self.location_key, others
            )
            parts.append(stored.filter(pc.equal(stored["entity_type"], "eni")))
        elif others:
            found = session.execute(
                sa.select(*(getattr(s.EntityThroughput, c) for c in THROUGHPUT_SCHEMA.names)).where(
                    s.EntityThroughput.account_group_id == self.group_id,
                    s.EntityThroughput.location_key == self.location_key,
                    s.EntityThroughput.entity_type == "eni",
                    s.EntityThroughput.window_start.in_(sorted(others)),
                )
            ).all()
            parts.append(
                pa.Table.from_pylist([dict(r._mapping) for r in found], schema=THROUGHPUT_SCHEMA)
            )
        return pa.concat_tables([p.cast(THROUGHPUT_SCHEMA) for p in parts])


def _reason_rows(session: Session, group_id: int, location_key: str, reasons: pa.Table):
    """reject_reasons rows, with the config-change event of each removal when there is one."""
    rows = reasons.to_pylist()
    wanted = {
        (r["change_time"], r["change_resource_type"], r["change_resource_id"])
        for r in rows
        if r["change_time"] is not None
    }
    ids: dict[tuple, int] = {}
    if wanted:
        found = session.execute(
            sa.select(
                s.ConfigChange.id,
                s.ConfigChange.change_time,
                s.ConfigChange.resource_type,
                s.ConfigChange.resource_id,
            ).where(
                s.ConfigChange.location_key == location_key,
                s.ConfigChange.change_time.in_(sorted({w[0] for w in wanted})),
            )
        )
        ids = {(t, rt, ri): i for i, t, rt, ri in found}
    for row in rows:
        row["account_group_id"] = group_id
        row["location_key"] = location_key
        row["config_change_id"] = ids.get(
            (row["change_time"], row["change_resource_type"], row["change_resource_id"])
        )
    return rows


def _refresh_impacts(
    session: Session,
    group_id: int,
    location_key: str,
    touched: set[datetime],
    now: datetime,
    eni_throughput: EniThroughput,
) -> int:
    """Recompute the impacts of changes whose before/after windows meet the touched ones."""
    span = timedelta(minutes=5 * (IMPACT_WINDOWS + 1))
    candidates = session.scalars(
        sa.select(s.ConfigChange).where(
            s.ConfigChange.location_key == location_key,
            s.ConfigChange.change_time >= min(touched) - span,
            s.ConfigChange.change_time <= max(touched) + span,
        )
    ).all()
    changes = [
        c for c in candidates if touched & set(impact_windows(c.change_time, IMPACT_WINDOWS))
    ]
    if not changes:
        return 0
    windows = {w for c in changes for w in impact_windows(c.change_time, IMPACT_WINDOWS)}
    throughput = eni_throughput.rows(session, windows, touched)
    count = 0
    for change in changes:
        # The inventory just before and at the change: a deleted resource is still in the first.
        records = {
            (r.resource_type, r.resource_id): r
            for r in inventory_as_of(session, location_key, change.previous_snapshot_time)
        }
        records.update(
            {
                (r.resource_type, r.resource_id): r
                for r in inventory_as_of(session, location_key, change.change_time)
            }
        )
        as_dict = {
            "location_key": change.location_key,
            "change_time": change.change_time,
            "resource_type": change.resource_type,
            "resource_id": change.resource_id,
            "change_type": change.change_type,
            "changed_fields": change.changed_fields,
        }
        (impact,) = change_impacts([as_dict], records.values(), throughput, IMPACT_WINDOWS)
        session.execute(
            sa.delete(s.ChangeImpact).where(
                s.ChangeImpact.account_group_id == group_id,
                s.ChangeImpact.config_change_id == change.id,
            )
        )
        session.add(
            s.ChangeImpact(
                account_group_id=group_id,
                config_change_id=change.id,
                location_key=location_key,
                change_time=change.change_time,
                resource_type=change.resource_type,
                resource_id=change.resource_id,
                change_type=change.change_type,
                touched_interfaces=impact["touched_interfaces"],
                before=impact["before"],
                after=impact["after"],
                rejected_flows_delta=impact["rejected_flows_delta"],
                rejected_bytes_delta=impact["rejected_bytes_delta"],
                series=impact["series"],
                computed_at=now,
                effect=impact["effect"],
                rejected_flows_shift=impact["rejected_flows_shift"],
                explains=impact["explains"],
                score=impact["score"],
                explanation=impact["explanation"],
            )
        )
        count += 1
    return count
