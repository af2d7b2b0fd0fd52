"""Inventory end to end: moto server worlds in two accounts x two regions, the Dagster assets
materialized over a partition range in one run, the world changed, materialized again."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from cloudinsights_dagster import aws, partitions
from cloudinsights_dagster.assets.inventory import config_changes, inventory_snapshot
from cloudinsights_dagster.assets.views import topology
from cloudinsights_dagster.demo.world import build_world
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.resources import WarehouseResource
from cloudinsights_dagster.run_time import SNAPSHOT_TIME_TAG
from cloudinsights_dagster.schedules.inventory import inventory_schedule
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import get_engine

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("eu-west-1", "us-east-1")
T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def materialize(instance, url, keys, at):
    return dg.materialize(
        [inventory_snapshot, config_changes, topology],
        instance=instance,
        resources={"warehouse": WarehouseResource(database_url=url)},
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
            SNAPSHOT_TIME_TAG: at.isoformat(),
        },
    )


@pytest.fixture
def worlds(moto_endpoint, database_url):
    registry = Registry(database_url)
    built = {}
    for n, account in enumerate(ACCOUNTS):
        role = f"arn:aws:iam::{account}:role/cloudinsights-inventory"
        registry.add_inventory("g1", f"inv-{account}", role, list(REGIONS))
        for m, region in enumerate(REGIONS):
            session = aws.assumed_role_session(aws.RoleTarget(role, "x" * 20), region)
            built[(account, region)] = (
                session,
                build_world(session, account, region, 10 + 2 * n + m),
            )
    return registry, built


def _changes(url, at):
    with get_engine(url).connect() as conn:
        rows = conn.execute(sa.select(s.ConfigChange).where(s.ConfigChange.change_time == at)).all()
    return {
        (r.location_key, r.resource_type, r.resource_id, r.change_type): r.changed_fields
        for r in rows
    }


def test_snapshots_and_changes_across_two_accounts_and_regions(worlds, database_url):
    registry, built = worlds
    session, world = built[(ACCOUNTS[0], "eu-west-1")]
    ec2 = aws.client(session, "ec2", "eu-west-1")
    spare = ec2.create_subnet(VpcId=world.vpc_id, CidrBlock="10.10.9.0/24")["Subnet"]["SubnetId"]

    keys = [loc.key for loc in registry.locations()]
    assert len(keys) == 4
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(partitions.locations.name, keys)
        first = materialize(instance, database_url, keys, T0)
        assert first.success
        mats = first.asset_materializations_for_node("inventory_snapshot")
        assert len(mats) == 4  # one run, every location partition materialized
        assert _changes(database_url, T0) == {}  # baseline

        location = f"{ACCOUNTS[0]}-eu-west-1"
        ec2.authorize_security_group_ingress(
            GroupId=world.security_group_id,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 8443,
                    "ToPort": 8443,
                    "IpRanges": [{"CidrIp": "192.168.0.0/16"}],
                }
            ],
        )
        ec2.delete_subnet(SubnetId=spare)
        ec2.create_tags(Resources=[world.instance_ids[0]], Tags=[{"Key": "env", "Value": "prod"}])
        # Reorder: revoke the first rule and add it back, so AWS lists it last.
        rule = {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https"}],
        }
        other_session, other = built[(ACCOUNTS[1], "us-east-1")]
        other_ec2 = aws.client(other_session, "ec2", "us-east-1")
        other_ec2.revoke_security_group_ingress(
            GroupId=other.security_group_id, IpPermissions=[rule]
        )
        other_ec2.authorize_security_group_ingress(
            GroupId=other.security_group_id, IpPermissions=[rule]
        )

        second = materialize(instance, database_url, keys, T1)
        assert second.success
        changes = _changes(database_url, T1)
        assert set(changes) == {
            (location, "security_group", world.security_group_id, "modified"),
            (location, "subnet", spare, "deleted"),
            (location, "instance", world.instance_ids[0], "modified"),
        }
        sg_fields = changes[(location, "security_group", world.security_group_id, "modified")]
        (added,) = sg_fields
        assert added["path"] == "ip_permissions[tcp/8443/192.168.0.0/16]"
        assert added["before"] is None and added["after"]["peer"] == "192.168.0.0/16"
        tag_fields = changes[(location, "instance", world.instance_ids[0], "modified")]
        assert {"path": "tags.env", "before": "demo", "after": "prod"} in tag_fields

        metadata = second.asset_materializations_for_node("config_changes")[0].metadata
        assert metadata["changes"].value == 3

        # Topology: one version per location at the baseline, a new one only where it changed
        # (the deleted subnet), with the changed entities marked in the picture.
        topo = second.asset_materializations_for_node("topology")[0].metadata
        assert topo["summary"].value.startswith("4 location(s)")
        assert topo["changed_entities"].value >= 1
        with get_engine(database_url).connect() as conn:
            versions = conn.execute(
                sa.select(s.TopologyNode.location_key, s.TopologyNode.as_of).distinct()
            ).all()
            subnets_now = conn.scalars(
                sa.select(s.TopologyNode.node_id).where(
                    s.TopologyNode.location_key == location,
                    s.TopologyNode.as_of == T1,
                    s.TopologyNode.node_type == "subnet",
                )
            ).all()
        assert (location, T1) in versions and len(versions) == 5
        assert spare not in subnets_now and world.subnet_ids[0] in subnets_now


def test_schedule_batches_locations_into_few_runs():
    keys = [f"{n:012d}-us-east-1" for n in range(1, 201)]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(partitions.locations.name, keys)
        with dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 5, 1, 10, 5, tzinfo=UTC)
        ) as ctx:
            requests = list(inventory_schedule(ctx))
    assert len(requests) == 4
    covered = []
    for request in requests:
        start = request.tags["dagster/asset_partition_range_start"]
        end = request.tags["dagster/asset_partition_range_end"]
        covered += keys[keys.index(start) : keys.index(end) + 1]
    assert covered == keys
    assert len({r.run_key for r in requests}) == 4


def test_schedule_skips_without_locations():
    with dg.instance_for_test() as instance, dg.build_schedule_context(instance=instance) as ctx:
        result = inventory_schedule(ctx)
    assert isinstance(result, dg.SkipReason)
