"""Integration status in plain words: Pending, Connected, Connected with warning, Failed, with
the reasons and the fix to try. Everything is derived from recorded facts and a clock passed
in, so a status recovers by itself once its cause is gone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudinsights_dagster import aws
from cloudinsights_dagster.flowlogs.ledger import expired_leases
from cloudinsights_dagster.inventory.store import latest_snapshot
from cloudinsights_dagster.registry import IntegrationInfo, Location, Registry
from cloudinsights_dagster.warehouse import schema as s

Status = Literal["pending", "connected", "connected_with_warning", "failed", "disabled"]
TITLES = {
    "disabled": "Disabled",
    "pending": "Pending",
    "connected": "Connected",
    "connected_with_warning": "Connected with warning",
    "failed": "Failed",
}
ERROR_WINDOW = timedelta(minutes=30)
TICK = timedelta(minutes=5)  # the inventory schedule's interval
# No snapshot recorded for more than two ticks: the location is late.
LATE_AFTER = 2 * TICK
FIX_TRUST = (
    "paste the trust policy from `cloudinsights policy trust` into the role again; "
    "check the role ARN exists"
)
FIX_PERMISSIONS = (
    "grant the denied actions (`cloudinsights policy inventory`), or disable the "
    "resource group or region in `cloudinsights settings` to silence the warning"
)
FIX_TOPICS = (
    "check each topic exists and paste `cloudinsights policy sns-topic` (with the "
    "topic's ARN) as its access policy"
)
FIX_LATE = (
    "check that the Dagster daemon runs `inventory_schedule` and that inventory runs are not "
    "queued behind the run coordinator's limits or failing (see the runs of `inventory_job`)"
)
FIX_FILES = "see `cloudinsights logs --category logDownload` and `--category logParse`"


@dataclass
class IntegrationStatusView:
    integration: IntegrationInfo
    status: Status
    reasons: list[str] = field(default_factory=list)
    fix: str | None = None

    @property
    def title(self) -> str:
        """The status in words; a disabled integration says why: "Disabled: <reason>"."""
        if self.status == "disabled":
            return f"Disabled: {self.integration.disabled_reason or 'no reason recorded'}"
        return TITLES[self.status]

    def as_dict(self) -> dict:
        return {
            "integration": self.integration.name,
            "type": self.integration.integration_type,
            "account_group": self.integration.account_group,
            "status": self.status,
            "status_title": self.title,
            "reasons": self.reasons,
            "fix": self.fix,
        }


def _recent_run_failures(
    session: Session, integration_id: int, now: datetime, after: datetime | None
) -> list[s.IntegrationLog]:
    query = sa.select(s.IntegrationLog).where(
        s.IntegrationLog.integration_id == integration_id,
        s.IntegrationLog.category == "run",
        s.IntegrationLog.severity == "error",
        s.IntegrationLog.time >= now - ERROR_WINDOW,
        s.IntegrationLog.time <= now,
    )
    if after is not None:
        query = query.where(s.IntegrationLog.time > after)
    return list(session.scalars(query.order_by(s.IntegrationLog.time.desc())))


def inventory_status(
    session: Session, all_locations: list[Location], info: IntegrationInfo, now: datetime
) -> IntegrationStatusView:
    view = IntegrationStatusView(info, "pending", ["saved, not yet monitored"])
    locations = [loc for loc in all_locations if loc.integration_id == info.id]
    if not info.regions:
        failures = session.scalars(
            sa.select(s.IntegrationLog)
            .where(
                s.IntegrationLog.integration_id == info.id,
                s.IntegrationLog.category == "assumeRole",
                s.IntegrationLog.time >= now - ERROR_WINDOW,
            )
            .order_by(s.IntegrationLog.time.desc())
        ).first()
        if failures is not None:
            error = failures.details.get("error")
            problem = aws.collector_problem_in_text(error)
            if problem is not None:
                return IntegrationStatusView(
                    info, "failed", [f"{problem.summary}: {error}"], problem.fix
                )
            return IntegrationStatusView(
                info, "failed", [f"the role cannot be assumed: {error}"], FIX_TRUST
            )
        return view
    if not locations:
        return IntegrationStatusView(
            info, "connected_with_warning", ["every region of the account is disabled"], None
        )
    latest = {loc.key: latest_snapshot(session, loc.key) for loc in locations}
    seen = {k: snap for k, snap in latest.items() if snap is not None}
    if not seen:
        return view
    last_success = max(snap.created_at for snap in seen.values())
    run_failures = _recent_run_failures(session, info.id, now, last_success)
    if run_failures:
        return IntegrationStatusView(
            info,
            "failed",
            [f"monitoring run failed: {run_failures[0].message}"],
            "see the failed run in the Dagster UI; status recovers after a successful run",
        )
    assume_failed = [k for k, snap in seen.items() if _assume_role_failed(snap)]
    problems = {
        k: aws.collector_problem_in_text(seen[k].api_outcomes[0].get("error"))
        for k in assume_failed
    }
    if assume_failed and len(assume_failed) == len(seen):
        error = next(o["error"] for o in seen[assume_failed[0]].api_outcomes)
        problem = problems[assume_failed[0]]
        if problem is not None:  # the collector's own identity or network, not the role
            return IntegrationStatusView(
                info, "failed", [f"{problem.summary}: {error}"], problem.fix
            )
        return IntegrationStatusView(
            info, "failed", [f"the role cannot be assumed: {error}"], FIX_TRUST
        )
    reasons = []
    timeliness = []
    recent = recent_snapshot_times(session, sorted(seen), now)
    for key, snap in sorted(seen.items()):
        bad = [o for o in snap.api_outcomes if o["outcome"] != "ok"]
        timeliness += snapshot_timeliness(key, snap, recent[key], now)
        if (problem := problems.get(key)) is not None:
            reasons.append(f"{key}: {problem.summary}")
        elif key in assume_failed:
            reasons.append(f"{key}: the role cannot be assumed in this region")
        elif bad:
            denied = sorted({o["action"] for o in bad if o["outcome"] == "denied"})
            failed = sorted({o["action"] for o in bad if o["outcome"] == "failed"})
            if denied:
                reasons.append(f"{key}: access denied to {', '.join(denied)}")
            if failed:
                reasons.append(f"{key}: API errors from {', '.join(failed)}")
    pending = sorted(set(latest) - set(seen))
    reasons += [f"{key}: not yet monitored" for key in pending]
    config_warnings = flow_log_config_warnings(session, info, [loc.key for loc in locations], now)
    if reasons or config_warnings or timeliness:
        fix = (
            FIX_PERMISSIONS
            if reasons
            else FIX_LATE
            if timeliness
            else "recreate the flow logs named above"
        )
        return IntegrationStatusView(
            info, "connected_with_warning", reasons + timeliness + config_warnings, fix
        )
    return IntegrationStatusView(info, "connected", [], None)


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def recent_snapshot_times(
    session: Session, location_keys: list[str], now: datetime
) -> dict[str, list[datetime]]:
    """Each location's snapshot (tick) times recorded in the last 30 minutes, sorted: one query
    for all of an integration's locations."""
    times: dict[str, list[datetime]] = {key: [] for key in location_keys}
    rows = session.execute(
        sa.select(s.InventorySnapshot.location_key, s.InventorySnapshot.snapshot_time).where(
            s.InventorySnapshot.location_key.in_(location_keys),
            s.InventorySnapshot.created_at >= now - ERROR_WINDOW,
            s.InventorySnapshot.created_at <= now,
        )
    )
    for key, at in rows:
        times[key].append(_aware(at))
    return {key: sorted(found) for key, found in times.items()}


