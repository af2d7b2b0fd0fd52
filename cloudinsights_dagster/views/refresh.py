"""Keeping the view tables current after a flow-log partition is processed: only the windows
its records touch are re-aggregated, from every loaded object of those windows, so a late file
gives the same figures as a from-scratch aggregation; the change impacts around those windows
follow. Each account group is aggregated from its own integrations' objects only.

Each object's partial aggregates (views/partials.py, written by the pipeline) are merged instead
of its records being re-read; an object without a valid partial (older outputs) is read and
aggregated the same way. The full-resolution views go to the columnar table family
(views/columnar.py) when a `views_base` is given; the relational tables keep the capped rows
(views/caps.py). Refreshes of one (account group, location) are serialized by a PostgreSQL
advisory lock (views/refresh_lock.py), as they rewrite the same windows and files; what a refresh
reads from and writes to the warehouse is in views/refresh_store.py.

Transactions: this orchestration opens its own, short ones (a read before the partials and
records are read and aggregated, the write after), so none stays open during the aggregation,
and each (group, location)'s write commits while its refresh lock is held.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from cloudinsights_dagster.arrow_memory import use_pipeline_memory_pool
from cloudinsights_dagster.views import columnar
from cloudinsights_dagster.views.partials import windows_of_partial
from cloudinsights_dagster.views.reasons import (
    explain_groups,
    explain_rejects,
    history_from_session,
    merge_reject_groups,
    sort_reasons,
)
from cloudinsights_dagster.views.refresh_lock import refresh_lock
from cloudinsights_dagster.views.refresh_store import (
    EniThroughput,
    flowlogs_integrations_by_group,
    security_groups_at,
    store_windows,
)
from cloudinsights_dagster.views.rejected import finish_rejected
from cloudinsights_dagster.views.sources import (
    OBJECT_COLUMNS,
    VIEW_COLUMNS,
    LoadedObject,
    Partials,
    contributing_days,
    in_windows,
    loaded_object,
    loaded_objects,
    read_records,
)
from cloudinsights_dagster.views.throughput import merge_throughput
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import session_scope

REASON_HISTORY = timedelta(days=7)  # how far back a removed rule is looked for


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
    objects: int = 0  # objects whose aggregates were merged
    partials_used: int = 0  # of which from their partial (the others: from their records)
    columnar_rows: int = 0
    columnar_bytes: int = 0


def refresh_run_views(
    database_url: str, run_id: str, now: datetime, *, views_base: str | None = None
) -> list[ViewsReport]:
    """Re-aggregate the windows touched by the objects a run loaded, per location and account
    group: the work follows the run's records, not the size of the day. `views_base`: where the
    partials and the columnar views live (the flow-log output base); None: no partials read,
    no columnar views written."""
    # A short read of its own: each (group, location) then commits under its own lock.
    with session_scope(database_url) as session:
        rows = session.execute(
            sa.select(*OBJECT_COLUMNS, s.FlowLogObject.location_key, s.Integration.account_group_id)
            .join(s.Integration, s.Integration.id == s.FlowLogObject.integration_id)
            .where(
                s.FlowLogObject.claimed_by_run == run_id,
                s.FlowLogObject.status == "loaded",
                s.FlowLogObject.output_path.is_not(None),
            )
        ).all()
        group_integrations = flowlogs_integrations_by_group(session)
    objects: dict[tuple[int, str], list[LoadedObject]] = defaultdict(list)
    for *columns, location_key, group_id in rows:
        objects[(group_id, location_key)].append(loaded_object(columns))
    return [
        _refresh_group(
            database_url,
            group_id,
            sorted(group_integrations[group_id]),
            location_key,
            found,
            now,
            views_base,
        )
        for (group_id, location_key), found in sorted(objects.items())
    ]


def refresh_partition_views(
    database_url: str,
    location_key: str,
    day: str,
    now: datetime,
    *,
    views_base: str | None = None,
) -> list[ViewsReport]:
    """Re-aggregate every window of a location's day (every loaded object of it), per group."""
    # A short read of its own: each (group, location) then commits under its own lock.
    with session_scope(database_url) as session:
        rows = session.execute(
            sa.select(*OBJECT_COLUMNS, s.Integration.account_group_id)
            .join(s.Integration, s.Integration.id == s.FlowLogObject.integration_id)
            .where(
                s.FlowLogObject.location_key == location_key,
                s.FlowLogObject.day == day,
                s.FlowLogObject.status == "loaded",
                s.FlowLogObject.output_path.is_not(None),
            )
        ).all()
        group_integrations = flowlogs_integrations_by_group(session)
    by_group: dict[int, list[LoadedObject]] = defaultdict(list)
    for *columns, group_id in rows:
        by_group[group_id].append(loaded_object(columns))
    return [
        _refresh_group(
            database_url,
            group_id,
            sorted(group_integrations[group_id]),
            location_key,
            found,
            now,
            views_base,
        )
        for group_id, found in sorted(by_group.items())
    ]


