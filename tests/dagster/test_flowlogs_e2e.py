"""Flow logs end to end on a moto server: S3 -> SNS -> SQS -> sensor -> ledger -> partition run
-> enriched Parquet; duplicates, a malformed message, a bad file and an unmonitored account; then
wipe and backfill, and compare with live ingestion."""

import json
import shutil
from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa
import pyarrow.dataset as pads
import pytest
import sqlalchemy as sa
from flowlog_samples import (
    DEFAULT_LIKE_FORMAT,
    enis_from_ec2,
    flow_log_gzip,
    object_key,
    sample_records,
)
from warehouse_calls import in_transaction

from cloudinsights_dagster import aws, partitions
from cloudinsights_dagster.assets.flowlogs import flowlog_records
from cloudinsights_dagster.assets.inventory import config_changes, inventory_snapshot
from cloudinsights_dagster.assets.views import traffic_views
from cloudinsights_dagster.demo.world import build_world
from cloudinsights_dagster.flowlogs.queue import setup_queue, subscribe_topics
from cloudinsights_dagster.integration_logs import LogFilter, query_logs
from cloudinsights_dagster.jobs import flowlog_job
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.resources import FlowLogQueueResource, WarehouseResource
from cloudinsights_dagster.run_time import SNAPSHOT_TIME_TAG
from cloudinsights_dagster.sensors.flowlogs import flowlog_queue_sensor
from cloudinsights_dagster.views.partials import SMALL_OBJECT_RECORDS
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import get_engine

