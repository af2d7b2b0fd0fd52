"""Every five minutes, snapshot every location, a few runs of many locations each."""

import dagster as dg

from cloudinsights_dagster import partitions, tags
from cloudinsights_dagster.jobs import inventory_job
from cloudinsights_dagster.schedules.inventory_backlog import without_waiting_chunks

# 200 locations -> 4 runs per tick; each run collects several locations in parallel.
LOCATIONS_PER_RUN = 50


def chunk_runs(keys: list[str], size: int, scheduled: str) -> list[dg.RunRequest]:
    requests = []
    for start in range(0, len(keys), size):
        chunk = keys[start : start + size]
        requests.append(
            dg.RunRequest(
                run_key=f"inventory-{scheduled}-{start // size}",
                tags={
                    tags.PARTITION_RANGE_START: chunk[0],
                    tags.PARTITION_RANGE_END: chunk[-1],
                    tags.LOCATIONS: str(len(chunk)),
                },
            )
        )
    return requests


@dg.schedule(
    job=inventory_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Inventory of every active location every five minutes, in runs of "
    f"{LOCATIONS_PER_RUN} locations.",
)
def inventory_schedule(context: dg.ScheduleEvaluationContext):
    keys = context.instance.get_dynamic_partitions(partitions.LOCATIONS)
    if not keys:
        return dg.SkipReason("no locations yet: register an inventory integration")
    scheduled = context.scheduled_execution_time.isoformat()
    return without_waiting_chunks(
        context.instance, inventory_job.name, chunk_runs(list(keys), LOCATIONS_PER_RUN, scheduled)
    )
