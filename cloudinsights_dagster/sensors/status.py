"""Run failures reach the integrations they were monitoring (integration logs, category run)."""

import dagster as dg

from cloudinsights_dagster import partitions
from cloudinsights_dagster.integration_logs import LogEntry, add_logs
from cloudinsights_dagster.resources import WarehouseResource
from cloudinsights_dagster.run_failures import integrations_for_run
from cloudinsights_dagster.warehouse.schema import utcnow


def _step_errors(instance: dg.DagsterInstance, run_id: str) -> str:
    """The failed steps' own error messages, which say what broke (the run event only says
    which steps failed)."""
    messages = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        data = record.dagster_event.step_failure_data if record.dagster_event else None
        if data and data.error:
            messages.append(f"{record.step_key}: {data.error.message.strip()}")
    return "; ".join(messages)


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Logs each failed monitoring run against the integrations it covered, so their "
    "status turns Failed until a later run succeeds.",
)
def monitoring_run_failure_sensor(
    context: dg.RunFailureSensorContext, warehouse: WarehouseResource
) -> None:
    run = context.dagster_run
    keys = context.instance.get_dynamic_partitions(partitions.LOCATIONS)
    error = _step_errors(context.instance, run.run_id) or context.failure_event.message or "failed"
    with warehouse.session() as session:
        integration_ids = integrations_for_run(
            session, warehouse.registry(), run.tags, keys, run.run_id
        )
        add_logs(
            session,
            [
                LogEntry(
                    integration_id,
                    "run",
                    "error",
                    f"run {run.run_id[:8]} of {run.job_name} failed: {error}"[:2000],
                    utcnow(),
                    {"run_id": run.run_id, "job": run.job_name},
                )
                for integration_id in integration_ids
            ],
        )
    context.log.info(f"run {run.run_id} failure logged for integrations {integration_ids}")