def snapshot_timeliness(
    location_key: str, latest: s.InventorySnapshot, times: list[datetime], now: datetime
) -> list[str]:
    """Plain words for a location whose snapshots are late (none recorded for more than two
    ticks) or skipped (ticks without a snapshot between two recent ones); `times`: its recent
    snapshot times (recent_snapshot_times).

    Lateness is measured on the wall clock at which snapshots were recorded (``created_at``),
    so replayed ticks (the demo, tests) are judged by when they ran; skipped ticks by the gaps
    between the snapshots' own tick times."""
    recorded = _aware(latest.created_at)
    out = []
    if now - recorded > LATE_AFTER:
        out.append(
            f"{location_key}: inventory snapshot late: the last one was taken at "
            f"{recorded:%Y-%m-%d %H:%M} UTC, {_minutes(now - recorded)} minutes ago (one is "
            "expected every 5 minutes)"
        )
    missed: list[datetime] = []
    for before, after in zip(times, times[1:], strict=False):
        gap = after - before
        if gap > TICK * 1.5:
            ticks = round(gap / TICK) - 1
            missed += [before + TICK * (n + 1) for n in range(ticks)]
    if missed:
        shown = ", ".join(f"{t:%H:%M}" for t in missed[:6]) + (" ..." if len(missed) > 6 else "")
        out.append(
            f"{location_key}: {len(missed)} inventory tick(s) skipped in the last 30 minutes "
            f"(no snapshot for {shown} UTC)"
        )
    return out


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _assume_role_failed(snapshot: s.InventorySnapshot) -> bool:
    outcomes = snapshot.api_outcomes or []
    return bool(outcomes) and all(
        o["outcome"] != "ok" and (o.get("error") or "").startswith("AssumeRole") for o in outcomes
    )


