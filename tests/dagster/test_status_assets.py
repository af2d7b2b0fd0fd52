"""Run failures reach integration status through the run-failure sensor; the status asset
writes `integration_status`."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import sqlalchemy as sa
from warehouse_calls import in_transaction

from cloudinsights_dagster import partitions
from cloudinsights_dagster.assets.inventory import config_changes, inventory_snapshot
from cloudinsights_dagster.assets.status import integration_status
from cloudinsights_dagster.integration_logs import LogFilter, query_logs
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.resources import WarehouseResource
from cloudinsights_dagster.run_time import SNAPSHOT_TIME_TAG
from cloudinsights_dagster.sensors.status import monitoring_run_failure_sensor
from cloudinsights_dagster.status import compute_status
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import get_engine
from cloudinsights_dagster.warehouse.schema import utcnow

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def test_failed_run_turns_the_integration_failed_until_a_run_succeeds(moto_endpoint, tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    registry = Registry(url)
    registry.add_inventory("g1", "inv", "arn:aws:iam::123456789012:role/r", ["us-east-1"])
    key = "123456789012-us-east-1"
    resources = {"warehouse": WarehouseResource(database_url=url)}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(partitions.locations.name, [key])

        def run(at):
            return dg.materialize(
                [inventory_snapshot, config_changes],
                instance=instance,
                resources=resources,
                partition_key=key,
                tags={SNAPSHOT_TIME_TAG: at.isoformat()},
                raise_on_error=False,
            )

        assert run(T0).success
        failed = run(T0 - timedelta(minutes=5))  # the past cannot be snapshotted: run fails
        assert not failed.success

        ctx = dg.build_run_status_sensor_context(
            sensor_name="monitoring_run_failure_sensor",
            dagster_instance=instance,
            dagster_run=failed.dagster_run,
            dagster_event=failed.get_run_failure_event(),
            resources=resources,
        ).for_run_failure()
        monitoring_run_failure_sensor(ctx)

        (entry,) = in_transaction(url, query_logs, LogFilter("g1", category="run"))
        assert entry["severity"] == "error" and "can only move forward" in entry["message"]
        (view,) = in_transaction(registry.database_url, compute_status, registry, utcnow())
        assert view.status == "failed" and "monitoring run failed" in view.reasons[0]

        assert run(T0 + timedelta(minutes=5)).success
        (view,) = in_transaction(registry.database_url, compute_status, registry, utcnow())
        assert view.status == "connected"

        result = dg.materialize([integration_status], instance=instance, resources=resources)
        assert result.success
        meta = result.asset_materializations_for_node("integration_status")[0].metadata
        assert meta["connected"].value == 1
    with get_engine(url).connect() as conn:
        (row,) = conn.execute(sa.select(s.IntegrationStatus)).all()
    assert row.status == "connected"
