"""How many flow-log runs to request: enough for each day's backlog (objects waiting for a run,
including those whose run died and whose lease ran out), less the runs already queued for that
day. Runs are bounded by objects, so their number follows the data, not the locations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cloudinsights_dagster.flowlogs.ledger import DayBacklog


@dataclass(frozen=True)
class RunPlan:
    runs: list[str]  # one day per run to request (a day may appear several times)
    out_of_range: list[DayBacklog]  # days outside the partitions definition


def plan_runs(
    backlog: Iterable[DayBacklog],
    queued: Mapping[str, int],
    first_day: str,
    last_day: str,
    objects_per_run: int,
    max_new_runs: int,
) -> RunPlan:
    """`queued`: runs per day requested but not started yet (each will claim up to
    `objects_per_run`); started runs have claimed what they hold already. Oldest days first."""
    runs: list[str] = []
    out_of_range: list[DayBacklog] = []
    for day in sorted(backlog, key=lambda d: d.day):
        if not first_day <= day.day <= last_day:
            out_of_range.append(day)
            continue
        needed = -(-day.objects // objects_per_run) - queued.get(day.day, 0)
        for _ in range(max(0, min(needed, max_new_runs - len(runs)))):
            runs.append(day.day)
    return RunPlan(runs, out_of_range)
