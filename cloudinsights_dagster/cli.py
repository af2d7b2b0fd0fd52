"""`cloudinsights`: the command line for people and scripts.

Exit codes: 0 success, 1 a rule was broken or a check failed (one line on stderr), 2 usage.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

ACCOUNT_GROUP_OPTION = click.option(
    "--account-group",
    "account_group",
    envvar="CLOUDINSIGHTS_ACCOUNT_GROUP",
    default="default",
    show_default=True,
    help="The account group (tenant) the integrations belong to.",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


class Failure(Exception):
    """Ends the command with exit code 1 and this one-line message."""


def fail_cleanly(fn: Callable) -> Callable:
    """Turns the project's own errors into one line on stderr and exit code 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from cloudinsights_dagster.arns import InvalidIdentifier
        from cloudinsights_dagster.registry import RegistryError

        try:
            return fn(*args, **kwargs)
        except (Failure, RegistryError, InvalidIdentifier) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper


def _registry():
    from cloudinsights_dagster.registry import Registry
    from cloudinsights_dagster.settings import load_settings

    return Registry(load_settings().database_url)


def _sync_locations(registry) -> str | None:
    """With DAGSTER_HOME set, update the instance's location partitions right away so they can
    be materialized at once (the location sync sensor does the same when the daemon runs)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return None
    if not os.path.isdir(home):
        click.echo(
            f"warning: DAGSTER_HOME {home} is not a directory: location partitions not "
            "updated (the location sync sensor will do it)",
            err=True,
        )
        return None
    import dagster as dg

    from cloudinsights_dagster.instance_sync import sync_location_partitions

    with dg.DagsterInstance.get() as instance:
        added, deleted = sync_location_partitions(instance, registry)
    return f"location partitions: +{len(added)} -{len(deleted)}"


def _discover_regions(registry, info) -> str | None:
    """Record the account's enabled regions when none were given; a failure is not fatal."""
    from cloudinsights_dagster.locations import discover_regions

    failure = discover_regions(registry, info)
    if failure is None:
        return None
    return (
        f"warning: could not list the account's enabled regions through {info.role_arn} "
        f"({failure.error}); the location sync sensor will retry"
    )


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


@click.group()
def main() -> None:
    """AWS network observability with Dagster: integrations, policies and checks."""


# ---------------------------------------------------------------- integrations


@main.group()
def integrations() -> None:
    """Add, list, show, test and remove inventory and flow-logs integrations."""


def _describe(info) -> str:
    lines = [
        f"{info.name} ({info.integration_type}, account group {info.account_group})",
        f"  role:    {info.role_arn}",
        f"  account: {info.account_id}",
    ]
    if info.integration_type == "inventory":
        regions = ", ".join(info.regions) or "not yet discovered (found on first monitoring)"
        lines.append(f"  regions: {regions}")
    for topic in info.topic_arns:
        lines.append(f"  topic:   {topic}")
    return "\n".join(lines)


@integrations.command("add-inventory")
@ACCOUNT_GROUP_OPTION
@click.option("--name", required=True, help="Unique within the account group.")
@click.option("--role-arn", required=True, help="IAM role the collector assumes.")
@click.option(
    "--region",
    "regions",
    multiple=True,
    help="Monitor only these regions (repeatable). Default: the account's enabled regions.",
)
@JSON_OPTION
@fail_cleanly
def add_inventory(
    account_group: str, name: str, role_arn: str, regions: tuple[str, ...], as_json: bool
) -> None:
    """Save an inventory monitoring integration (one per monitored AWS account)."""
    registry = _registry()
    info = registry.add_inventory(account_group, name, role_arn, list(regions) or None)
    if not regions:
        warning = _discover_regions(registry, info)
        if warning:
            click.echo(warning, err=True)
        info = registry.get(account_group, name)
    synced = _sync_locations(registry)
    if as_json:
        _print_json(info.as_dict())
    else:
        click.echo(f"saved (status: Pending)\n{_describe(info)}")
        if synced:
            click.echo(synced)


@integrations.command("add-flowlogs")
@ACCOUNT_GROUP_OPTION
@click.option("--name", required=True, help="Unique within the account group.")
@click.option("--role-arn", required=True, help="IAM role that can read the flow-log buckets.")
@click.option(
    "--topic-arn",
    "topic_arns",
    multiple=True,
    required=True,
    help="SNS topic receiving the buckets' ObjectCreated events, one per region (repeatable).",
)
@JSON_OPTION
@fail_cleanly
def add_flowlogs(
    account_group: str, name: str, role_arn: str, topic_arns: tuple[str, ...], as_json: bool
) -> None:
    """Save a flow logs monitoring integration (one per account holding flow-log buckets)."""
    info = _registry().add_flowlogs(account_group, name, role_arn, list(topic_arns))
    if as_json:
        _print_json(info.as_dict())
    else:
        click.echo(f"saved (status: Pending)\n{_describe(info)}")


