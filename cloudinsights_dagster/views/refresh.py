"""Keeping the view tables current after a flow-log partition is processed: only the windows
its records touch are re-aggregated, from every loaded record of those windows, so a late file
gives the same figures as a from-scratch aggregation; the change impacts around those windows
follow. Each account group is aggregated from its own integrations' records only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.dataset as pads
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudinsights_dagster.inventory.store import inventory_as_of
from cloudinsights_dagster.views.impact import change_impacts, impact_windows
from cloudinsights_dagster.views.reasons import explain_rejects, history_from_session
from cloudinsights_dagster.views.rejected import aggregate_rejected
from cloudinsights_dagster.views.throughput import (
    THROUGHPUT_SCHEMA,
    aggregate_throughput,
    windows_of,
)
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import session_scope

# The enriched columns the views read (throughput, rejected, reasons): reading only these
# halves what a refresh decodes.
VIEW_COLUMNS = (
    "account_id",
    "action",
    "bytes",
    "dstaddr",
    "dstport",
    "end",
    "eni_instance_id",
    "eni_owner_account_id",
    "eni_security_group_ids",
    "eni_subnet_id",
    "eni_vpc_id",
    "flow_direction",
    "instance_id",
    "interface_id",
    "log_status",
    "packets",
    "peer_instance_id",
    "peer_interface_id",
    "peer_is_external",
    "protocol",
    "srcaddr",
    "srcport",
    "start",
    "subnet_id",
    "tcp_flags",
    "traffic_path",
    "vpc_id",
)
IMPACT_WINDOWS = 3  # five-minute windows before and after a change
REASON_HISTORY = timedelta(days=7)  # how far back a removed rule is looked for
_CHUNK = 1000


@dataclass
class ViewsReport:
    location_key: str
    windows: int = 0
    throughput_rows: int = 0
    rejected_rows: int = 0
    reason_rows: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # reason -> rejected flows
    impacts: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    rejected_flows: int = 0
    top_talkers: list[tuple[str, str, int]] = field(default_factory=list)  # (type, id, bytes)
    top_rejects: list[tuple[str, str, int, int]] = field(default_factory=list)


def _outputs(
    session: Session,
    location_key: str,
    integration_ids: list[int],
    span: tuple[datetime, datetime],
    days: set[str],
) -> list[str]:
    """Loaded outputs of the location whose records may fall in [span): by the records' own
    time span (an index range), or by day for objects recorded without one."""
    low, high = span
    by_span = sa.and_(
        s.FlowLogObject.first_start.is_not(None),
        s.FlowLogObject.first_start < high,
        s.FlowLogObject.last_end >= low,
    )
    by_day = sa.and_(s.FlowLogObject.first_start.is_(None), s.FlowLogObject.day.in_(sorted(days)))
    return list(
        session.scalars(
            sa.select(s.FlowLogObject.output_path)
            .where(
                s.FlowLogObject.location_key == location_key,
                s.FlowLogObject.integration_id.in_(integration_ids),
                s.FlowLogObject.status == "loaded",
                s.FlowLogObject.output_path.is_not(None),
                sa.or_(by_span, by_day),
            )
            .order_by(s.FlowLogObject.output_path)
        )
    )


def _read(paths: list[str], columns: list[str] | None = None) -> pa.Table | None:
    if not paths:
        return None
    # Each file once: after compaction (flowlogs/table.py) many objects share one file.
    dataset = pads.dataset(list(dict.fromkeys(paths)), format="parquet")
    if columns is not None:
        columns = [c for c in columns if c in dataset.schema.names]
    return dataset.to_table(columns=columns)


def _contributing_days(windows: set[datetime]) -> set[str]:
    """Files of day D hold records of D and of late D-1: a window's records are in its own
    day's partition and the next one."""
    days: set[str] = set()
    for window in windows:
        d = window.date()
        days.update({d.isoformat(), (d + timedelta(days=1)).isoformat()})
    return days


def _insert(session: Session, model, rows: list[dict]) -> None:
    for start in range(0, len(rows), _CHUNK):
        session.execute(sa.insert(model), rows[start : start + _CHUNK])


def _flowlogs_integrations_by_group(session: Session) -> dict[int, list[int]]:
    """Each account group's flow-logs integrations: a group's views count its own records only."""
    by_group: dict[int, list[int]] = defaultdict(list)
    for integration_id, group_id in session.execute(
        sa.select(s.Integration.id, s.Integration.account_group_id).where(
            s.Integration.integration_type == "flowlogs"
        )
    ):
        by_group[group_id].append(integration_id)
    return by_group


def refresh_run_views(database_url: str, run_id: str, now: datetime) -> list[ViewsReport]:
    """Re-aggregate the windows touched by the objects a run loaded, per location and account
    group: the work follows the run's records, not the size of the day."""
    with session_scope(database_url) as session:
        rows = session.execute(
            sa.select(
                s.FlowLogObject.location_key,
                s.FlowLogObject.output_path,
                s.Integration.account_group_id,
            )
            .join(s.Integration, s.Integration.id == s.FlowLogObject.integration_id)
            .where(
                s.FlowLogObject.claimed_by_run == run_id,
                s.FlowLogObject.status == "loaded",
                s.FlowLogObject.output_path.is_not(None),
            )
        ).all()
        group_integrations = _flowlogs_integrations_by_group(session)
    outputs: dict[tuple[int, str], list[str]] = defaultdict(list)
    for location_key, path, group_id in rows:
        outputs[(group_id, location_key)].append(path)
    return [
        _refresh_group(
            database_url, group_id, sorted(group_integrations[group_id]), location_key, paths, now
        )
        for (group_id, location_key), paths in sorted(outputs.items())
    ]


