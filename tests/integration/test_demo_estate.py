"""The demo's estate on a real moto server: the same ids and timestamps when rebuilt (what
`make ui` relies on), IAM enforced (the partly permitted role is denied exactly its gaps), and
flow-log files whose rejects follow the HTTPS rule."""

import gzip
from datetime import UTC, datetime

import pytest
import requests

from cloudinsights_dagster import aws
from cloudinsights_dagster.demo import estate as E
from cloudinsights_dagster.demo.traffic import CUSTOM_FIELDS, DEFAULT_FIELDS, window_records

BUILT_AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
EXTERNAL_IDS = {"retail": "retail-external-id", "media": "media-external-id"}


@pytest.fixture
def fake(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "restored-after-the-test")
    fake = E.FakeAws()
    # moto's backends are per process: start from nothing, whatever ran before in this worker.
    requests.post(f"{fake.endpoint}/moto-api/reset", timeout=10)
    yield fake
    fake.enforce_iam(False)
    requests.post(f"{fake.endpoint}/moto-api/reset", timeout=10)
    fake.stop()


def _snapshot(estate: E.Estate) -> dict:
    """Ids and moto's own timestamps of every world, as the admin sees them."""
    seen = {}
    for (account, region), world in sorted(estate.worlds.items()):
        ec2 = estate.admin_client(account, region, "ec2")
        instances = ec2.describe_instances(InstanceIds=world.instance_ids)["Reservations"]
        seen[(account, region)] = (
            world.vpc_id,
            tuple(world.eni_ids),
            world.security_group_id,
            world.flow_log_id,
            tuple(i["LaunchTime"].isoformat() for r in instances for i in r["Instances"]),
        )
    return seen


def test_rebuilt_estate_has_the_same_ids_and_times(fake):
    first = E.build_estate(fake, EXTERNAL_IDS, BUILT_AT)
    E.apply_change(fake, first, 0, BUILT_AT)
    before = _snapshot(first)
    fake.enforce_iam(False)
    requests.post(f"{fake.endpoint}/moto-api/reset", timeout=10)

    again = E.build_estate(fake, EXTERNAL_IDS, BUILT_AT)
    E.apply_change(fake, again, 0, BUILT_AT)
    assert _snapshot(again) == before
    assert {launch for *_, launches in before.values() for launch in launches} == {
        BUILT_AT.isoformat()
    }
    assert len(before) == 4 and {region for _, region in before} == {"us-east-1", "eu-west-1"}


def test_partly_permitted_role_is_denied_only_its_gaps(fake, monkeypatch):
    estate = E.build_estate(fake, EXTERNAL_IDS, BUILT_AT)
    for name, value in estate.collector_environment().items():
        monkeypatch.setenv(name, value)
    partial = aws.assumed_role_session(
        aws.RoleTarget(E.role_arn("111111111111", E.INVENTORY_ROLE), EXTERNAL_IDS["retail"]),
        "us-east-1",
    )
    ec2 = aws.client(partial, "ec2")
    assert ec2.describe_vpcs()["Vpcs"]
    with pytest.raises(Exception, match="not authorized to perform: ec2:DescribeTransitGateways"):
        ec2.describe_transit_gateways()
    wrong_id = aws.RoleTarget(E.role_arn(E.COLLECTOR_ACCOUNT, E.INVENTORY_ROLE), "not-the-id")
    with pytest.raises(Exception, match="AccessDenied"):
        aws.assume_role_once(wrong_id)  # the trust policy holds the group's ExternalId


def test_delivered_files_follow_the_https_rule(fake):
    estate = E.build_estate(fake, EXTERNAL_IDS, BUILT_AT)
    start = int(BUILT_AT.timestamp())
    files = E.deliver_window(estate, start, changes_applied=0)
    assert sorted(f.note.split(":")[0] for f in files) == ["fails", "filtered", "loads", "loads"]
    s3 = estate.admin_client(E.COLLECTOR_ACCOUNT, "us-east-1", "s3")
    default_format = next(f for f in files if f.note.startswith("fails"))
    body = s3.get_object(Bucket=default_format.bucket, Key=default_format.key)["Body"].read()
    assert gzip.decompress(body).decode().splitlines()[0].split() == list(DEFAULT_FIELDS)

    enis = estate.enis(*E.WATCHED)
    https_in = [
        r
        for r in window_records(E.COLLECTOR_ACCOUNT, enis, start, 600, seed=1, https_open=True)
        if r.get("dstport") == "443" and r.get("flow-direction") == "ingress"
    ]
    closed = [
        r
        for r in window_records(E.COLLECTOR_ACCOUNT, enis, start, 600, seed=1, https_open=False)
        if r.get("dstport") == "443" and r.get("flow-direction") == "ingress"
    ]
    assert https_in and {r["action"] for r in https_in} == {"ACCEPT"}
    assert {r["action"] for r in closed} == {"REJECT"}
    nodata = [r for r in https_in + closed if r["log-status"] == "NODATA"]
    assert not nodata  # NODATA records carry no port
    every = window_records(E.COLLECTOR_ACCOUNT, enis, start, 600, seed=1)
    assert sum(r["log-status"] == "NODATA" for r in every) == 12
    assert set(every[0]) <= set(CUSTOM_FIELDS)
