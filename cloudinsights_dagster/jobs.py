"""Jobs and the schedule of the status job: which assets run together."""

import dagster as dg

from cloudinsights_dagster.assets.flowlogs import flowlog_records
from cloudinsights_dagster.assets.inventory import config_changes, inventory_snapshot
from cloudinsights_dagster.assets.status import integration_status
from cloudinsights_dagster.assets.views import topology, traffic_views

KIND_TAG = "cloudinsights/kind"

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

flowlog_job = dg.define_asset_job(
    "flowlog_job",
    selection=dg.AssetSelection.assets(flowlog_records, traffic_views),
    tags={KIND_TAG: "flowlogs"},
    description="Drain the pending flow-log objects of one location x day partition and "
    "re-aggregate the windows they touch.",
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
