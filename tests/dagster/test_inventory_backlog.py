"""The inventory schedule does not queue a location again while its previous run still waits
to start: the tick is skipped for those locations (and status names skipped ticks)."""

from datetime import UTC, datetime

import dagster as dg

from cloudinsights_dagster import partitions
from cloudinsights_dagster.definitions import defs
from cloudinsights_dagster.schedules.inventory import inventory_schedule

KEYS = [f"{n:012d}-us-east-1" for n in range(1, 121)]  # 3 runs of 50, 50, 20


def _tick(instance, minute: int):
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=datetime(2026, 5, 1, 10, minute, tzinfo=UTC)
    ) as ctx:
        return inventory_schedule(ctx)


def _queue(instance, request: dg.RunRequest) -> None:
    """A run created for the request that has not started (as one waiting for a worker)."""
    job = defs.resolve_job_def("inventory_job")
    run = instance.create_run_for_job(job, tags=request.tags)
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.NOT_STARTED


def test_a_chunk_whose_run_waits_is_not_requested_again(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.add_dynamic_partitions(partitions.locations.name, KEYS)
        first = list(_tick(instance, 0))
        assert len(first) == 3
        _queue(instance, first[1])  # the second chunk's run never starts
        second = list(_tick(instance, 5))
        starts = [r.tags["dagster/asset_partition_range_start"] for r in second]
        assert starts == [KEYS[0], KEYS[100]]  # the waiting chunk is skipped this tick
        for request in first:
            if request is not first[1]:
                _queue(instance, request)
        skipped = _tick(instance, 10)
        assert isinstance(skipped, dg.SkipReason)
        assert "all 3 inventory run(s) of the previous tick still wait to start" in (
            skipped.skip_message
        )
