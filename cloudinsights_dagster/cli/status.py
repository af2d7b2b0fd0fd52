"""`cloudinsights status`, `logs` and `rejects`: what works, what happened, what is rejected."""

from __future__ import annotations

import click

from .common import (
    ACCOUNT_GROUP_FILTER_OPTION,
    ACCOUNT_GROUP_OPTION,
    JSON_OPTION,
    Failure,
    fail_cleanly,
    open_registry,
    parse_time,
    print_json,
    warehouse_session,
)


@click.command("status")
@ACCOUNT_GROUP_FILTER_OPTION
@JSON_OPTION
@fail_cleanly
def status_command(account_group: str | None, as_json: bool) -> None:
    """Each integration's status (Pending, Connected, Connected with warning, Failed), why, and
    the fix to try."""
    from cloudinsights_dagster.status import compute_status, store_status
    from cloudinsights_dagster.warehouse.schema import utcnow

    registry = open_registry()
    now = utcnow()
    with warehouse_session() as session:
        views = compute_status(session, registry, now, account_group)
        store_status(session, views, now)
    if as_json:
        print_json([view.as_dict() for view in views])
        return
    if not views:
        click.echo("no integrations")
    for view in views:
        info = view.integration
        click.echo(f"{info.account_group}/{info.name} ({info.integration_type}): {view.title}")
        for reason in view.reasons:
            click.echo(f"  - {reason}")
        if view.fix:
            click.echo(f"  fix: {view.fix}")


@click.group("logs", invoke_without_command=True)
@ACCOUNT_GROUP_OPTION
@click.option("--integration", default=None, help="Integration name.")
@click.option(
    "--type", "integration_type", type=click.Choice(["inventory", "flowlogs"]), default=None
)
@click.option("--category", default=None, help="e.g. subscribe, assumeRole, logParse")
@click.option("--severity", type=click.Choice(["info", "warning", "error"]), default=None)
@click.option("--since", default=None, help="ISO time or duration back (30m, 2h, 7d).")
@click.option("--until", default=None, help="ISO time or duration back.")
@click.option("--limit", default=200, show_default=True)
@click.option(
    "--summary", is_flag=True, help="Hourly counts per integration, type, category, severity."
)
@JSON_OPTION
@click.pass_context
@fail_cleanly
def logs_command(
    ctx: click.Context,
    account_group: str,
    integration: str | None,
    integration_type: str | None,
    category: str | None,
    severity: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    summary: bool,
    as_json: bool,
) -> None:
    """Integration logs of an account group, newest first (or --summary by hour)."""
    if ctx.invoked_subcommand is not None:
        return
    from cloudinsights_dagster.integration_logs import LogFilter, hourly_summary, query_logs

    f = LogFilter(
        account_group,
        integration,
        integration_type,
        category,
        severity,
        parse_time(since),
        parse_time(until),
    )
    try:
        with warehouse_session() as session:
            rows = hourly_summary(session, f) if summary else query_logs(session, f, limit)
    except LookupError as exc:
        raise Failure(str(exc).strip("'\"")) from None
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no log entries")
    for row in rows:
        if summary:
            click.echo(
                f"{row['hour']}  {row['integration']}  {row['type']}  {row['category']}  "
                f"{row['severity']}  {row['count']}"
            )
        else:
            details = " ".join(f"{k}={v}" for k, v in sorted(row["details"].items()))
            click.echo(
                f"{row['time']}  {row['severity']:7}  {row['integration']}  "
                f"{row['category']}  {row['message']}" + (f"  [{details}]" if details else "")
            )


@logs_command.command("prune")
@click.option("--older-than", default="30d", show_default=True, help="Duration (30d, 12h).")
@fail_cleanly
def logs_prune(older_than: str) -> None:
    """Delete log entries older than the retention period."""
    from cloudinsights_dagster.integration_logs import prune_logs

    with warehouse_session() as session:
        deleted = prune_logs(session, parse_time(older_than))
    click.echo(f"deleted {deleted} log entr{'y' if deleted == 1 else 'ies'}")


@click.command("rejects")
@ACCOUNT_GROUP_OPTION
@click.option("--since", default="2h", show_default=True, help="ISO time or duration back.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@JSON_OPTION
@fail_cleanly
def rejects_command(account_group: str, since: str, limit: int, as_json: bool) -> None:
    """Top rejected flows of an account group with why they were rejected."""
    from cloudinsights_dagster.views.reasons_query import top_rejects

    try:
        with warehouse_session() as session:
            rows = top_rejects(session, account_group, parse_time(since), limit)
    except LookupError as exc:
        raise Failure(str(exc).strip("'\"")) from None
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no rejected flows")
    protocols = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}
    for row in rows:
        proto = protocols.get(row["protocol"], str(row["protocol"]))
        click.echo(
            f"{row['flows']:>8} flows  {row['direction'] or '?':7} {row['interface_id']}  "
            f"peer {row['peer_address']}  {proto}/{row['dstport']}  {row['reason']}"
        )
        click.echo(f"           {row['explanation']}")
