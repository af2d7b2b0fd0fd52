"""Integration logs: what happened to each integration, for people to read and filter."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import session_scope

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


def write_logs(database_url: str, entries: list[LogEntry]) -> None:
    with session_scope(database_url) as session:
        add_logs(session, entries)
