"""Which integrations a failed Dagster run was monitoring, from the run's partition tags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.tags import (
    FLOWLOGS_KIND,
    KIND,
    PARTITION,
    PARTITION_RANGE_END,
    PARTITION_RANGE_START,
)
from cloudinsights_dagster.warehouse import schema as s


def run_locations(tags: Mapping[str, str], ordered_location_keys: Sequence[str]) -> list[str]:
    """Location keys an inventory run covered: a partition range or one location partition."""
    start = tags.get(PARTITION_RANGE_START)
    end = tags.get(PARTITION_RANGE_END)
    if start and end and start in ordered_location_keys and end in ordered_location_keys:
        keys = list(ordered_location_keys)
        return keys[keys.index(start) : keys.index(end) + 1]
    partition = tags.get(PARTITION)
    if partition and partition in ordered_location_keys:
        return [partition]
    return []


def integrations_for_run(
    session: Session,
    registry: Registry,
    tags: Mapping[str, str],
    ordered_location_keys: Sequence[str],
    run_id: str | None = None,
) -> list[int]:
    """Integrations a run was monitoring: for a flow-log run, those whose objects it claimed
    (or, when it claimed none, every flow-logs integration with objects on its day); for an
    inventory run, those of its locations."""
    if tags.get(KIND) == FLOWLOGS_KIND:
        day = tags.get(PARTITION)
        claimed = set()
        if run_id:
            claimed = set(
                session.scalars(
                    sa.select(s.FlowLogObject.integration_id)
                    .where(s.FlowLogObject.claimed_by_run == run_id)
                    .distinct()
                )
            )
        if claimed or not day:
            return sorted(claimed)
        return sorted(
            set(
                session.scalars(
                    sa.select(s.FlowLogObject.integration_id)
                    .where(s.FlowLogObject.day == day)
                    .distinct()
                )
            )
        )
    locations = set(run_locations(tags, ordered_location_keys))
    if not locations:
        return []
    return sorted({loc.integration_id for loc in registry.locations() if loc.key in locations})
