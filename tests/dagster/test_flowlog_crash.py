"""A flow-log run killed mid-run (its process gets SIGKILL, the run stays STARTED in the
instance) blocks nothing: its leases expire, the sensor requests runs for the stranded objects,
and the day completes by itself with every source record exactly once. Two runs that drain the
same day at once share it without overlap."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa
import pyarrow.dataset as pads
import pytest
import sqlalchemy as sa
from flowlog_samples import (
    enis_from_ec2,
    flow_log_gzip,
    object_key,
    sample_records,
)
from warehouse_calls import in_transaction

from cloudinsights_dagster import aws, partitions
from cloudinsights_dagster.assets.inventory import config_changes, inventory_snapshot
from cloudinsights_dagster.definitions import defs
from cloudinsights_dagster.demo.world import build_world
from cloudinsights_dagster.flowlogs.queue import setup_queue
from cloudinsights_dagster.flowlogs.subscriptions import subscribe_due_topics
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.resources import FlowLogQueueResource, WarehouseResource
from cloudinsights_dagster.run_time import SNAPSHOT_TIME_TAG
from cloudinsights_dagster.sensors.flowlogs import flowlog_queue_sensor
from cloudinsights_dagster.status import compute_status
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import get_engine

ACCOUNT = "123456789012"
REGION = "us-east-1"
LOCATION = f"{ACCOUNT}-{REGION}"
DAY = "2026-05-01"
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
OBJECTS = 30
RECORDS = 4_000
LEASE_SECONDS = 2


@pytest.fixture
def world(fast_moto_endpoint, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    out = tmp_path / "flows"
    home = tmp_path / "dagster"
    home.mkdir()
    for name, value in {
        "CLOUDINSIGHTS_FLOWLOGS_OUTPUT": str(out),
        "CLOUDINSIGHTS_DATABASE_URL": url,
        "DAGSTER_HOME": str(home),
    }.items():
        monkeypatch.setenv(name, value)
    registry = Registry(url)
    role = f"arn:aws:iam::{ACCOUNT}:role/cloudinsights"
    session = aws.base_session(REGION)
    topic = aws.client(session, "sns").create_topic(Name="flow-logs")["TopicArn"]
    registry.add_inventory("g1", "inv", role, [REGION])
    registry.add_flowlogs("g1", "flows", role, [topic])
    built = build_world(
        aws.assumed_role_session(aws.RoleTarget(role, "x" * 20), REGION), ACCOUNT, REGION
    )
    queue = setup_queue(session, "collector", REGION, [topic])
    attempts = subscribe_due_topics(registry, session, queue.queue_arn, datetime.now(UTC))
    assert all(a.attempt.ok for a in attempts)
    s3 = aws.client(session, "s3")
    s3.put_bucket_notification_configuration(
        Bucket=built.flow_log_bucket,
        NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    resources = {
        "warehouse": WarehouseResource(database_url=url),
        "flowlog_queue": FlowLogQueueResource(queue_url=queue.queue_url, region=REGION),
    }
    ec2 = aws.client(session, "ec2")
    enis = enis_from_ec2(ec2, built.eni_ids)
    start = int(T0.timestamp()) + 600
    total = 0
    for i in range(OBJECTS):
        rows = sample_records(ACCOUNT, enis, start + 60 * i, RECORDS, seed=i)
        total += len(rows)
        key = object_key(ACCOUNT, REGION, built.flow_log_id, start + 60 * i, suffix=f"o{i}")
        s3.put_object(Bucket=built.flow_log_bucket, Key=key, Body=flow_log_gzip(rows))
    return registry, resources, url, home, total


def _instance_and_inventory(resources):
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(partitions.locations.name, [LOCATION])
    assert dg.materialize(
        [inventory_snapshot, config_changes],
        instance=instance,
        resources=resources,
        partition_key=LOCATION,
        tags={SNAPSHOT_TIME_TAG: T0.isoformat()},
    ).success
    return instance


def _tick(instance, resources):
    with dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), resources=resources, definitions=defs
    ) as ctx:
        return flowlog_queue_sensor.evaluate_tick(ctx)


def _run(instance, request, lease_seconds=LEASE_SECONDS, **overrides):
    config = json.loads(json.dumps(request.run_config))
    config["ops"]["flowlog_records"]["config"].update(lease_seconds=lease_seconds, **overrides)
    result = defs.resolve_job_def("flowlog_job").execute_in_process(
        instance=instance, partition_key=request.partition_key, run_config=config, tags=request.tags
    )
    assert result.success
    return result


def _statuses(url):
    with get_engine(url).connect() as conn:
        return dict(
            conn.execute(
                sa.select(s.FlowLogObject.status, sa.func.count()).group_by(s.FlowLogObject.status)
            ).all()
        )


def _loaded_records(url) -> pa.Table:
    with get_engine(url).connect() as conn:
        paths = list(
            conn.execute(
                sa.select(s.FlowLogObject.output_path).where(s.FlowLogObject.status == "loaded")
            ).scalars()
        )
    return pads.dataset(paths, format="parquet").to_table(
        columns=["interface_id", "start", "srcaddr", "dstaddr", "srcport", "dstport", "bytes"]
    )


KILLED_RUN = textwrap.dedent(
    """
    import sys
    from cloudinsights_dagster.definitions import defs
    import dagster as dg
    config = {"ops": {"flowlog_records": {"config": {"lease_seconds": %d}}}}
    defs.resolve_job_def("flowlog_job").execute_in_process(
        instance=dg.DagsterInstance.get(), partition_key=%r, run_config=config,
        tags={"cloudinsights/kind": "flowlogs"},
    )
    """
)


def test_a_killed_run_blocks_nothing_and_the_day_completes_by_itself(world):
    registry, resources, url, home, total = world
    instance = _instance_and_inventory(resources)
    result = _tick(instance, resources)
    assert [r.partition_key for r in result.run_requests] == [DAY]
    assert _statuses(url) == {"pending": OBJECTS}

    # The run's process dies mid-run: some objects loaded, others claimed and unfinished.
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN % (LEASE_SECONDS, DAY)], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        states = _statuses(url)
        if states.get("loaded", 0) >= 1 and states.get("claimed", 0) >= 1:
            break
        assert proc.poll() is None, "the run finished before it could be killed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stranded = _statuses(url)
    assert stranded.get("claimed", 0) >= 1 and stranded.get("loaded", 0) < OBJECTS

    instance = dg.DagsterInstance.get()  # "restart": a new instance object on the same storage
    (zombie,) = instance.get_runs(dg.RunsFilter(job_name="flowlog_job"))
    assert zombie.status == dg.DagsterRunStatus.STARTED  # nobody marks it failed here

    time.sleep(LEASE_SECONDS + 0.5)
    (flows,) = [
        v
        for v in in_transaction(registry.database_url, compute_status, registry, datetime.now(UTC))
        if v.integration.name == "flows"
    ]
    assert flows.status == "connected_with_warning"
    assert any("waiting past their lease" in reason for reason in flows.reasons)

    for _ in range(3):  # a few ticks, each running what it requests
        requests = _tick(instance, resources).run_requests
        if not requests:
            break
        for request in requests:
            _run(instance, request)
    assert _statuses(url) == {"loaded": OBJECTS}
    assert not _tick(instance, resources).run_requests

    # Every source record exactly once: one output per object, each with its object's records.
    assert _loaded_records(url).num_rows == total
    with get_engine(url).connect() as conn:
        rows = conn.execute(sa.select(s.FlowLogObject.output_path, s.FlowLogObject.records_loaded))
        outputs = dict(rows.all())
    assert len(outputs) == OBJECTS and set(outputs.values()) == {RECORDS}


def test_two_runs_share_a_day_without_overlap(world):
    """Two run processes drain the same day at once, each claiming half of it."""
    registry, resources, url, home, total = world
    instance = _instance_and_inventory(resources)
    assert [r.partition_key for r in _tick(instance, resources).run_requests] == [DAY]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    script = KILLED_RUN.replace('"lease_seconds": %d', '"lease_seconds": %d, "max_objects": %d')
    procs = [
        subprocess.Popen([sys.executable, "-c", script % (600, OBJECTS // 2, DAY)], env=env)
        for _ in range(2)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert _statuses(url) == {"loaded": OBJECTS}
    with get_engine(url).connect() as conn:
        runs = set(conn.execute(sa.select(s.FlowLogObject.claimed_by_run)).scalars())
    assert len(runs) == 2  # both runs took part
    assert _loaded_records(url).num_rows == total