@integrations.command("list")
@click.option(
    "--account-group",
    "account_group",
    envvar="CLOUDINSIGHTS_ACCOUNT_GROUP",
    default=None,
    help="Only this account group (default: all).",
)
@JSON_OPTION
@fail_cleanly
def list_integrations(account_group: str | None, as_json: bool) -> None:
    """List integrations."""
    infos = _registry().list_integrations(account_group)
    if as_json:
        _print_json([info.as_dict() for info in infos])
        return
    if not infos:
        click.echo("no integrations")
        return
    for info in infos:
        click.echo(f"{info.account_group}\t{info.integration_type}\t{info.name}\t{info.role_arn}")


@integrations.command("show")
@ACCOUNT_GROUP_OPTION
@click.option("--name", required=True)
@JSON_OPTION
@fail_cleanly
def show_integration(account_group: str, name: str, as_json: bool) -> None:
    """Show one integration."""
    info = _registry().get(account_group, name)
    if as_json:
        _print_json(info.as_dict())
    else:
        click.echo(_describe(info))


@integrations.command("test")
@ACCOUNT_GROUP_OPTION
@click.option("--name", default=None, help="A saved integration.")
@click.option("--role-arn", default=None, help="Or a role not saved yet.")
@JSON_OPTION
@fail_cleanly
def test_integration(
    account_group: str, name: str | None, role_arn: str | None, as_json: bool
) -> None:
    """AssumeRole with the account group's ExternalId (checks the trust relationship only)."""
    from cloudinsights_dagster.arns import parse_role_arn
    from cloudinsights_dagster.trust import check_trust_relationship

    if (name is None) == (role_arn is None):
        raise click.UsageError("give exactly one of --name or --role-arn")
    registry = _registry()
    if name is not None:
        role_arn = registry.get(account_group, name).role_arn
    role = parse_role_arn(role_arn or "")
    result = check_trust_relationship(role.arn, registry.external_id(account_group))
    if as_json:
        _print_json(
            {
                "ok": result.ok,
                "role_arn": result.role_arn,
                "message": result.message,
                "aws_error": result.aws_error,
            }
        )
        if not result.ok:
            sys.exit(1)
        return
    if not result.ok:
        raise Failure(result.message)
    click.echo(result.message)


@integrations.command("remove")
@ACCOUNT_GROUP_OPTION
@click.option("--name", required=True)
@JSON_OPTION
@fail_cleanly
def remove_integration(account_group: str, name: str, as_json: bool) -> None:
    """Remove an integration (its collected history stays in the warehouse)."""
    registry = _registry()
    info = registry.remove(account_group, name)
    _sync_locations(registry)
    if as_json:
        _print_json({"removed": info.as_dict()})
    else:
        click.echo(f"removed {info.integration_type} integration {info.name!r}")


# ---------------------------------------------------------------- policies


@main.group()
def policy() -> None:
    """Print the IAM documents to paste into AWS."""


def _collector_principal(value: str | None) -> str:
    from cloudinsights_dagster.settings import load_settings

    principal = value or load_settings().collector_principal
    if not principal:
        raise Failure(
            "the collector principal is not configured: pass --principal or set "
            "CLOUDINSIGHTS_COLLECTOR_PRINCIPAL to the IAM ARN the collector runs as"
        )
    return principal


PRINCIPAL_OPTION = click.option(
    "--principal",
    default=None,
    help="IAM ARN the collector runs as (default: $CLOUDINSIGHTS_COLLECTOR_PRINCIPAL).",
)


@policy.command("trust")
@ACCOUNT_GROUP_OPTION
@PRINCIPAL_OPTION
@fail_cleanly
def policy_trust(account_group: str, principal: str | None) -> None:
    """Trust policy for the roles of this account group (contains its ExternalId)."""
    from cloudinsights_dagster.policies import trust_policy

    principal = _collector_principal(principal)
    _print_json(trust_policy(principal, _registry().external_id(account_group)))


@policy.command("inventory")
@ACCOUNT_GROUP_OPTION
@fail_cleanly
def policy_inventory(account_group: str) -> None:
    """Permission policy of an inventory monitoring role."""
    from cloudinsights_dagster.policies import inventory_permission_policy

    _print_json(inventory_permission_policy())


