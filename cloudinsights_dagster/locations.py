"""Keeping the monitored locations (inventory integrations' regions) up to date."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from cloudinsights_dagster import aws
from cloudinsights_dagster.discovery import discover_enabled_regions
from cloudinsights_dagster.registry import IntegrationInfo, Registry


@dataclass(frozen=True)
class RegionDiscoveryFailure:
    integration_id: int
    integration_name: str
    account_group: str
    role_arn: str
    error: str


def discover_regions(registry: Registry, info: IntegrationInfo) -> RegionDiscoveryFailure | None:
    """Record the enabled regions of one inventory integration's account (through its role);
    the failure, if the account cannot be asked, for the caller to report."""
    try:
        regions = discover_enabled_regions(info.role_arn, registry.external_id(info.account_group))
    except (ClientError, BotoCoreError) as exc:
        return RegionDiscoveryFailure(
            info.id, info.name, info.account_group, info.role_arn, aws.error_message(exc)
        )
    registry.set_regions(info.id, regions, source="discovered")
    return None


def discover_missing_regions(registry: Registry) -> list[RegionDiscoveryFailure]:
    """Look up the enabled regions of inventory integrations that have none recorded yet."""
    failures = []
    for info in registry.list_integrations():
        if info.integration_type != "inventory" or info.regions or info.disabled:
            continue
        failure = discover_regions(registry, info)
        if failure:
            failures.append(failure)
    return failures


def partition_changes(desired: set[str], existing: set[str]) -> tuple[list[str], list[str]]:
    """(keys to add, keys to delete), each sorted."""
    return sorted(desired - existing), sorted(existing - desired)
