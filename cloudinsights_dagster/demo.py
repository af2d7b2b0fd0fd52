"""`make demo`: the product end to end on the embedded default, with no AWS account.

An in-process moto server on 127.0.0.1 plays AWS; the warehouse is SQLite under
CLOUDINSIGHTS_HOME; Dagster runs in process on the instance under DAGSTER_HOME, so `make ui`
shows the runs, materializations and checks afterwards. Five-minute ticks are replayed quickly:
each run carries the time it stands for.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime, timedelta

from moto.server import ThreadedMotoServer

DEMO_GROUP = "demo"
DEMO_ACCOUNT = "123456789012"  # moto's default account: SNS -> SQS works within one account
DEMO_REGIONS = ("us-east-1", "eu-west-1")
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TICK = timedelta(minutes=5)


def start_fake_aws() -> tuple[ThreadedMotoServer, str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="demo",
        AWS_SECRET_ACCESS_KEY="demo",
        AWS_DEFAULT_REGION="us-east-1",
    )
    os.environ.pop("AWS_PROFILE", None)
    return server, endpoint


def say(text: str) -> None:
    print(text, flush=True)


def prepare_dagster_home() -> None:
    """A local Dagster instance under CLOUDINSIGHTS_HOME unless DAGSTER_HOME says otherwise,
    with telemetry off (nothing leaves this machine)."""
    from pathlib import Path

    from cloudinsights_dagster.settings import load_settings

    home = Path(os.environ.get("DAGSTER_HOME") or load_settings().home / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")


def main() -> int:
    prepare_dagster_home()
    server, endpoint = start_fake_aws()
    try:
        return run_demo(endpoint)
    finally:
        server.stop()


def run_demo(endpoint: str) -> int:
    import dagster as dg
    import sqlalchemy as sa

    from cloudinsights_dagster import aws
    from cloudinsights_dagster.assets.inventory import config_changes, inventory_snapshot
    from cloudinsights_dagster.assets.views import topology
    from cloudinsights_dagster.demo_world import build_world
    from cloudinsights_dagster.instance_sync import sync_location_partitions
    from cloudinsights_dagster.policies import trust_policy
    from cloudinsights_dagster.registry import Registry, RegistryError
    from cloudinsights_dagster.resources import WarehouseResource
    from cloudinsights_dagster.run_time import SNAPSHOT_TIME_TAG
    from cloudinsights_dagster.settings import load_settings
    from cloudinsights_dagster.trust import check_trust_relationship
    from cloudinsights_dagster.warehouse import schema as s
    from cloudinsights_dagster.warehouse.db import get_engine

    settings = load_settings()
    registry = Registry(settings.database_url)
    say(f"fake AWS (moto) at {endpoint}\nwarehouse {settings.database_url}")

    # 1. Integrations: the role's trust policy comes from the registry, as a user would paste it.
    session = aws.base_session()
    iam = aws.client(session, "iam")
    trust = trust_policy(f"arn:aws:iam::{DEMO_ACCOUNT}:root", registry.external_id(DEMO_GROUP))
    iam.create_role(RoleName="cloudinsights-demo", AssumeRolePolicyDocument=json.dumps(trust))
    role_arn = f"arn:aws:iam::{DEMO_ACCOUNT}:role/cloudinsights-demo"
    try:
        registry.add_inventory(DEMO_GROUP, "demo-inventory", role_arn, list(DEMO_REGIONS))
    except RegistryError as exc:
        say(f"(kept from an earlier demo: {exc})")
    say(check_trust_relationship(role_arn, registry.external_id(DEMO_GROUP)).message)

    # 2. A network in each region.
    target = aws.RoleTarget(role_arn, registry.external_id(DEMO_GROUP))
    worlds = {}
    for n, region in enumerate(DEMO_REGIONS):
        worlds[region] = build_world(
            aws.assumed_role_session(target, region), DEMO_ACCOUNT, region, cidr_octet=20 + n
        )
    say(f"built a network in {', '.join(DEMO_REGIONS)}")

    with dg.DagsterInstance.get() as instance:
        added, _ = sync_location_partitions(instance, registry)
        keys = [loc.key for loc in registry.locations()]
        say(f"locations: {', '.join(keys)} (+{len(added)} partitions)")
        resources = {"warehouse": WarehouseResource(database_url=settings.database_url)}

        def tick(at: datetime) -> None:
            result = dg.materialize(
                [inventory_snapshot, config_changes, topology],
                instance=instance,
                resources=resources,
                tags={
                    "dagster/asset_partition_range_start": keys[0],
                    "dagster/asset_partition_range_end": keys[-1],
                    SNAPSHOT_TIME_TAG: at.isoformat(),
                },
            )
            meta = result.asset_materializations_for_node("config_changes")[0].metadata
            say(
                f"  tick {at:%H:%M}: run {result.run_id[:8]} ok={result.success}, "
                f"{meta['changes'].value} change(s)"
            )

        # 3. Three five-minute ticks, the network changing in between.
        say("inventory ticks:")
        latest = START
        with get_engine(settings.database_url).connect() as conn:
            done = conn.scalar(sa.select(sa.func.max(s.InventorySnapshot.snapshot_time)))
        if done is not None:
            latest = done + TICK  # a repeated demo continues where the last one stopped
        tick(latest)
        world = worlds["us-east-1"]
        ec2 = aws.client(aws.assumed_role_session(target, "us-east-1"), "ec2")
        ec2.authorize_security_group_ingress(
            GroupId=world.security_group_id,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 5432,
                    "ToPort": 5432,
                    "IpRanges": [{"CidrIp": "10.99.0.0/16", "Description": "reporting"}],
                }
            ],
        )
        ec2.create_tags(Resources=[world.instance_ids[0]], Tags=[{"Key": "Name", "Value": "api"}])
        tick(latest + TICK)
        ec2.revoke_security_group_ingress(
            GroupId=world.security_group_id,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                }
            ],
        )
        tick(latest + 2 * TICK)

    with get_engine(settings.database_url).connect() as conn:
        rows = conn.execute(
            sa.select(s.ConfigChange)
            .where(s.ConfigChange.change_time > latest)
            .order_by(s.ConfigChange.change_time, s.ConfigChange.resource_type)
        ).all()
    say("config changes:")
    for row in rows:
        paths = ", ".join(f["path"] for f in row.changed_fields) or "-"
        say(
            f"  {row.change_time:%H:%M} {row.location_key} {row.change_type} "
            f"{row.resource_type} {row.resource_id}: {paths}"
        )
    flows_ok = run_flow_logs(registry, settings, worlds, latest)
    show_reject_explanations(registry)
    show_status(registry)
    say(f"topology pictures: {settings.home / 'topology'}")
    say("open the UI with `make ui` (http://127.0.0.1:3000) to see the runs and checks")
    return 0 if rows and flows_ok else 1


def run_flow_logs(registry, settings, worlds, start: datetime) -> bool:
    """Flow logs the way AWS delivers them: files in S3, notified through SNS to the collector's
    SQS queue; the sensor records them and requests a run per location x day."""
    import dagster as dg

    from cloudinsights_dagster import aws
    from cloudinsights_dagster.assets.flowlogs import flowlog_records
    from cloudinsights_dagster.assets.views import traffic_views
    from cloudinsights_dagster.flowlogs.queue import setup_queue
    from cloudinsights_dagster.flowlogs.sample import (
        DEFAULT_LIKE_FORMAT,
        Eni,
        flow_log_gzip,
        object_key,
        sample_records,
    )
    from cloudinsights_dagster.flowlogs.subscriptions import subscribe_due_topics
    from cloudinsights_dagster.jobs import flowlog_job
    from cloudinsights_dagster.registry import RegistryError
    from cloudinsights_dagster.resources import FlowLogQueueResource, WarehouseResource
    from cloudinsights_dagster.sensors.flowlogs import flowlog_queue_sensor
    from cloudinsights_dagster.warehouse.schema import utcnow

    region = "us-east-1"
    world = worlds[region]
    session = aws.base_session(region)
    topic = aws.client(session, "sns").create_topic(Name="demo-flow-logs")["TopicArn"]
    try:
        registry.add_flowlogs(
            DEMO_GROUP,
            "demo-flow-logs",
            f"arn:aws:iam::{DEMO_ACCOUNT}:role/cloudinsights-demo",
            [topic],
        )
    except RegistryError as exc:
        say(f"(kept from an earlier demo: {exc})")
    queue = setup_queue(session, "cloudinsights-demo", region, [topic])
    attempts = subscribe_due_topics(registry, session, queue.queue_arn, utcnow(), force=True)
    say(
        f"flow logs: queue {queue.queue_arn}, {sum(a.attempt.ok for a in attempts)} topic(s) "
        "subscribed"
    )
    s3 = aws.client(session, "s3")
    s3.put_bucket_notification_configuration(
        Bucket=world.flow_log_bucket,
        NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    ec2 = aws.client(session, "ec2")
    found = ec2.describe_network_interfaces(NetworkInterfaceIds=world.eni_ids)["NetworkInterfaces"]
    enis = [
        Eni(
            e["NetworkInterfaceId"],
            e["PrivateIpAddress"],
            e["VpcId"],
            e["SubnetId"],
            (e.get("Attachment") or {}).get("InstanceId", "-"),
        )
        for e in found
    ]
    first = int(start.timestamp())
    for n in range(3):
        at = first + 300 * n
        rows = sample_records(
            DEMO_ACCOUNT, enis, at, 2000, seed=n, reject_share=0.1 if n < 2 else 0.5
        )
        s3.put_object(
            Bucket=world.flow_log_bucket,
            Body=flow_log_gzip(rows),
            Key=object_key(DEMO_ACCOUNT, region, world.flow_log_id, at + 600, suffix=f"demo{n}"),
        )
    old_format = object_key(DEMO_ACCOUNT, region, "fl-0ldformat", first + 900, suffix="v2")
    s3.put_object(
        Bucket=world.flow_log_bucket,
        Key=old_format,
        Body=flow_log_gzip(rows[:10], DEFAULT_LIKE_FORMAT),
    )
    say("uploaded 3 flow-log files and 1 in AWS's default format (it lacks mandatory fields)")

    resources = {
        "warehouse": WarehouseResource(database_url=settings.database_url),
        "flowlog_queue": FlowLogQueueResource(queue_url=queue.queue_url, region=region),
    }
    defs = dg.Definitions(
        assets=[flowlog_records, traffic_views],
        jobs=[flowlog_job],
        sensors=[flowlog_queue_sensor],
        resources=resources,
    )
    ok = True
    with dg.DagsterInstance.get() as instance:
        tick = flowlog_queue_sensor.evaluate_tick(
            dg.build_sensor_context(
                instance=instance,
                instance_ref=instance.get_ref(),
                definitions=defs,
                resources=resources,
            )
        )
        say(f"sensor tick: {len(tick.run_requests)} flow-log run(s) requested")
        for request in tick.run_requests:
            result = dg.materialize(
                [flowlog_records, traffic_views],
                instance=instance,
                resources=resources,
                partition_key=request.partition_key,
                run_config=request.run_config,
                tags=request.tags,
            )
            meta = result.asset_materializations_for_node("flowlog_records")[0].metadata
            ok = ok and result.success
            say(
                f"  {request.partition_key}: run {result.run_id[:8]} ok={result.success}, "
                f"{meta['objects_loaded'].value} object(s) loaded, "
                f"{meta['objects_failed'].value} failed, "
                f"{meta['records_loaded'].value} records"
            )
    return ok


def show_reject_explanations(registry) -> None:
    """The change that best explains a shift in rejected traffic, and the rejects' reasons."""
    import sqlalchemy as sa

    from cloudinsights_dagster.warehouse import schema as s
    from cloudinsights_dagster.warehouse.db import session_scope

    with session_scope(registry.database_url) as session:
        best = session.scalars(
            sa.select(s.ChangeImpact)
            .where(s.ChangeImpact.explains.is_(True))
            .order_by(s.ChangeImpact.score.desc())
            .limit(1)
        ).first()
        reasons = session.execute(
            sa.select(s.RejectReason.reason, sa.func.sum(s.RejectReason.flows))
            .group_by(s.RejectReason.reason)
            .order_by(sa.func.sum(s.RejectReason.flows).desc())
        ).all()
    say("rejected traffic:")
    for reason, flows in reasons:
        say(f"  {flows} flow(s): {reason}")
    if best is not None:
        say(
            f"  the change that explains the reject shift: {best.change_type} "
            f"{best.resource_type} {best.resource_id} at {best.change_time:%H:%M}"
            + (f" ({best.explanation})" if best.explanation else "")
        )


def show_status(registry) -> None:
    from cloudinsights_dagster.status import TITLES, compute_status, store_status
    from cloudinsights_dagster.warehouse.schema import utcnow

    now = utcnow()
    views = compute_status(registry, now, DEMO_GROUP)
    store_status(registry, views, now)
    say("integration status:")
    for view in views:
        say(f"  {view.integration.name}: {TITLES[view.status]}")
        for reason in view.reasons:
            say(f"    - {reason}")


if __name__ == "__main__":
    sys.exit(main())