ACCOUNT = "123456789012"  # moto's own: SNS -> SQS is modelled within one account only
REGION = "us-east-1"
LOCATION = f"{ACCOUNT}-{REGION}"
DAY = "2026-05-01"
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def setup(moto_endpoint, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    out = tmp_path / "flows"
    monkeypatch.setenv("CLOUDINSIGHTS_FLOWLOGS_OUTPUT", str(out))
    registry = Registry(url)
    role = f"arn:aws:iam::{ACCOUNT}:role/cloudinsights"
    session = aws.base_session(REGION)
    sns = aws.client(session, "sns")
    topic = sns.create_topic(Name="flow-logs")["TopicArn"]
    registry.add_inventory("g1", "inv", role, [REGION])
    registry.add_flowlogs("g1", "flows", role, [topic])
    world = build_world(
        aws.assumed_role_session(aws.RoleTarget(role, "x" * 20), REGION), ACCOUNT, REGION
    )
    s3 = aws.client(session, "s3")
    queue = setup_queue(session, "collector", REGION, [topic])
    assert all(a.ok for a in subscribe_topics(session, queue.queue_arn, [topic]))
    s3.put_bucket_notification_configuration(
        Bucket=world.flow_log_bucket,
        NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    resources = {
        "warehouse": WarehouseResource(database_url=url),
        "flowlog_queue": FlowLogQueueResource(queue_url=queue.queue_url, region=REGION),
    }
    return registry, world, s3, queue, resources, out


def _enis(world):
    ec2 = aws.client(aws.base_session(REGION), "ec2")
    return enis_from_ec2(ec2, world.eni_ids)


def _records(outputs):
    table = pads.dataset([str(p) for p in outputs], format="parquet").to_table()
    plain = [
        c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns
    ]
    table = pa.table(plain, names=table.column_names)
    return table.sort_by(
        [
            ("interface_id", "ascending"),
            ("start", "ascending"),
            ("srcaddr", "ascending"),
            ("dstaddr", "ascending"),
            ("bytes", "ascending"),
        ]
    )


def _baseline_inventory(instance, resources):
    """The location's partition and its first inventory snapshot, which enrichment needs."""
    instance.add_dynamic_partitions(partitions.locations.name, [LOCATION])
    assert dg.materialize(
        [inventory_snapshot, config_changes],
        instance=instance,
        resources=resources,
        partition_key=LOCATION,
        tags={SNAPSHOT_TIME_TAG: T0.isoformat()},
    ).success


def _stored_throughput(url):
    with get_engine(url).connect() as conn:
        rows = conn.execute(
            sa.select(
                s.EntityThroughput.window_start,
                s.EntityThroughput.entity_type,
                s.EntityThroughput.entity_id,
                s.EntityThroughput.direction,
                s.EntityThroughput.action,
                s.EntityThroughput.bytes,
                s.EntityThroughput.flows,
            )
        ).all()
    return sorted(tuple(r) for r in rows)


def test_live_ingestion_then_backfill_gives_the_same_records(setup):
    registry, world, s3, queue, resources, out = setup
    with dg.instance_for_test() as instance:
        _baseline_inventory(instance, resources)
        enis = _enis(world)
        start = int(T0.timestamp()) + 600
        # One object large enough for a views partial, one below SMALL_OBJECT_RECORDS (none:
        # the refresh reads its records).
        good = [
            sample_records(ACCOUNT, enis, start + 300 * i, n, seed=i)
            for i, n in enumerate((SMALL_OBJECT_RECORDS, 120))
        ]
        keys = [
            object_key(ACCOUNT, REGION, world.flow_log_id, start + 300 * i, suffix=f"f{i}")
            for i in range(2)
        ]
        for key, rows in zip(keys, good, strict=True):
            s3.put_object(Bucket=world.flow_log_bucket, Key=key, Body=flow_log_gzip(rows))
        # The same object notified twice (same content, same eTag).
        s3.put_object(Bucket=world.flow_log_bucket, Key=keys[0], Body=flow_log_gzip(good[0]))
        bad_key = object_key(ACCOUNT, REGION, world.flow_log_id, start + 900, suffix="bad")
        s3.put_object(
            Bucket=world.flow_log_bucket,
            Key=bad_key,
            Body=flow_log_gzip(good[0][:5], DEFAULT_LIKE_FORMAT),
        )
        foreign_key = object_key("999999999999", REGION, "fl-x", start, suffix="foreign")
        s3.put_object(Bucket=world.flow_log_bucket, Key=foreign_key, Body=flow_log_gzip(good[0]))
        sqs = aws.client(aws.base_session(REGION), "sqs")
        sqs.send_message(QueueUrl=queue.queue_url, MessageBody=json.dumps({"Type": "Nonsense"}))

        sensor_defs = dg.Definitions(
            assets=[flowlog_records, traffic_views],
            jobs=[flowlog_job],
            sensors=[flowlog_queue_sensor],
            resources=resources,
        )
        with dg.build_sensor_context(
            instance=instance,
            instance_ref=instance.get_ref(),
            resources=resources,
            definitions=sensor_defs,
        ) as ctx:
            result = flowlog_queue_sensor.evaluate_tick(ctx)
        (request,) = result.run_requests
        assert request.partition_key == DAY

        with get_engine(registry.database_url).connect() as conn:
            ledger = {r.object_key: r for r in conn.execute(sa.select(s.FlowLogObject))}
        assert {k: r.status for k, r in ledger.items()} == {
            keys[0]: "pending",
            keys[1]: "pending",
            bad_key: "pending",
            foreign_key: "filtered",
        }
        attrs = sqs.get_queue_attributes(QueueUrl=queue.queue_url, AttributeNames=["All"])
        # Only the malformed message is left (in flight), for the dead-letter queue.
        assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"
        assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"

        live = dg.materialize(
            [flowlog_records, traffic_views],
            instance=instance,
            resources=resources,
            partition_key=request.partition_key,
        )
        assert live.success
        meta = live.asset_materializations_for_node("flowlog_records")[0].metadata
        assert meta["objects_loaded"].value == 2 and meta["objects_failed"].value == 1
        (check,) = live.get_asset_check_evaluations()
        assert check.passed and check.metadata["records"].value == sum(len(r) for r in good)
        views = live.asset_materializations_for_node("traffic_views")[0].metadata
        assert (views["objects_merged"].value, views["objects_from_partials"].value) == (2, 1)
        assert len(list((out / "views" / "_partials").rglob("*.arrow"))) == 1
        throughput = _stored_throughput(registry.database_url)
        assert throughput and views["columnar_rows"].value >= len(throughput)

        with get_engine(registry.database_url).connect() as conn:
            ledger = {r.object_key: r for r in conn.execute(sa.select(s.FlowLogObject))}
        assert ledger[bad_key].status == "failed"
        assert "flow-direction" in ledger[bad_key].error
        outputs = [ledger[k].output_path for k in keys]
        records = _records(outputs)
        assert records.num_rows == sum(len(rows) for rows in good)
        by_eni = {e.interface_id: e.instance_id for e in enis}
        pairs = set(
            zip(
                records["interface_id"].to_pylist(),
                records["eni_instance_id"].to_pylist(),
                strict=True,
            )
        )
        for eni, instance_id in pairs:
            assert instance_id == (None if by_eni[eni] == "-" else by_eni[eni])

        parse_errors = in_transaction(
            registry.database_url, query_logs, LogFilter("g1", category="logParse")
        )
        assert len(parse_errors) == 1 and bad_key in parse_errors[0]["details"]["key"]
        assert "recreate" in parse_errors[0]["message"]
        filtered = in_transaction(
            registry.database_url, query_logs, LogFilter("g1", category="logFilter")
        )
        assert [f["details"]["key"] for f in filtered] == [foreign_key]

        # Wipe the ledger and the outputs; a backfill of the partition finds the same objects.
        with get_engine(registry.database_url).begin() as conn:
            conn.execute(sa.delete(s.FlowLogObject))
        shutil.rmtree(out)
        backfill = dg.materialize(
            [flowlog_records, traffic_views],
            instance=instance,
            resources=resources,
            partition_key=request.partition_key,
            tags={"dagster/backfill": "test"},
        )
        assert backfill.success
        with get_engine(registry.database_url).connect() as conn:
            after = {r.object_key: r for r in conn.execute(sa.select(s.FlowLogObject))}
        assert after[bad_key].status == "failed"
        assert {after[k].status for k in keys} == {"loaded"}
        assert after[keys[0]].source == "backfill"
        assert _records([after[k].output_path for k in keys]).equals(records)
        assert _stored_throughput(registry.database_url) == throughput

        # Reprocessing the loaded objects replaces their partials: the views count them once.
        again = dg.materialize(
            [flowlog_records, traffic_views],
            instance=instance,
            resources=resources,
            partition_key=request.partition_key,
            tags={"dagster/backfill": "again"},
        )
        assert again.success
        views = again.asset_materializations_for_node("traffic_views")[0].metadata
        assert (views["objects_merged"].value, views["objects_from_partials"].value) == (2, 1)
        assert len(list((out / "views" / "_partials").rglob("*.arrow"))) == 1
        assert _stored_throughput(registry.database_url) == throughput


def test_values_out_of_domain_fail_the_check_and_reach_the_status(setup):
    registry, world, s3, queue, resources, out = setup
    with dg.instance_for_test() as instance:
        _baseline_inventory(instance, resources)
        start = int(T0.timestamp()) + 600
        rows = sample_records(ACCOUNT, _enis(world), start, 50)
        for row in rows[:3]:
            if row["log-status"] == "OK":
                row["dstport"] = "70000"  # no such port
                row["traffic-path"] = "9"  # AWS documents 1..8
        key = object_key(ACCOUNT, REGION, world.flow_log_id, start, suffix="odd")
        s3.put_object(Bucket=world.flow_log_bucket, Key=key, Body=flow_log_gzip(rows))
        # No notification: the reconciling run finds the object by listing the day.
        result = dg.materialize(
            [flowlog_records, traffic_views],
            instance=instance,
            resources=resources,
            partition_key=DAY,
            run_config={"ops": {"flowlog_records": {"config": {"reconcile": True}}}},
            raise_on_error=False,
        )
        (check,) = result.get_asset_check_evaluations()
        assert not check.passed
        (materialization,) = result.asset_materializations_for_node("flowlog_records")
        assert materialization.metadata["objects_unannounced"].value == 1
        summary = check.metadata["summary"].value
        assert "dstport" in summary and "traffic_path" in summary
        assert not result.success  # the check blocks: views are not built on bad data
        (entry,) = in_transaction(
            registry.database_url, query_logs, LogFilter("g1", category="check")
        )
        assert entry["severity"] == "error" and "dstport" in entry["message"]
