"""Which flow-log partitions need a run: those with pending objects and no run queued or running
(at most one per partition; each run drains every pending object of its partition)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class RunPlan:
    partitions: list[tuple[str, str]]  # (location_key, day) to request
    new_locations: list[str]  # location partitions the instance lacks
    out_of_range: list[tuple[str, str]]  # days outside the partitions definition


def plan_runs(
    pending: Iterable[tuple[str, str]],
    active: set[tuple[str, str]],
    known_locations: set[str],
    first_day: str,
    last_day: str,
) -> RunPlan:
    partitions, out_of_range, new_locations = [], [], set()
    for location, day in sorted(set(pending), key=lambda p: (p[1], p[0])):
        if not first_day <= day <= last_day:
            out_of_range.append((location, day))
            continue
        if (location, day) in active:
            continue
        partitions.append((location, day))
        if location not in known_locations:
            new_locations.add(location)
    return RunPlan(partitions, sorted(new_locations), out_of_range)