@policy.command("flowlogs")
@ACCOUNT_GROUP_OPTION
@click.option(
    "--bucket",
    "buckets",
    multiple=True,
    help="Flow-log bucket, or bucket/prefix (repeatable). Default: a placeholder.",
)
@fail_cleanly
def policy_flowlogs(account_group: str, buckets: tuple[str, ...]) -> None:
    """Permission policy of a flow logs monitoring role."""
    from cloudinsights_dagster.policies import flowlogs_permission_policy

    _print_json(flowlogs_permission_policy(list(buckets) or None))


@policy.command("sns-topic")
@ACCOUNT_GROUP_OPTION
@PRINCIPAL_OPTION
@fail_cleanly
def policy_sns_topic(account_group: str, principal: str | None) -> None:
    """SNS topic access policy; replace <TOPIC-ARN> with each topic's ARN."""
    from cloudinsights_dagster.policies import sns_topic_access_policy

    _print_json(sns_topic_access_policy(_collector_principal(principal)))


# ---------------------------------------------------------------- settings


@main.group()
def settings() -> None:
    """Integration policies: switch resource groups and regions off or on per account group."""


def _setting_command(enabled: bool):
    @ACCOUNT_GROUP_OPTION
    @click.option("--resource-group", default=None, help="e.g. transitgateway, vpn, directconnect")
    @click.option("--region", default=None, help="e.g. ap-south-1")
    @JSON_OPTION
    @fail_cleanly
    def command(
        account_group: str, resource_group: str | None, region: str | None, as_json: bool
    ) -> None:
        if (resource_group is None) == (region is None):
            raise click.UsageError("give exactly one of --resource-group or --region")
        registry = _registry()
        current = registry.set_enabled(account_group, enabled, resource_group, region)
        _sync_locations(registry)
        _echo_settings(current, as_json)

    return command


def _echo_settings(current, as_json: bool) -> None:
    data = {
        "disabled_resource_groups": sorted(current.resource_groups),
        "disabled_regions": sorted(current.regions),
    }
    if as_json:
        _print_json(data)
    else:
        click.echo(
            f"disabled resource groups: {', '.join(data['disabled_resource_groups']) or '-'}"
        )
        click.echo(f"disabled regions: {', '.join(data['disabled_regions']) or '-'}")


settings.command("disable", help="Stop monitoring a resource group or a region.")(
    _setting_command(enabled=False)
)
settings.command("enable", help="Monitor a resource group or a region again.")(
    _setting_command(enabled=True)
)


@settings.command("show")
@ACCOUNT_GROUP_OPTION
@JSON_OPTION
@fail_cleanly
def settings_show(account_group: str, as_json: bool) -> None:
    """Show what is disabled."""
    _echo_settings(_registry().disabled(account_group), as_json)


# ---------------------------------------------------------------- flow-logs queue