def flow_log_config_warnings(
    session: Session, info: IntegrationInfo, location_keys: list[str], now: datetime
) -> list[str]:
    """Flow logs (from the inventory) that cannot feed Cloud Insights, before any file arrives."""
    rows = session.execute(
        sa.select(s.InventoryResource.location_key, s.InventoryResource.data).where(
            s.InventoryResource.location_key.in_(location_keys),
            s.InventoryResource.resource_type == "flow_log",
            s.InventoryResource.valid_to.is_(None),
        )
    ).all()
    if not rows:
        return []
    flowlogs = session.execute(
        sa.select(s.Integration.id, s.Integration.account_id)
        .join(s.AccountGroup, s.AccountGroup.id == s.Integration.account_group_id)
        .where(
            s.AccountGroup.name == info.account_group, s.Integration.integration_type == "flowlogs"
        )
    ).all()
    read_buckets = (
        set(
            session.scalars(
                sa.select(s.FlowLogObject.bucket)
                .where(s.FlowLogObject.integration_id.in_([i for i, _ in flowlogs]))
                .distinct()
            )
        )
        if flowlogs
        else set()
    )
    # The field catalogue holds Arrow types: imported here, not when the code location loads.
    from cloudinsights_dagster.flowlogs.fields import (
        missing_mandatory,
        parse_log_format,
        recreate_hint,
    )

    warnings = []
    for location_key, data in sorted(rows, key=lambda r: r[1].get("flow_log_id") or ""):
        flow_log_id = data.get("flow_log_id")
        where = data.get("resource_id") or "?"
        missing = missing_mandatory(parse_log_format(data.get("log_format") or ""))
        if missing:
            warnings.append(
                f"{location_key}: flow log {flow_log_id} of {where} lacks mandatory fields "
                f"{', '.join(missing)}: {recreate_hint(missing)}"
            )
        if data.get("destination_type") != "s3":
            warnings.append(
                f"{location_key}: flow log {flow_log_id} of {where} delivers to "
                f"{data.get('destination_type')}, not S3: Cloud Insights reads S3 only"
            )
            continue
        bucket = data.get("destination_bucket")
        if not flowlogs:
            warnings.append(
                f"{location_key}: flow log {flow_log_id} of {where} delivers to "
                f"bucket {bucket}, but this account group has no flow-logs integration"
            )
        elif read_buckets and bucket not in read_buckets:
            warnings.append(
                f"{location_key}: flow log {flow_log_id} of {where} delivers to "
                f"bucket {bucket}, from which no flow-logs integration has received "
                "a file: check that bucket's account has a flow-logs integration and "
                "its event notification"
            )
    return warnings


