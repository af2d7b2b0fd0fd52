"""Purging old Dagster runs: Dagster's `retention:` settings prune schedule and sensor ticks,
never runs, so a run and its events stay in the instance until someone deletes them. At 4,000
locations the inventory alone adds ~80 runs and ~40 MB of events a day.

Inventory runs are kept 3 days by default (each location has a snapshot every five minutes, and
the warehouse holds the inventory itself); every other run 14 days. Only finished runs are
deleted, with their events and compute logs.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import dagster as dg

from cloudinsights_dagster import tags

KIND_TAG = tags.KIND  # set by every job of the code location
INVENTORY_DAYS_ENV = "CLOUDINSIGHTS_RUN_RETENTION_INVENTORY_DAYS"
OTHER_DAYS_ENV = "CLOUDINSIGHTS_RUN_RETENTION_DAYS"
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def _days(name: str, value: float | str | None, default: float) -> float:
    text = os.environ.get(name) if value is None else str(value)
    if text is None or text == "":
        return default
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if days <= 0:
        raise ValueError(
            f"{name}={text!r}: give how many days finished runs are kept, a number above 0"
        )
    return days


@dataclass(frozen=True)
class RetentionPolicy:
    inventory_days: float = 3.0
    other_days: float = 14.0

    @classmethod
    def from_env(
        cls, inventory_days: float | None = None, other_days: float | None = None
    ) -> RetentionPolicy:
        return cls(
            _days(INVENTORY_DAYS_ENV, inventory_days, cls.inventory_days),
            _days(OTHER_DAYS_ENV, other_days, cls.other_days),
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
