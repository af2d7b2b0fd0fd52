"""`cloudinsights org`: onboard an AWS Organization; the CloudFormation to deploy."""

from __future__ import annotations

import click

from .common import (
    ACCOUNT_GROUP_OPTION,
    JSON_OPTION,
    PRINCIPAL_OPTION,
    Failure,
    collector_principal,
    fail_cleanly,
    open_registry,
    print_json,
    sync_locations,
)


@click.group("org")
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

    registry = open_registry()
    try:
        client = orgs.organizations_client(management_role_arn)
        organization = orgs.discover_organization(client, ou_ids)
        plan = orgs.plan_onboarding(
            registry, account_group, organization, role_name, name_template, regions
        )
    except orgs.OrganizationError as exc:
        raise Failure(str(exc)) from None
    result = None if dry_run else orgs.apply_onboarding(registry, plan)
    synced = None if dry_run else sync_locations(registry)
    failures = result.region_failures if result else {}
    if as_json:
        print_json({**plan.as_dict(), "dry_run": dry_run, "region_discovery_failures": failures})
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

    principal = collector_principal(principal)
    template = build_template(
        principal, open_registry().external_id(account_group), flowlogs_bucket or None
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
