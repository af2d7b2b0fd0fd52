"""Permissions narrowed and trust removed on a moto server with IAM enforcement: partial
snapshots, no false deletes, the right status, and recovery."""

import json
from datetime import UTC, datetime, timedelta

import boto3
import dagster as dg
import requests
import sqlalchemy as sa
from warehouse_calls import in_transaction

from cloudinsights_dagster import aws, catalog, partitions
from cloudinsights_dagster.assets.inventory import config_changes, inventory_snapshot
from cloudinsights_dagster.demo.world import build_world
from cloudinsights_dagster.inventory.store import inventory_as_of
from cloudinsights_dagster.policies import trust_policy
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.resources import WarehouseResource
from cloudinsights_dagster.run_time import SNAPSHOT_TIME_TAG
from cloudinsights_dagster.status import compute_status
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import get_engine, session_scope
from cloudinsights_dagster.warehouse.schema import utcnow

ACCOUNT = "123456789012"  # moto checks trust policies (ExternalId) only within one account
LOCATION = f"{ACCOUNT}-us-east-1"
T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
ALL_ACTIONS = catalog.inventory_actions()
NARROWED = [a for a in ALL_ACTIONS if "TransitGateway" not in a and "Vpn" not in a]


def _policy(actions):
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
    )


def inv_status(registry):
    (view,) = [
        v
        for v in in_transaction(registry.database_url, compute_status, registry, utcnow())
        if v.integration.name == "inv"
    ]
    return view


def _auth(endpoint, on: bool):
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0" if on else b"inf", timeout=10)


def test_narrowed_permissions_and_removed_trust(moto_endpoint, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    registry = Registry(url)
    external_id = registry.external_id("g1")
    iam = boto3.client("iam", endpoint_url=moto_endpoint)
    iam.create_user(UserName="collector")
    iam.put_user_policy(
        UserName="collector", PolicyName="assume", PolicyDocument=_policy(["sts:AssumeRole"])
    )
    key = iam.create_access_key(UserName="collector")["AccessKey"]
    principal = f"arn:aws:iam::{ACCOUNT}:user/collector"
    iam.create_role(
        RoleName="inventory",
        AssumeRolePolicyDocument=json.dumps(trust_policy(principal, external_id)),
    )
    iam.put_role_policy(
        RoleName="inventory", PolicyName="read", PolicyDocument=_policy(ALL_ACTIONS)
    )
    role = f"arn:aws:iam::{ACCOUNT}:role/inventory"
    registry.add_inventory("g1", "inv", role, ["us-east-1"])
    # The world's flow log delivers to S3: with a flow-logs integration in the group, that is fine.
    registry.add_flowlogs("g1", "flows", role, [f"arn:aws:sns:us-east-1:{ACCOUNT}:flow-logs"])
    build_world(aws.base_session(), ACCOUNT, "us-east-1")
    ec2 = aws.client(aws.base_session(), "ec2")
    tgw = ec2.describe_transit_gateways()["TransitGateways"][0]["TransitGatewayId"]

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    resources = {"warehouse": WarehouseResource(database_url=url)}

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(partitions.locations.name, [LOCATION])

        def tick(n):
            _auth(moto_endpoint, True)
            try:
                return dg.materialize(
                    [inventory_snapshot, config_changes],
                    instance=instance,
                    resources=resources,
                    partition_key=LOCATION,
                    tags={SNAPSHOT_TIME_TAG: (T0 + timedelta(minutes=5 * n)).isoformat()},
                )
            finally:
                _auth(moto_endpoint, False)

        assert tick(0).success
        assert inv_status(registry).status == "connected"

        iam.put_role_policy(
            RoleName="inventory", PolicyName="read", PolicyDocument=_policy(NARROWED)
        )
        partial = tick(1)
        assert partial.success
        (completeness,) = [
            c for c in partial.get_asset_check_evaluations() if c.check_name == "snapshot_complete"
        ]
        assert not completeness.passed
        assert "ec2:DescribeTransitGateways" in completeness.metadata["details"].value
        with get_engine(url).connect() as conn:
            changes = conn.execute(sa.select(s.ConfigChange)).all()
            snap = conn.execute(
                sa.select(s.InventorySnapshot).order_by(s.InventorySnapshot.snapshot_time.desc())
            ).first()
        assert changes == []  # no false deletes for what we could not see
        assert snap.completeness == "partial" and "transit_gateway" in snap.unknown_types
        with session_scope(url) as session:
            kept = {
                r.resource_id
                for r in inventory_as_of(
                    session, LOCATION, T0 + timedelta(minutes=5), ["transit_gateway"]
                )
            }
        assert kept == {tgw}
        view = inv_status(registry)
        assert view.status == "connected_with_warning"
        assert any("ec2:DescribeTransitGateways" in r for r in view.reasons)

        # Trust removed (another ExternalId): the role cannot be assumed at all.
        iam.update_assume_role_policy(
            RoleName="inventory",
            PolicyDocument=json.dumps(trust_policy(principal, "not-this-group")),
        )
        assert tick(2).success
        view = inv_status(registry)
        assert view.status == "failed" and "cannot be assumed" in view.reasons[0]
        with get_engine(url).connect() as conn:
            assert conn.execute(sa.select(s.ConfigChange)).all() == []

        # Fixed: trust and permissions back; status recovers by itself.
        iam.update_assume_role_policy(
            RoleName="inventory", PolicyDocument=json.dumps(trust_policy(principal, external_id))
        )
        iam.put_role_policy(
            RoleName="inventory", PolicyName="read", PolicyDocument=_policy(ALL_ACTIONS)
        )
        assert tick(3).success
        assert inv_status(registry).status == "connected"