def refresh_partition_views(
    database_url: str, location_key: str, day: str, now: datetime
) -> list[ViewsReport]:
    """Re-aggregate every window of a location's day (every loaded object of it), per group."""
    with session_scope(database_url) as session:
        rows = session.execute(
            sa.select(s.FlowLogObject.output_path, s.Integration.account_group_id)
            .join(s.Integration, s.Integration.id == s.FlowLogObject.integration_id)
            .where(
                s.FlowLogObject.location_key == location_key,
                s.FlowLogObject.day == day,
                s.FlowLogObject.status == "loaded",
                s.FlowLogObject.output_path.is_not(None),
            )
        ).all()
        group_integrations = _flowlogs_integrations_by_group(session)
    by_group: dict[int, list[str]] = defaultdict(list)
    for path, group_id in rows:
        by_group[group_id].append(path)
    return [
        _refresh_group(
            database_url, group_id, sorted(group_integrations[group_id]), location_key, paths, now
        )
        for group_id, paths in sorted(by_group.items())
    ]


def _refresh_group(
    database_url: str,
    group_id: int,
    integration_ids: list[int],
    location_key: str,
    new_outputs: list[str],
    now: datetime,
) -> ViewsReport:
    report = ViewsReport(location_key)
    fresh = _read(new_outputs, ["start"])
    touched = windows_of(fresh) if fresh is not None else set()
    if not touched:
        return report
    span = (min(touched), max(touched) + timedelta(minutes=5))
    with session_scope(database_url) as session:
        records = _read(
            _outputs(session, location_key, integration_ids, span, _contributing_days(touched)),
            list(VIEW_COLUMNS),
        )
    throughput = aggregate_throughput(records, windows=touched)
    groups = _security_groups(database_url, location_key, max(touched))
    rejected = aggregate_rejected(records, windows=touched, security_groups=groups)
    with session_scope(database_url) as session:
        history = history_from_session(
            session,
            [location_key],
            min(touched) - REASON_HISTORY,
            max(touched) + timedelta(minutes=5),
        )
    reasons = explain_rejects(records, history, windows=touched)
    report.windows = len(touched)
    with session_scope(database_url) as session:
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
            for row in throughput.to_pylist()
        ]
        r_rows = [
            {"account_group_id": group_id, "location_key": location_key, **row}
            for row in rejected.to_pylist()
        ]
        for row in r_rows:
            row["destination_security_group_ids"] = row["destination_security_group_ids"] or []
        _insert(session, s.EntityThroughput, t_rows)
        _insert(session, s.RejectedTraffic, r_rows)
        reason_rows = _reason_rows(session, group_id, location_key, reasons)
        _insert(session, s.RejectReason, reason_rows)
        report.reason_rows = len(reason_rows)
        for row in reason_rows:
            report.reasons[row["reason"]] = report.reasons.get(row["reason"], 0) + row["flows"]
        report.impacts = _refresh_impacts(session, group_id, location_key, touched, now)
    report.throughput_rows, report.rejected_rows = len(t_rows), len(r_rows)
    talkers: dict[tuple[str, str], int] = defaultdict(int)
    for row in t_rows:
        if row["direction"] == "inbound":
            report.bytes_in += row["bytes"] if row["entity_type"] == "account" else 0
        else:
            report.bytes_out += row["bytes"] if row["entity_type"] == "account" else 0
        if row["entity_type"] in ("eni", "instance"):
            talkers[(row["entity_type"], row["entity_id"])] += row["bytes"]
        if row["entity_type"] == "account" and row["action"] == "REJECT":
            report.rejected_flows += row["flows"]
    report.top_talkers = sorted(((t, i, b) for (t, i), b in talkers.items()), key=lambda x: -x[2])[
        :10
    ]
    report.top_rejects = [
        (r["srcaddr"], r["dstaddr"], r["dstport"], r["flows"])
        for r in sorted(r_rows, key=lambda r: -r["bytes"])[:10]
    ]
    return report


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


def _security_groups(database_url: str, location_key: str, at: datetime) -> dict[str, list[str]]:
    """Interface -> security groups as of the latest touched window, for egress rejects whose
    destination ENI has no records of its own."""
    with session_scope(database_url) as session:
        enis = inventory_as_of(session, location_key, at, ["network_interface"])
    return {r.resource_id: list(r.data.get("security_group_ids") or []) for r in enis}


def _refresh_impacts(
    session: Session, group_id: int, location_key: str, touched: set[datetime], now: datetime
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
    throughput_rows = session.execute(
        sa.select(
            s.EntityThroughput.window_start,
            s.EntityThroughput.entity_type,
            s.EntityThroughput.entity_id,
            s.EntityThroughput.direction,
            s.EntityThroughput.action,
            s.EntityThroughput.bytes,
            s.EntityThroughput.packets,
            s.EntityThroughput.flows,
        ).where(
            s.EntityThroughput.account_group_id == group_id,
            s.EntityThroughput.location_key == location_key,
            s.EntityThroughput.entity_type == "eni",
            s.EntityThroughput.window_start.in_(sorted(windows)),
        )
    ).all()
    throughput = pa.Table.from_pylist(
        [dict(r._mapping) for r in throughput_rows], schema=THROUGHPUT_SCHEMA
    )
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