@main.command("setup-queue")
@click.option("--name", default="cloudinsights-flowlogs", show_default=True, help="Queue name.")
@click.option("--region", default=None, help="Queue region (default: $CLOUDINSIGHTS_QUEUE_REGION).")
@JSON_OPTION
@fail_cleanly
def setup_queue_command(name: str, region: str | None, as_json: bool) -> None:
    """Create the collector's SQS queue, its dead-letter queue, and an access policy letting
    every registered flow-logs topic deliver to it (run again after adding topics)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from cloudinsights_dagster import aws
    from cloudinsights_dagster.flowlogs.queue import setup_queue
    from cloudinsights_dagster.settings import load_settings

    region = region or load_settings().queue_region
    topics = [t for info in _registry().list_integrations() for t in info.topic_arns]
    try:
        info = setup_queue(aws.base_session(region), name, region, topics)
    except (ClientError, BotoCoreError) as exc:
        raise Failure(
            f"could not set up queue {name!r} in {region}: {aws.error_message(exc)}"
        ) from None
    if as_json:
        _print_json(
            {
                "queue_url": info.queue_url,
                "queue_arn": info.queue_arn,
                "dlq_url": info.dlq_url,
                "topics": topics,
            }
        )
        return
    click.echo(
        f"queue {info.queue_arn} (dead-letter queue {info.dlq_arn}), "
        f"{len(topics)} topic(s) allowed to deliver"
    )
    click.echo(f"export CLOUDINSIGHTS_QUEUE_URL={info.queue_url}")


@main.command("subscribe")
@JSON_OPTION
@fail_cleanly
def subscribe_command(as_json: bool) -> None:
    """Subscribe the collector's queue to every topic now (the subscription sensor does this
    every five minutes)."""
    from cloudinsights_dagster.flowlogs.subscriptions import subscribe_due_topics
    from cloudinsights_dagster.resources import FlowLogQueueResource
    from cloudinsights_dagster.warehouse.schema import utcnow

    queue = FlowLogQueueResource()
    if not queue.url:
        raise Failure(
            "no queue configured: run `cloudinsights setup-queue` and set CLOUDINSIGHTS_QUEUE_URL"
        )
    attempts = subscribe_due_topics(
        _registry(), queue.session(), queue.queue_arn(), utcnow(), force=True
    )
    rows = [
        {
            "integration_id": a.integration_id,
            "topic_arn": a.attempt.topic_arn,
            "ok": a.attempt.ok,
            "error": a.attempt.error,
        }
        for a in attempts
    ]
    if as_json:
        _print_json(rows)
    else:
        for row in rows:
            click.echo(
                f"{'ok    ' if row['ok'] else 'FAILED'} {row['topic_arn']}"
                + (f": {row['error']}" if row["error"] else "")
            )
    if rows and not any(r["ok"] for r in rows):
        sys.exit(1)


# ---------------------------------------------------------------- doctor


@main.command("doctor")
@JSON_OPTION
def doctor_command(as_json: bool) -> None:
    """Check this install and its configuration: the parser's C fast path, the gzip inflater,
    the warehouse, the flow-log output folder and the Dagster instance. Exit 1 on any error
    (warnings only slow things down)."""
    from cloudinsights_dagster.doctor import run_checks

    findings = run_checks()
    if as_json:
        _print_json([vars(finding) for finding in findings])
    else:
        for finding in findings:
            click.echo(f"{finding.level:<8} {finding.check}: {finding.detail}")
    if any(finding.level == "error" for finding in findings):
        sys.exit(1)


# ---------------------------------------------------------------- status and logs


@main.command("status")
@click.option(
    "--account-group",
    "account_group",
    envvar="CLOUDINSIGHTS_ACCOUNT_GROUP",
    default=None,
    help="Only this account group (default: all).",
)
@JSON_OPTION
@fail_cleanly
def status_command(account_group: str | None, as_json: bool) -> None:
    """Each integration's status (Pending, Connected, Connected with warning, Failed), why, and
    the fix to try."""
    from cloudinsights_dagster.status import compute_status, store_status
    from cloudinsights_dagster.warehouse.schema import utcnow

    registry = _registry()
    now = utcnow()
    views = compute_status(registry, now, account_group)
    store_status(registry, views, now)
    if as_json:
        _print_json([view.as_dict() for view in views])
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


def _parse_time(value: str | None):
    """An ISO time, or a duration back from now such as 30m, 2h, 7d."""
    import re
    from datetime import UTC, datetime, timedelta

    if not value:
        return None
    match = re.fullmatch(r"(\d+)([mhd])", value.strip())
    if match:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match[2]]
        return datetime.now(UTC) - timedelta(**{unit: int(match[1])})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: use an ISO time or a duration like 30m, 2h, 7d"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@main.group("logs", invoke_without_command=True)
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
    from cloudinsights_dagster.settings import load_settings

    f = LogFilter(
        account_group,
        integration,
        integration_type,
        category,
        severity,
        _parse_time(since),
        _parse_time(until),
    )
    url = load_settings().database_url
    try:
        rows = hourly_summary(url, f) if summary else query_logs(url, f, limit)
    except LookupError as exc:
        raise Failure(str(exc).strip("'\"")) from None
    if as_json:
        _print_json(rows)
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
    from cloudinsights_dagster.settings import load_settings

    deleted = prune_logs(load_settings().database_url, _parse_time(older_than))
    click.echo(f"deleted {deleted} log entr{'y' if deleted == 1 else 'ies'}")


@main.command("rejects")
@ACCOUNT_GROUP_OPTION
@click.option("--since", default="2h", show_default=True, help="ISO time or duration back.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@JSON_OPTION
@fail_cleanly
def rejects_command(account_group: str, since: str, limit: int, as_json: bool) -> None:
    """Top rejected flows of an account group with why they were rejected."""
    from cloudinsights_dagster.settings import load_settings
    from cloudinsights_dagster.views.reasons_query import top_rejects

    try:
        rows = top_rejects(load_settings().database_url, account_group, _parse_time(since), limit)
    except LookupError as exc:
        raise Failure(str(exc).strip("'\"")) from None
    if as_json:
        _print_json(rows)
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


# `cloudinsights flowlogs check|parse`: its module keeps heavy imports inside the commands.
from cloudinsights_dagster.flowlogs.cli import flowlogs as _flowlogs  # noqa: E402

main.add_command(_flowlogs)


# ---------------------------------------------------------------- organizations


@main.group("org")
def org() -> None:
    """Onboard a whole AWS Organization; the CloudFormation a platform team deploys."""


@org.command("onboard")
@ACCOUNT_GROUP_OPTION
@click.option("--role-name", required=True, help="Inventory role name in every account.")
@click.option("--ou", "ou_ids", multiple=True, help="Only accounts under this OU (repeatable).")
@click.option("--region", "regions", multiple=True, help="Monitor these regions (repeatable).")
@click.option(
    "--name-template",
    default="{account_name}",
    show_default=True,
    help="Integration name; {account_name} and {account_id} are filled in.",
)
@click.option(
    "--management-role-arn",
    default=None,
    help="Role in the management (or delegated admin) account to read Organizations with.",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@JSON_OPTION
@fail_cleanly
def org_onboard(
    account_group: str,
    role_name: str,
    ou_ids: tuple[str, ...],
    regions: tuple[str, ...],
    name_template: str,
    management_role_arn: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Register an inventory integration per ACTIVE account; disable those of closed,
    suspended or departed accounts (never deletes). Safe to re-run."""
    from cloudinsights_dagster import organizations as orgs

    registry = _registry()
    try:
        client = orgs.organizations_client(management_role_arn)
        organization = orgs.discover_organization(client, ou_ids)
        plan = orgs.plan_onboarding(
            registry, account_group, organization, role_name, name_template, regions
        )
    except orgs.OrganizationError as exc:
        raise Failure(str(exc)) from None
    result = None if dry_run else orgs.apply_onboarding(registry, plan)
    synced = None if dry_run else _sync_locations(registry)
    failures = result.region_failures if result else {}
    if as_json:
        _print_json({**plan.as_dict(), "dry_run": dry_run, "region_discovery_failures": failures})
        return
    counts = plan.counts()
    verb = "would " if dry_run else ""
    click.echo(
        f"organization {plan.organization_id}: {verb}add {counts['add']}, keep {counts['keep']}, "
        f"{verb}disable {counts['disable']}, {verb}re-enable {counts['enable']}, "
        f"skip {counts['skipped']} (not ACTIVE)"
    )
    for title, items in (
        ("add", plan.add),
        ("disable", plan.disable),
        ("re-enable", plan.enable),
        ("skip", plan.skipped),
    ):
        for item in items:
            click.echo(
                f"  {title:9} {item.account_id} {item.name}"
                + (f": {item.reason}" if item.reason else "")
            )
    for account_id, error in sorted(failures.items()):
        click.echo(
            f"warning: regions of {account_id} not discovered ({error}); the location sync "
            "sensor retries",
            err=True,
        )
    if synced:
        click.echo(synced)


