"""`cloudinsights integrations`: add, list, show, test and remove integrations."""

from __future__ import annotations

import sys

import click

from .common import (
    ACCOUNT_GROUP_FILTER_OPTION,
    ACCOUNT_GROUP_OPTION,
    JSON_OPTION,
    Failure,
    fail_cleanly,
    open_registry,
    print_json,
    sync_locations,
)


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


@click.group()
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
    registry = open_registry()
    info = registry.add_inventory(account_group, name, role_arn, list(regions) or None)
    if not regions:
        warning = _discover_regions(registry, info)
        if warning:
            click.echo(warning, err=True)
        info = registry.get(account_group, name)
    synced = sync_locations(registry)
    if as_json:
        print_json(info.as_dict())
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
    info = open_registry().add_flowlogs(account_group, name, role_arn, list(topic_arns))
    if as_json:
        print_json(info.as_dict())
    else:
        click.echo(f"saved (status: Pending)\n{_describe(info)}")


@integrations.command("list")
@ACCOUNT_GROUP_FILTER_OPTION
@JSON_OPTION
@fail_cleanly
def list_integrations(account_group: str | None, as_json: bool) -> None:
    """List integrations."""
    infos = open_registry().list_integrations(account_group)
    if as_json:
        print_json([info.as_dict() for info in infos])
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
    info = open_registry().get(account_group, name)
    if as_json:
        print_json(info.as_dict())
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
    registry = open_registry()
    if name is not None:
        role_arn = registry.get(account_group, name).role_arn
    role = parse_role_arn(role_arn or "")
    result = check_trust_relationship(role.arn, registry.external_id(account_group))
    if as_json:
        print_json(
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
    registry = open_registry()
    info = registry.remove(account_group, name)
    sync_locations(registry)
    if as_json:
        print_json({"removed": info.as_dict()})
    else:
        click.echo(f"removed {info.integration_type} integration {info.name!r}")
