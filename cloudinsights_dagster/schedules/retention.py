"""A daily job that deletes old finished runs (Dagster's own retention settings never do)."""

import dagster as dg
from pydantic import Field

from cloudinsights_dagster.run_retention import KIND_TAG, RetentionPolicy, purge_old_runs
from cloudinsights_dagster.warehouse.schema import utcnow


class RunRetentionConfig(dg.Config):
    inventory_days: float | None = Field(
        default=None,
        description="Days finished inventory runs are kept (default "
        "CLOUDINSIGHTS_RUN_RETENTION_INVENTORY_DAYS, else 3).",
    )
    other_days: float | None = Field(
        default=None,
        description="Days every other finished run is kept (default "
        "CLOUDINSIGHTS_RUN_RETENTION_DAYS, else 14).",
    )
    max_runs: int | None = Field(
        default=None, description="Delete at most this many runs in this run."
    )


@dg.op(description="Delete finished runs older than their kind's retention, with their events.")
def purge_runs(context: dg.OpExecutionContext, config: RunRetentionConfig) -> dg.Output[int]:
    policy = RetentionPolicy.from_env(config.inventory_days, config.other_days)
    report = purge_old_runs(context.instance, policy, utcnow(), max_runs=config.max_runs)
    context.log.info(
        f"deleted {report.total} run(s) (inventory older than {policy.inventory_days:g} days, "
        f"others older than {policy.other_days:g} days): "
        + (", ".join(f"{kind} {n}" for kind, n in sorted(report.deleted.items())) or "none")
    )
    return dg.Output(report.total, metadata={"runs_deleted": report.total})


@dg.job(
    tags={KIND_TAG: "retention"},
    executor_def=dg.in_process_executor,
    description="Delete old finished runs and their events: inventory runs after 3 days, others "
    "after 14 (CLOUDINSIGHTS_RUN_RETENTION_INVENTORY_DAYS / CLOUDINSIGHTS_RUN_RETENTION_DAYS).",
)
def run_retention_job():
    purge_runs()


run_retention_schedule = dg.ScheduleDefinition(
    name="run_retention_schedule",
    job=run_retention_job,
    cron_schedule="15 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Each night, delete finished runs past their retention (Dagster's `retention:` "
    "settings prune ticks, never runs).",
)
