"""The code location: assembles what the other modules define."""

import dagster as dg

from cloudinsights_dagster.assets.compaction import (
    flow_records_compacted,
    flowlog_compaction_job,
    flowlog_compaction_schedule,
)
from cloudinsights_dagster.assets.flowlogs import (
    flowlog_records,
    great_expectations_suite,
    notified_objects_complete,
)
from cloudinsights_dagster.assets.inventory import config_changes, inventory_snapshot
from cloudinsights_dagster.assets.status import integration_status
from cloudinsights_dagster.assets.views import topology, traffic_views
from cloudinsights_dagster.jobs import (
    flowlog_job,
    flowlog_quality_job,
    flowlog_quality_schedule,
    flowlog_reconcile_job,
    flowlog_reconcile_schedule,
    inventory_job,
    status_job,
    status_schedule,
)
from cloudinsights_dagster.resources import FlowLogQueueResource, WarehouseResource
from cloudinsights_dagster.schedules.inventory import inventory_schedule
from cloudinsights_dagster.schedules.retention import run_retention_job, run_retention_schedule
from cloudinsights_dagster.sensors.flowlogs import flowlog_queue_sensor, topic_subscription_sensor
from cloudinsights_dagster.sensors.locations import location_sync_sensor
from cloudinsights_dagster.sensors.status import monitoring_run_failure_sensor

defs = dg.Definitions(
    assets=[
        inventory_snapshot,
        config_changes,
        topology,
        flowlog_records,
        flow_records_compacted,
        traffic_views,
        integration_status,
    ],
    asset_checks=[great_expectations_suite, notified_objects_complete],
    jobs=[
        inventory_job,
        flowlog_job,
        flowlog_quality_job,
        flowlog_reconcile_job,
        status_job,
        flowlog_compaction_job,
        run_retention_job,
    ],
    schedules=[
        inventory_schedule,
        status_schedule,
        flowlog_reconcile_schedule,
        flowlog_quality_schedule,
        flowlog_compaction_schedule,
        run_retention_schedule,
    ],
    sensors=[
        location_sync_sensor,
        flowlog_queue_sensor,
        topic_subscription_sensor,
        monitoring_run_failure_sensor,
    ],
    resources={"warehouse": WarehouseResource(), "flowlog_queue": FlowLogQueueResource()},
)
