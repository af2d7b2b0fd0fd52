"""Run retention on a real Dagster instance: finished runs past their kind's retention are
deleted with their events and compute logs; newer runs and unfinished runs stay."""

import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from cloudinsights_dagster.run_retention import KIND_TAG, RetentionPolicy, purge_old_runs
from cloudinsights_dagster.schedules.retention import run_retention_job, run_retention_schedule
from cloudinsights_dagster.settings import RUN_RETENTION_INVENTORY_DAYS_ENV
from cloudinsights_dagster.warehouse.schema import utcnow


@dg.op
def say_something(context: dg.OpExecutionContext) -> int:
    context.log.info("hello")
    print("captured stdout")
    return 1


@dg.job(executor_def=dg.in_process_executor)
def tiny_job():
    say_something()


def _run(instance, kind: str | None) -> str:
    tags = {KIND_TAG: kind} if kind else {}
    result = tiny_job.execute_in_process(instance=instance, tags=tags)
    assert result.success
    return result.run_id


def _exists(instance, run_id: str) -> bool:
    return instance.get_run_by_id(run_id) is not None


def test_purge_deletes_by_kind_and_age_only_finished_runs(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        inventory = _run(instance, "inventory")
        flowlogs = _run(instance, "flowlogs")
        untagged = _run(instance, None)
        # A run still going (e.g. a long backfill): never deleted, however old.
        running = instance.create_run_for_job(tiny_job, tags={KIND_TAG: "inventory"})
        instance.handle_run_event(
            running.run_id,
            dg.DagsterEvent(
                event_type_value=dg.DagsterEventType.RUN_START.value, job_name="tiny_job"
            ),
        )
        assert instance.get_run_by_id(running.run_id).status == dg.DagsterRunStatus.STARTED
        assert instance.all_logs(inventory)
        logs_dir = Path(tmp_path) / "storage" / inventory
        assert any(logs_dir.rglob("*.out"))  # the run's captured stdout/stderr

        now = utcnow()
        policy = RetentionPolicy()  # 3 days inventory, 14 others
        assert purge_old_runs(instance, policy, now + timedelta(days=1)).total == 0

        report = purge_old_runs(instance, policy, now + timedelta(days=4))
        assert dict(report.deleted) == {"inventory": 1}
        assert not _exists(instance, inventory)
        assert instance.all_logs(inventory) == []  # its events are gone with it
        assert not logs_dir.exists()  # its compute logs too
        assert all(_exists(instance, r) for r in (flowlogs, untagged, running.run_id))

        report = purge_old_runs(instance, policy, now + timedelta(days=15))
        assert dict(report.deleted) == {"flowlogs": 1, "other": 1}
        assert _exists(instance, running.run_id)
        assert [r.run_id for r in instance.get_runs()] == [running.run_id]


def test_inventory_runs_may_be_kept_longer_than_others(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        inventory, other = _run(instance, "inventory"), _run(instance, "flowlogs")
        policy = RetentionPolicy(inventory_days=30, other_days=2)
        report = purge_old_runs(instance, policy, utcnow() + timedelta(days=5))
        assert dict(report.deleted) == {"flowlogs": 1}
        assert _exists(instance, inventory) and not _exists(instance, other)


def test_the_retention_job_purges_on_a_real_instance(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        old = [_run(instance, "quality") for _ in range(3)] + [_run(instance, "flowlogs")]
        kept = _run(instance, "inventory")
        time.sleep(1.2)
        # Other runs are kept one second (in days), inventory runs a day: whatever the machine's
        # speed, the four runs above are past their retention and `kept` is not.
        result = run_retention_job.execute_in_process(
            instance=instance,
            run_config={
                "ops": {"purge_runs": {"config": {"inventory_days": 1, "other_days": 1 / 86400}}}
            },
        )
        assert result.success
        assert result.output_for_node("purge_runs") == 4
        assert not any(_exists(instance, r) for r in old)
        assert _exists(instance, kept) and _exists(instance, result.run_id)
        assert run_retention_schedule.cron_schedule == "15 4 * * *"


def test_retention_days_come_from_the_environment_with_a_clear_error(monkeypatch):
    monkeypatch.setenv(RUN_RETENTION_INVENTORY_DAYS_ENV, "1.5")
    assert RetentionPolicy.from_env() == RetentionPolicy(1.5, 14.0)
    assert RetentionPolicy.from_env(inventory_days=7).inventory_days == 7
    monkeypatch.setenv(RUN_RETENTION_INVENTORY_DAYS_ENV, "never")
    with pytest.raises(ValueError, match="CLOUDINSIGHTS_RUN_RETENTION_INVENTORY_DAYS='never'"):
        RetentionPolicy.from_env()
