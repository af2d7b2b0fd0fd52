"""Purging old Dagster runs: Dagster's `retention:` settings prune schedule and sensor ticks,
never runs, so a run and its events stay in the instance until someone deletes them. At 4,000
locations the inventory alone adds ~80 runs and ~40 MB of events a day.

Inventory runs are kept 3 days by default (each location has a snapshot every five minutes, and
the warehouse holds the inventory itself); every other run 14 days. Only finished runs are
deleted, with their events and compute logs.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import dagster as dg

from cloudinsights_dagster import settings, tags

KIND_TAG = tags.KIND  # set by every job of the code location
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


@dataclass(frozen=True)
class RetentionPolicy:
    inventory_days: float = settings.DEFAULT_RUN_RETENTION_INVENTORY_DAYS
    other_days: float = settings.DEFAULT_RUN_RETENTION_DAYS

    @classmethod
    def from_env(
        cls, inventory_days: float | None = None, other_days: float | None = None
    ) -> RetentionPolicy:
        return cls(
            settings.run_retention_inventory_days(inventory_days),
            settings.run_retention_days(other_days),
        )

    def cutoff(self, kind: str | None, now: datetime) -> datetime:
        days = self.inventory_days if kind == "inventory" else self.other_days
        return now - timedelta(days=days)


@dataclass
class PurgeReport:
    deleted: Counter[str] = field(default_factory=Counter)  # runs deleted by kind
    kept_newest: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def _delete(instance: dg.DagsterInstance, run_id: str) -> None:
    instance.delete_run(run_id)  # the run and its event log
    # A compute-log manager that cannot delete leaves its files (and says so by raising).
    with contextlib.suppress(NotImplementedError):
        instance.compute_log_manager.delete_logs(prefix=[run_id])


def purge_old_runs(
    instance: dg.DagsterInstance,
    policy: RetentionPolicy,
    now: datetime,
    batch_size: int = 500,
    max_runs: int | None = None,
) -> PurgeReport:
    """Delete finished runs last updated before their kind's cutoff; at most ``max_runs``."""
    report = PurgeReport()
    cutoffs = [("inventory", policy.cutoff("inventory", now)), (None, policy.cutoff(None, now))]
    for kind, cutoff in cutoffs:
        tags = {KIND_TAG: kind} if kind else {}
        skip: set[str] = set()
        while max_runs is None or report.total < max_runs:
            records = instance.get_run_records(
                dg.RunsFilter(statuses=FINISHED, updated_before=cutoff, tags=tags),
                limit=batch_size + len(skip),
            )
            todo = [
                r
                for r in records
                if r.dagster_run.run_id not in skip
                # The catch-all pass leaves inventory runs to their own (maybe longer) cutoff.
                and (kind or r.dagster_run.tags.get(KIND_TAG) != "inventory")
            ]
            skip |= {r.dagster_run.run_id for r in records} - {r.dagster_run.run_id for r in todo}
            if not todo:
                break
            for record in todo:
                if max_runs is not None and report.total >= max_runs:
                    break
                _delete(instance, record.dagster_run.run_id)
                report.deleted[record.dagster_run.tags.get(KIND_TAG) or "other"] += 1
    return report
