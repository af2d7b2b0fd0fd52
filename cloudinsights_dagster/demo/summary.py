"""What the demo found, in a page a person reads in a minute: read back from the warehouse, the
same tables the UI's assets and the CLI show."""

from __future__ import annotations

import re
from collections import Counter

import sqlalchemy as sa

from cloudinsights_dagster.status import TITLES
from cloudinsights_dagster.views.caps import REST
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import session_scope

TOP = 5


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def print_summary(out, registry, settings) -> None:
    say = out.plain
    with session_scope(registry.database_url) as session:
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
        say("\nTop talkers (instances, bytes sent and accepted)")
        for entity_id, sent, flows in talkers:
            say(f"  {entity_id}: {_size(int(sent))} in {flows} flow(s)")
        if not talkers:
            say("  none")

        rejects = session.execute(
            sa.select(
                s.RejectReason.interface_id,
                s.RejectReason.peer_address,
                s.RejectReason.dstport,
                s.RejectReason.reason,
                s.RejectReason.detail,
                sa.func.sum(s.RejectReason.flows).label("flows"),
            )
            .where(
                sa.or_(s.RejectReason.interface_id.is_(None), s.RejectReason.interface_id != REST)
            )
            .group_by(
                s.RejectReason.interface_id,
                s.RejectReason.peer_address,
                s.RejectReason.dstport,
                s.RejectReason.reason,
                s.RejectReason.detail,
            )
            .order_by(sa.desc("flows"))
            .limit(TOP)
        ).all()
        say("\nTop rejects (ENI, peer, port: why)")
        for eni, peer, port, reason, detail, flows in rejects:
            why = reason.replace("_", " ") + (f" ({detail})" if detail else "")
            say(f"  {eni} <- {peer} port {port}: {flows} flow(s), {why}")
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
                    sa.select(s.FlowLogObject.status, sa.func.count()).group_by(
                        s.FlowLogObject.status
                    )
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
        say(f"  {n} file(s): {error[:200]}")
    say(f"\nTopology pictures: {settings.home / 'topology'}")


_FINAL = ("loaded", "filtered", "failed")