@org.command("template")
@ACCOUNT_GROUP_OPTION
@PRINCIPAL_OPTION
@click.option("--flowlogs-bucket", default=None, help="Add the log-archive part for this bucket.")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml")
@fail_cleanly
def org_template(
    account_group: str, principal: str | None, flowlogs_bucket: str | None, fmt: str
) -> None:
    """CloudFormation template (holds the account group's ExternalId: keep it private)."""
    from cloudinsights_dagster.stackset import build_template, render

    principal = _collector_principal(principal)
    template = build_template(
        principal, _registry().external_id(account_group), flowlogs_bucket or None
    )
    click.echo(render(template, fmt), nl=False)


@org.command("stackset-instructions")
@click.option("--ou", "ou_ids", multiple=True, help="Target OU (repeatable).")
@click.option("--region", "regions", multiple=True, help="Regions (the first deploys the role).")
@click.option("--template-file", default="cloudinsights.yaml", show_default=True)
@click.option("--flowlogs-bucket", default=None)
@fail_cleanly
def org_stackset_instructions(
    ou_ids: tuple[str, ...],
    regions: tuple[str, ...],
    template_file: str,
    flowlogs_bucket: str | None,
) -> None:
    """The aws CLI commands that deploy the template to the OUs with service-managed StackSets."""
    from cloudinsights_dagster.organizations import OrganizationError, validate_ou_ids
    from cloudinsights_dagster.stackset import stackset_instructions

    try:
        ous = validate_ou_ids(ou_ids)
    except OrganizationError as exc:
        raise Failure(str(exc)) from None
    click.echo(
        stackset_instructions(ous, list(regions), template_file, flowlogs_bucket=flowlogs_bucket),
        nl=False,
    )


if __name__ == "__main__":
    main()
