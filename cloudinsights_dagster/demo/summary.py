"""What the demo found, in a page a person reads in a minute: read back from the warehouse, the
same tables the UI's assets and the CLI show."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudinsights_dagster.status import TITLES
from cloudinsights_dagster.views.caps import REST
from cloudinsights_dagster.warehouse import schema as s

TOP = 5


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def print_summary(session: Session, out, settings) -> None:
    say = out.plain
    names = dict(session.execute(sa.select(s.Integration.id, s.Integration.name)).all())
    groups = dict(session.execute(sa.select(s.AccountGroup.id, s.AccountGroup.name)).all())
    statuses = session.scalars(
        sa.select(s.IntegrationStatus).order_by(s.IntegrationStatus.account_group_id)
    ).all()
    say("Integration status")
    for row in statuses:
        say(
            f"  {groups[row.account_group_id]}/{names[row.integration_id]}: "
            f"{TITLES.get(row.status, row.status)}"
        )
        for reason in (row.reasons or [])[:3]:
            say(f"      - {reason}")
        if row.fix:
            say(f"      fix: {row.fix}")

    talkers = session.execute(
        sa.select(
            s.EntityThroughput.entity_id,
            sa.func.sum(s.EntityThroughput.bytes).label("bytes"),
            sa.func.sum(s.EntityThroughput.flows).label("flows"),
        )
        .where(
            s.EntityThroughput.entity_type == "instance",
            s.EntityThroughput.direction == "outbound",
            s.EntityThroughput.action == "ACCEPT",
            s.EntityThroughput.entity_id != REST,  # the rest of each window's entities
        )
        .group_by(s.EntityThroughput.entity_id)
        .order_by(sa.desc("bytes"))
        .limit(TOP)
    ).all()
    where = _current_instances(session, [t[0] for t in talkers])
    say("\nTop talkers (instances, bytes sent and accepted)")
    for entity_id, sent, flows in talkers:
        name, location = where.get(entity_id, ("-", "?"))
        say(f"  {entity_id} ({name}, {location}): {_size(int(sent))} in {flows} flow(s)")
    if not talkers:
        say("  none")

    columns = (
        s.RejectReason.interface_id,
        s.RejectReason.direction,
        s.RejectReason.dstport,
        s.RejectReason.reason,
        s.RejectReason.detail,
        s.RejectReason.previous_rule_id,
        s.RejectReason.change_time,
    )
    rejects = session.execute(
        sa.select(
            *columns,
            sa.func.count(sa.distinct(s.RejectReason.peer_address)),
            sa.func.sum(s.RejectReason.flows).label("flows"),
        )
        .where(sa.or_(s.RejectReason.interface_id.is_(None), s.RejectReason.interface_id != REST))
        .group_by(*columns)
        .order_by(sa.desc("flows"))
        .limit(TOP)
    ).all()
    say("\nTop rejects (ENI, direction, port: why)")
    for eni, direction, port, reason, detail, rule, when, peers, flows in rejects:
        why = reason.replace("_", " ") + (f" ({detail})" if detail else "")
        if rule:  # sg-id:direction:rule-key
            group, _, key = rule.split(":", 2)
            why += f": {key} of {group} allowed it until" + (
                f" it was removed at {when:%H:%M}" if when else " a change"
            )
        say(f"  {eni} {direction} port {port}, {peers} peer(s): {flows} flow(s), {why}")
    if not rejects:
        say("  none")

    best = session.scalars(
        sa.select(s.ChangeImpact)
        .where(s.ChangeImpact.explains.is_(True))
        .order_by(s.ChangeImpact.score.desc())
        .limit(1)
    ).first()
    say("\nThe change behind the reject spike")
    if best is None:
        say("  no change explains a shift in rejected traffic")
    else:
        say(
            f"  {best.change_time:%H:%M} {best.location_key}: {best.change_type} "
            f"{best.resource_type} {best.resource_id}"
            + (f": {best.explanation}" if best.explanation else "")
        )

    files = Counter(
        dict(
            session.execute(
                sa.select(s.FlowLogObject.status, sa.func.count()).group_by(s.FlowLogObject.status)
            ).all()
        )
    )
    # One line per kind of problem, not per file: the object names differ, the cause not.
    failures = Counter(
        re.sub(r"s3://\S+|fl-[0-9a-f]+|vpc-[0-9a-f]+", "<…>", error or "?")
        for error in session.scalars(
            sa.select(s.FlowLogObject.error).where(
                s.FlowLogObject.status.in_(["failed", "filtered"])
            )
        )
    ).most_common(3)
    say(
        f"\nFlow-log files: {files.get('loaded', 0)} loaded, {files.get('filtered', 0)} "
        f"filtered, {files.get('failed', 0)} failed"
        + "".join(f", {n} {state}" for state, n in files.items() if state not in _FINAL)
    )
    for error, n in failures:
        say(f"  {n} file(s): {error}")
    say(f"\nTopology pictures: {settings.home / 'topology'}")


def tick_completeness(session: Session, at: datetime) -> str:
    """'3 location(s) complete, 1 partial' for the snapshots of one tick."""
    counts = dict(
        session.execute(
            sa.select(s.InventorySnapshot.completeness, sa.func.count())
            .where(s.InventorySnapshot.snapshot_time == at)
            .group_by(s.InventorySnapshot.completeness)
        ).all()
    )
    parts = [f"{counts[k]} {k}" for k in ("complete", "partial", "failed") if counts.get(k)]
    return "locations: " + (", ".join(parts) or "none stored")


def ledger_counts(session: Session) -> str:
    """'6 file(s) filtered, 18 file(s) pending': the ledger by status."""
    counts = session.execute(
        sa.select(s.FlowLogObject.status, sa.func.count()).group_by(s.FlowLogObject.status)
    ).all()
    return ", ".join(f"{n} file(s) {state}" for state, n in sorted(counts)) or "nothing"


_FINAL = ("loaded", "filtered", "failed")


def _current_instances(session, instance_ids: list[str]) -> dict[str, tuple[str, str]]:
    """Each instance's Name tag and location, from its current inventory version."""
    rows = session.execute(
        sa.select(
            s.InventoryResource.resource_id,
            s.InventoryResource.data,
            s.InventoryResource.location_key,
        ).where(
            s.InventoryResource.resource_type == "instance",
            s.InventoryResource.resource_id.in_(instance_ids),
            s.InventoryResource.valid_to.is_(None),
        )
    ).all()
    return {rid: ((data or {}).get("name") or "-", location) for rid, data, location in rows}
