"""Bring a Dagster instance's `locations` partitions in line with the registry, for the CLI (the
`location_sync_sensor` does the same through sensor results when the daemon runs)."""

from __future__ import annotations

import dagster as dg

from cloudinsights_dagster import partitions
from cloudinsights_dagster.locations import partition_changes
from cloudinsights_dagster.registry import Registry


def sync_location_partitions(
    instance: dg.DagsterInstance, registry: Registry
) -> tuple[list[str], list[str]]:
    desired = {location.key for location in registry.locations()}
    existing = set(instance.get_dynamic_partitions(partitions.LOCATIONS))
    to_add, to_delete = partition_changes(desired, existing)
    if to_add:
        instance.add_dynamic_partitions(partitions.LOCATIONS, to_add)
    for key in to_delete:
        instance.delete_dynamic_partition(partitions.LOCATIONS, key)
    return to_add, to_delete