def flowlogs_status(
    session: Session, info: IntegrationInfo, now: datetime
) -> IntegrationStatusView:
    subscriptions = list(
        session.scalars(
            sa.select(s.TopicSubscription).where(s.TopicSubscription.integration_id == info.id)
        )
    )
    attempted = {sub.topic_arn: sub for sub in subscriptions}
    if not attempted:
        return IntegrationStatusView(info, "pending", ["saved, no topic subscribed yet"])
    failed = sorted(arn for arn, sub in attempted.items() if sub.status != "subscribed")
    if len(failed) == len(info.topic_arns) or not any(
        sub.status == "subscribed" for sub in subscriptions
    ):
        return IntegrationStatusView(
            info,
            "failed",
            [f"could not subscribe to any topic: {', '.join(failed)}"]
            + [f"{arn}: {attempted[arn].error}" for arn in failed],
            FIX_TOPICS,
        )
    last_success = session.scalar(
        sa.select(sa.func.max(s.FlowLogObject.processed_at)).where(
            s.FlowLogObject.integration_id == info.id, s.FlowLogObject.status == "loaded"
        )
    )
    run_failures = _recent_run_failures(session, info.id, now, last_success)
    if run_failures:
        return IntegrationStatusView(
            info,
            "failed",
            [f"flow-log processing run failed: {run_failures[0].message}"],
            "see the failed run in the Dagster UI; status recovers after a successful run",
        )
    reasons = []
    if failed:
        reasons.append(
            f"not subscribed to {len(failed)} of {len(info.topic_arns)} topics: {', '.join(failed)}"
        )
    errors = session.execute(
        sa.select(s.IntegrationLog.category, sa.func.count())
        .where(
            s.IntegrationLog.integration_id == info.id,
            s.IntegrationLog.severity == "error",
            s.IntegrationLog.category.in_(["logDownload", "logParse", "check"]),
            s.IntegrationLog.time >= now - ERROR_WINDOW,
            s.IntegrationLog.time <= now,
        )
        .group_by(s.IntegrationLog.category)
    ).all()
    stranded, oldest, runs = expired_leases(session, [info.id], now)
    if stranded:
        reasons.append(
            f"{stranded} flow-log object(s) waiting past their lease since "
            f"{oldest:%Y-%m-%d %H:%M} UTC: the run that claimed them stopped without finishing "
            f"(run {', '.join(r[:8] for r in runs[:3]) or '?'} died or was killed); the next "
            "flow-log run takes them over"
        )
    for category, count in sorted(errors):
        if category == "check":
            reasons.append(f"{count} data-quality check failure(s) in the last 30 minutes")
            continue
        what = "download" if category == "logDownload" else "parse"
        reasons.append(f"{count} flow-log file(s) failed to {what} in the last 30 minutes")
    if reasons:
        return IntegrationStatusView(
            info, "connected_with_warning", reasons, FIX_TOPICS if failed else FIX_FILES
        )
    return IntegrationStatusView(info, "connected", [], None)


def disabled_status(info: IntegrationInfo) -> IntegrationStatusView:
    """Kept but not monitored (e.g. its account was closed or left the organization)."""
    return IntegrationStatusView(
        info,
        "disabled",
        [info.disabled_reason or "disabled"],
        "it is enabled again by `cloudinsights org onboard` once the account is ACTIVE in the "
        "organization, or remove it with `cloudinsights integrations remove`",
    )


def compute_status(
    session: Session, registry: Registry, now: datetime, account_group: str | None = None
) -> list[IntegrationStatusView]:
    infos = registry.list_integrations(account_group)
    locations = registry.locations()
    return [
        disabled_status(info)
        if info.disabled
        else inventory_status(session, locations, info, now)
        if info.integration_type == "inventory"
        else flowlogs_status(session, info, now)
        for info in infos
    ]


def store_status(session: Session, views: list[IntegrationStatusView], now: datetime) -> None:
    for view in views:
        row = session.get(s.IntegrationStatus, view.integration.id)
        if row is None:
            group_id = session.scalar(
                sa.select(s.Integration.account_group_id).where(
                    s.Integration.id == view.integration.id
                )
            )
            row = s.IntegrationStatus(integration_id=view.integration.id, account_group_id=group_id)
            session.add(row)
        row.status, row.reasons, row.fix, row.updated_at = (
            view.status,
            view.reasons,
            view.fix,
            now,
        )