def _refresh_group(
    database_url: str,
    group_id: int,
    integration_ids: list[int],
    location_key: str,
    new_objects: list[LoadedObject],
    now: datetime,
    views_base: str | None = None,
) -> ViewsReport:
    use_pipeline_memory_pool()
    with refresh_lock(database_url, group_id, location_key):
        return _refresh_locked(
            database_url, group_id, integration_ids, location_key, new_objects, now, views_base
        )


def _refresh_locked(
    database_url: str,
    group_id: int,
    integration_ids: list[int],
    location_key: str,
    new_objects: list[LoadedObject],
    now: datetime,
    views_base: str | None,
) -> ViewsReport:
    report = ViewsReport(location_key)
    partials = Partials(views_base)
    touched: set[datetime] = set()
    for part in partials.of_objects(new_objects):
        touched |= windows_of_partial(part)
    if not touched:
        return report
    span = (min(touched), max(touched) + timedelta(minutes=5))
    # The reads, committed before the partials and records are read and aggregated.
    with session_scope(database_url) as session:
        objects = loaded_objects(
            session, location_key, integration_ids, span, contributing_days(touched)
        )
        groups = security_groups_at(session, location_key, max(touched))
        history = history_from_session(
            session,
            [location_key],
            min(touched) - REASON_HISTORY,
            max(touched) + timedelta(minutes=5),
        )
    parts = partials.of_objects(objects)
    report.objects, report.partials_used = len(objects), partials.from_files
    throughput = merge_throughput(in_windows(p.throughput, touched) for p in parts)
    rejected = finish_rejected(
        [p.rejected for p in parts],
        [p.security_groups_seen for p in parts],
        windows=touched,
        security_groups=groups,
    )
    reasons, straddled = explain_groups(
        merge_reject_groups(in_windows(p.reject_groups, touched) for p in parts), history
    )
    if straddled:
        # A rule version changed inside these windows: their records may have different
        # reasons before and after it, so they are explained record by record.
        exact_windows = {datetime.fromtimestamp(w, UTC) for w in straddled}
        records = read_records(sorted(o.output_path for o in objects), list(VIEW_COLUMNS))
        reasons = sort_reasons(
            pa.concat_tables(
                [
                    reasons.filter(
                        pc.invert(
                            pc.is_in(
                                reasons["window_start"].cast(pa.int64()),
                                pa.array(sorted(straddled), pa.int64()),
                            )
                        )
                    ),
                    explain_rejects(records, history, windows=exact_windows),
                ]
            )
        )
    report.windows = len(touched)
    if views_base is not None:
        for view, table in (
            ("entity_throughput", throughput),
            ("rejected_traffic", rejected),
            ("reject_reasons", reasons),
        ):
            written = columnar.write_windows(
                views_base, view, group_id, location_key, table, touched
            )
            report.columnar_rows += written.rows
            report.columnar_bytes += written.bytes
    # The write, committed here while the refresh lock is still held.
    with session_scope(database_url) as session:
        stored = store_windows(
            session,
            group_id,
            location_key,
            touched,
            now,
            throughput,
            rejected,
            reasons,
            EniThroughput(throughput, views_base, group_id, location_key),
        )
    report.throughput_rows, report.rejected_rows = stored.throughput_rows, stored.rejected_rows
    report.reason_rows, report.impacts = stored.reason_rows, stored.impacts
    _summarize(report, throughput, rejected, reasons)
    return report


def _summarize(report: ViewsReport, throughput: pa.Table, rejected: pa.Table, reasons) -> None:
    """The report's totals and tops, from the full-resolution views."""
    for row in reasons.group_by("reason").aggregate([("flows", "sum")]).to_pylist():
        report.reasons[row["reason"]] = row["flows_sum"]
    accounts = throughput.filter(pc.equal(throughput["entity_type"], "account"))
    for row in (
        accounts.group_by(["direction", "action"]).aggregate([("bytes", "sum"), ("flows", "sum")])
    ).to_pylist():
        if row["direction"] == "inbound":
            report.bytes_in += row["bytes_sum"]
        else:
            report.bytes_out += row["bytes_sum"]
        if row["action"] == "REJECT":
            report.rejected_flows += row["flows_sum"]
    talkers = (
        throughput.filter(pc.is_in(throughput["entity_type"], pa.array(["eni", "instance"])))
        .group_by(["entity_type", "entity_id"])
        .aggregate([("bytes", "sum")])
        .sort_by(
            [("bytes_sum", "descending"), ("entity_type", "ascending"), ("entity_id", "ascending")]
        )
        .slice(0, 10)
    )
    report.top_talkers = [
        (r["entity_type"], r["entity_id"], r["bytes_sum"]) for r in talkers.to_pylist()
    ]
    top = rejected.take(pc.sort_indices(rejected, [("bytes", "descending")]).slice(0, 10))
    report.top_rejects = [
        (r["srcaddr"], r["dstaddr"], r["dstport"], r["flows"]) for r in top.to_pylist()
    ]
