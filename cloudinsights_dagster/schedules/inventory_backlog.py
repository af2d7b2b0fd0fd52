"""Keep inventory ticks from piling up: a location whose previous run has not started yet is
not asked for again. That run will snapshot its own (older) tick when it starts; this tick is
skipped for its locations, which status then names ("inventory tick(s) skipped"), instead of the
run queue growing by a tick's runs every five minutes while the cluster cannot keep up."""

from __future__ import annotations

import dagster as dg

from cloudinsights_dagster import tags

RANGE_START = tags.PARTITION_RANGE_START
WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]


def waiting_chunks(instance: dg.DagsterInstance, job_name: str) -> set[str]:
    """The first location of each run of ``job_name`` that waits to start."""
    records = instance.get_run_records(dg.RunsFilter(job_name=job_name, statuses=WAITING))
    return {r.dagster_run.tags[RANGE_START] for r in records if RANGE_START in r.dagster_run.tags}


def without_waiting_chunks(
    instance: dg.DagsterInstance, job_name: str, requests: list[dg.RunRequest]
) -> list[dg.RunRequest] | dg.SkipReason:
    """``requests`` less those whose locations' previous run still waits in the queue."""
    waiting = waiting_chunks(instance, job_name)
    kept = [r for r in requests if r.tags.get(RANGE_START) not in waiting]
    if requests and not kept:
        return dg.SkipReason(
            f"all {len(requests)} inventory run(s) of the previous tick still wait to start: "
            "this tick is skipped (see the run queue's limits and the workers)"
        )
    return kept
