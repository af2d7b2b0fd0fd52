"""Which integrations a failed Dagster run was monitoring, from the run's partition tags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa

from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import session_scope


def run_locations(tags: Mapping[str, str], ordered_location_keys: Sequence[str]) -> list[str]:
    """Location keys a run covered: a partition range, one location partition, or a flow-log
    (day x location) partition."""
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    if start and end and start in ordered_location_keys and end in ordered_location_keys:
        keys = list(ordered_location_keys)
        return keys[keys.index(start) : keys.index(end) + 1]
    if "dagster/partition/location" in tags:
        return [tags["dagster/partition/location"]]
    partition = tags.get("dagster/partition")
    if partition and partition in ordered_location_keys:
        return [partition]
    return []


def integrations_for_run(
    registry: Registry, tags: Mapping[str, str], ordered_location_keys: Sequence[str]
) -> list[int]:
    locations = set(run_locations(tags, ordered_location_keys))
    if not locations:
        return []
    if tags.get("cloudinsights/kind") == "flowlogs" or "dagster/partition/day" in tags:
        day = tags.get("dagster/partition/day")
        with session_scope(registry.database_url) as session:
            query = sa.select(s.FlowLogObject.integration_id).where(
                s.FlowLogObject.location_key.in_(locations)
            )
            if day:
                query = query.where(s.FlowLogObject.day == day)
            return sorted(set(session.scalars(query.distinct())))
    return sorted({loc.integration_id for loc in registry.locations() if loc.key in locations})
