"""Reading the reject_reasons table for people: the top rejected flows of an account group with
their reasons (the `cloudinsights rejects` command, the views' metadata)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudinsights_dagster.views.caps import REST
from cloudinsights_dagster.warehouse import schema as s

_KEYS = (
    s.RejectReason.location_key,
    s.RejectReason.interface_id,
    s.RejectReason.direction,
    s.RejectReason.peer_address,
    s.RejectReason.dstport,
    s.RejectReason.protocol,
    s.RejectReason.reason,
    s.RejectReason.rule_id,
    s.RejectReason.previous_rule_id,
    s.RejectReason.change_resource_type,
    s.RejectReason.change_resource_id,
    s.RejectReason.change_time,
    s.RejectReason.config_change_id,
    s.RejectReason.detail,
)


def top_rejects(
    session: Session, account_group: str, since: datetime | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """The rejected flows of an account group since `since`, summed over windows per ENI, peer,
    port, protocol and reason, most flows first."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    group_id = session.scalar(
        sa.select(s.AccountGroup.id).where(s.AccountGroup.name == account_group)
    )
    if group_id is None:
        raise LookupError(f"account group {account_group!r} does not exist")
    flows = sa.func.sum(s.RejectReason.flows).label("flows")
    query = (
        sa.select(
            *_KEYS,
            flows,
            sa.func.sum(s.RejectReason.packets).label("packets"),
            sa.func.sum(s.RejectReason.bytes).label("bytes"),
            sa.func.min(s.RejectReason.window_start).label("first_window"),
            sa.func.max(s.RejectReason.window_start).label("last_window"),
        )
        .where(
            s.RejectReason.account_group_id == group_id,
            # Rest rows (views/caps.py) sum many flows: they count in totals, not in a top.
            sa.or_(s.RejectReason.interface_id.is_(None), s.RejectReason.interface_id != REST),
        )
        .group_by(*_KEYS)
        .order_by(flows.desc(), *_KEYS)
        .limit(limit)
    )
    if since is not None:
        query = query.where(s.RejectReason.window_start >= since)
    rows = [dict(r._mapping) for r in session.execute(query)]
    for row in rows:
        for name in ("change_time", "first_window", "last_window"):
            value = row[name]
            if isinstance(value, str):  # SQLite aggregates return text
                value = datetime.fromisoformat(value)
            row[name] = value.isoformat().replace("+00:00", "Z") if value else None
        for name in ("flows", "packets", "bytes"):
            row[name] = int(row[name] or 0)
        row["explanation"] = explain(row)
    return rows


def explain(row: dict[str, Any]) -> str:
    """One sentence for a reject_reasons row."""
    reason = row["reason"]
    if reason == "nacl_deny":
        return f"denied by network ACL entry {row['rule_id']}"
    if reason == "no_rule_allows":
        if row.get("previous_rule_id"):
            return (
                f"no rule allows it; {row['previous_rule_id']} did until "
                f"{row['change_resource_type']} {row['change_resource_id']} changed at "
                f"{row['change_time']}"
            )
        return "no security-group rule allows it (and none did before)"
    if reason == "allowed":
        return (
            f"allowed by {row['rule_id'] or 'the rules'} as we know them: look for an unmonitored "
            "resource, a stale inventory or an asymmetric path"
        )
    return row.get("detail") or "no inventory of the ENI at that time"
