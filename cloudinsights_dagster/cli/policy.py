"""`cloudinsights policy`: the IAM documents to paste into AWS."""

from __future__ import annotations

import click

from .common import (
    ACCOUNT_GROUP_OPTION,
    PRINCIPAL_OPTION,
    collector_principal,
    fail_cleanly,
    open_registry,
    print_json,
)


@click.group()
def policy() -> None:
    """Print the IAM documents to paste into AWS."""


@policy.command("trust")
@ACCOUNT_GROUP_OPTION
@PRINCIPAL_OPTION
@fail_cleanly
def policy_trust(account_group: str, principal: str | None) -> None:
    """Trust policy for the roles of this account group (contains its ExternalId)."""
    from cloudinsights_dagster.policies import trust_policy

    principal = collector_principal(principal)
    print_json(trust_policy(principal, open_registry().external_id(account_group)))


@policy.command("inventory")
@ACCOUNT_GROUP_OPTION
@fail_cleanly
def policy_inventory(account_group: str) -> None:
    """Permission policy of an inventory monitoring role."""
    from cloudinsights_dagster.policies import inventory_permission_policy

    print_json(inventory_permission_policy())


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

    print_json(flowlogs_permission_policy(list(buckets) or None))


@policy.command("sns-topic")
@ACCOUNT_GROUP_OPTION
@PRINCIPAL_OPTION
@fail_cleanly
def policy_sns_topic(account_group: str, principal: str | None) -> None:
    """SNS topic access policy; replace <TOPIC-ARN> with each topic's ARN."""
    from cloudinsights_dagster.policies import sns_topic_access_policy

    print_json(sns_topic_access_policy(collector_principal(principal)))
