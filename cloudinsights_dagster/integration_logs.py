"""Integration logs: what happened to each integration, for people to read and filter."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudinsights_dagster.warehouse import schema as s

Severity = Literal["info", "warning", "error"]
CATEGORIES = (
    "assumeRole",
    "regionDiscovery",
    "inventoryApi",
    "subscribe",
    "logFilter",
    "logDownload",
    "logParse",
    "logFormat",
    "notification",
    "run",
    "check",
    "reconcile",
    "lease",
    "collector",  # the collector's own credentials or network, not a customer's role
    "throttling",
)


@dataclass(frozen=True)
class LogEntry:
    integration_id: int
    category: str
    severity: Severity
    message: str
    time: datetime
    details: dict[str, Any] = field(default_factory=dict)


def add_logs(session: Session, entries: list[LogEntry]) -> None:
    """Insert log entries in the caller's transaction, naming each entry's integration."""
    if not entries:
        return
    ids = {e.integration_id for e in entries}
    integrations = {
        i.id: i for i in session.scalars(sa.select(s.Integration).where(s.Integration.id.in_(ids)))
    }
    for entry in entries:
        if entry.category not in CATEGORIES:
            raise ValueError(f"unknown integration log category {entry.category!r}")
        integration = integrations.get(entry.integration_id)
        if integration is None:
            continue  # removed meanwhile: nobody can see its logs any more
        session.add(
            s.IntegrationLog(
                time=entry.time,
                account_group_id=integration.account_group_id,
                integration_id=integration.id,
                integration_name=integration.name,
                integration_type=integration.integration_type,
                category=entry.category,
                severity=entry.severity,
                message=entry.message,
                details=entry.details,
            )
        )


@dataclass(frozen=True)
class LogFilter:
    account_group: str
    integration: str | None = None
    integration_type: str | None = None
    category: str | None = None
    severity: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(session: Session, f: LogFilter):
    group_id = session.scalar(
        sa.select(s.AccountGroup.id).where(s.AccountGroup.name == f.account_group)
    )
    if group_id is None:
        raise LookupError(f"account group {f.account_group!r} does not exist")
    conditions = [s.IntegrationLog.account_group_id == group_id]
    if f.integration:
        conditions.append(s.IntegrationLog.integration_name == f.integration)
    if f.integration_type:
        conditions.append(s.IntegrationLog.integration_type == f.integration_type)
    if f.category:
        conditions.append(s.IntegrationLog.category == f.category)
    if f.severity:
        conditions.append(s.IntegrationLog.severity == f.severity)
    if f.since:
        conditions.append(s.IntegrationLog.time >= f.since)
    if f.until:
        conditions.append(s.IntegrationLog.time < f.until)
    return conditions


def query_logs(session: Session, f: LogFilter, limit: int = 1000) -> list[dict[str, Any]]:
    """Log entries of one account group, newest first."""
    rows = session.scalars(
        sa.select(s.IntegrationLog)
        .where(*_filtered(session, f))
        .order_by(s.IntegrationLog.time.desc(), s.IntegrationLog.id.desc())
        .limit(limit)
    )
    return [
        {
            "time": r.time.isoformat(),
            "integration": r.integration_name,
            "type": r.integration_type,
            "category": r.category,
            "severity": r.severity,
            "message": r.message,
            "details": r.details,
        }
        for r in rows
    ]


def hourly_summary(session: Session, f: LogFilter) -> list[dict[str, Any]]:
    """Counts per hour, integration, type, category and severity (newest hour first)."""
    counts: dict[tuple, int] = {}
    rows = session.execute(
        sa.select(
            s.IntegrationLog.time,
            s.IntegrationLog.integration_name,
            s.IntegrationLog.integration_type,
            s.IntegrationLog.category,
            s.IntegrationLog.severity,
        ).where(*_filtered(session, f))
    )
    for time, name, itype, category, severity in rows:
        hour = time.replace(minute=0, second=0, microsecond=0)
        key = (hour, name, itype, category, severity)
        counts[key] = counts.get(key, 0) + 1
    return [
        {
            "hour": hour.isoformat(),
            "integration": name,
            "type": itype,
            "category": category,
            "severity": severity,
            "count": n,
        }
        for (hour, name, itype, category, severity), n in sorted(
            counts.items(), key=lambda kv: (kv[0][0], kv[0][1:]), reverse=True
        )
    ]


def prune_logs(session: Session, older_than: datetime) -> int:
    """Delete log entries older than the retention horizon; returns how many."""
    result = session.execute(sa.delete(s.IntegrationLog).where(s.IntegrationLog.time < older_than))
    return cast(sa.CursorResult, result).rowcount or 0
