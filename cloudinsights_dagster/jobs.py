"""Jobs and the schedule of the status job: which assets run together."""

from datetime import timedelta

import dagster as dg

from cloudinsights_dagster import tags
from cloudinsights_dagster.assets.flowlogs import (
    QUALITY_CHECK,
    flowlog_records,
    great_expectations_suite,
    notified_objects_complete,
)
from cloudinsights_dagster.assets.inventory import config_changes, inventory_snapshot
from cloudinsights_dagster.assets.status import integration_status
from cloudinsights_dagster.assets.views import topology, traffic_views

KIND_TAG = tags.KIND

inventory_job = dg.define_asset_job(
    "inventory_job",
    selection=dg.AssetSelection.assets(inventory_snapshot, config_changes, topology),
    tags={KIND_TAG: "inventory"},
    # One process for the three steps: the multiprocess executor starts a process per step, each
    # paying the ~2 CPU-s of imports and adding its own worker events and compute-log files.
    # The locations inside a step already run in parallel threads.
    executor_def=dg.in_process_executor,
    description="Snapshot a range of locations, derive their config changes and topology.",
)

FLOWLOGS_KIND = tags.FLOWLOGS_KIND

# One process per run, not one per step: a step process re-imports Dagster and the code
# location (~2 CPU-s), which would cost more than most runs' records.
flowlog_job = dg.define_asset_job(
    "flowlog_job",
    # The nightly checks (Great Expectations, reconciliation) have jobs of their own.
    selection=dg.AssetSelection.assets(flowlog_records, traffic_views).without_checks()
    | dg.AssetSelection.checks(dg.AssetCheckKey(flowlog_records.key, QUALITY_CHECK)),
    tags={KIND_TAG: FLOWLOGS_KIND},
    executor_def=dg.in_process_executor,
    description="Claim and process a batch of one day's pending flow-log objects (every location, "
    "or the accounts/locations in run config) and re-aggregate the windows they touch. Several "
    "runs may drain the same day at once.",
)

flowlog_quality_job = dg.define_asset_job(
    "flowlog_quality_job",
    selection=dg.AssetSelection.checks(great_expectations_suite),
    tags={KIND_TAG: "quality"},
    executor_def=dg.in_process_executor,
    description="Great Expectations over a sample of one day's loaded flow records.",
)

status_job = dg.define_asset_job(
    "status_job",
    selection=dg.AssetSelection.assets(integration_status),
    description="Recompute every integration's status.",
)

status_schedule = dg.ScheduleDefinition(
    name="status_schedule",
    job=status_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


def _yesterday(context: dg.ScheduleEvaluationContext) -> str:
    scheduled = context.scheduled_execution_time
    return (scheduled - timedelta(days=1)).date().isoformat()


flowlog_reconcile_job = dg.define_asset_job(
    "flowlog_reconcile_job",
    selection=dg.AssetSelection.checks(notified_objects_complete),
    tags={KIND_TAG: "reconcile"},
    executor_def=dg.in_process_executor,
    description="List one day's S3 prefixes of every location and record what no notification "
    "announced; the queue sensor's runs then load it.",
)


@dg.schedule(
    job=flowlog_reconcile_job,
    cron_schedule="30 1 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Each night, reconcile the previous day: list its S3 prefixes and load every "
    "object no notification announced (files are delivered up to ~10 minutes late).",
)
def flowlog_reconcile_schedule(context: dg.ScheduleEvaluationContext):
    day = _yesterday(context)
    return dg.RunRequest(run_key=f"reconcile-{day}", partition_key=day)


@dg.schedule(
    job=flowlog_quality_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Each night, Great Expectations validates a sample of the previous day.",
)
def flowlog_quality_schedule(context: dg.ScheduleEvaluationContext):
    day = _yesterday(context)
    return dg.RunRequest(run_key=f"quality-{day}", partition_key=day)
