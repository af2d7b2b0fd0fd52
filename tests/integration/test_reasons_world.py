"""Reject reasons on worlds built on the moto server and snapshotted through the project's own
collection and store code: a rule removed, a network-ACL deny added, a rule added (rejects must
not be blamed on it), scanners no rule ever allowed, an ENI with no inventory; each reason
asserted exactly, and the change ranking of the same world."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pyarrow as pa
import sqlalchemy as sa

from cloudinsights_dagster.inventory.collect import collect_location
from cloudinsights_dagster.inventory.store import compute_pending_changes, record_snapshot
from cloudinsights_dagster.views.impact import change_impact, rank_impacts
from cloudinsights_dagster.views.reasons import explain_rejects, history_from_session
from cloudinsights_dagster.views.throughput import THROUGHPUT_SCHEMA
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import session_scope

ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"
T0 = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=10)


def build(aws_client) -> dict:
    ec2 = aws_client("ec2", REGION)
    ids: dict = {}
    vpc = ec2.create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    web_subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.5.1.0/24")["Subnet"]["SubnetId"]
    api_subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.5.2.0/24")["Subnet"]["SubnetId"]

    def group(name, ingress):
        gid = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        if ingress:
            ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=ingress)
        return gid

    https = {
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
    }
    ssh = {
        "IpProtocol": "tcp",
        "FromPort": 22,
        "ToPort": 22,
        "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
    }
    api = {
        "IpProtocol": "tcp",
        "FromPort": 8080,
        "ToPort": 8080,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
    }
    ids["sg_web"] = group("web", [https, ssh])
    ids["sg_api"] = group("api", [api])
    ids["sg_new"] = group("new", [])
    ids["https"] = https

    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    for egress in (False, True):
        ec2.create_network_acl_entry(
            NetworkAclId=acl,
            RuleNumber=100,
            Protocol="-1",
            RuleAction="allow",
            Egress=egress,
            CidrBlock="0.0.0.0/0",
        )
    current = ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [api_subnet]}]
    )["NetworkAcls"][0]
    assoc = next(a for a in current["Associations"] if a["SubnetId"] == api_subnet)
    ec2.replace_network_acl_association(
        AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=acl
    )
    ids["acl"] = acl

    def eni(subnet, ip, groups):
        return ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress=ip, Groups=groups)[
            "NetworkInterface"
        ]["NetworkInterfaceId"]

    ids["eni_web"] = eni(web_subnet, "10.5.1.10", [ids["sg_web"]])
    ids["eni_api"] = eni(api_subnet, "10.5.2.10", [ids["sg_api"]])
    ids["eni_new"] = eni(web_subnet, "10.5.1.20", [ids["sg_new"]])
    return ids


def change_world(aws_client, ids):
    ec2 = aws_client("ec2", REGION)
    ec2.revoke_security_group_ingress(GroupId=ids["sg_web"], IpPermissions=[ids["https"]])
    ec2.create_network_acl_entry(
        NetworkAclId=ids["acl"],
        RuleNumber=50,
        Protocol="6",
        RuleAction="deny",
        Egress=False,
        CidrBlock="198.51.100.0/24",
        PortRange={"From": 0, "To": 65535},
    )
    ec2.authorize_security_group_ingress(
        GroupId=ids["sg_new"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 9000,
                "ToPort": 9000,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )


def snapshot(database_url, at):
    result = collect_location(boto3.Session(region_name=REGION), ACCOUNT, REGION, max_workers=1)
    with session_scope(database_url) as session:
        record_snapshot(session, result, at)
        compute_pending_changes(session, result.location_key)
    return result.location_key


def records(rows):
    """rows: (eni, src, dst, srcport, dstport); all ingress TCP rejects at T1 + 1 minute."""
    n = len(rows)
    cols = list(zip(*rows, strict=True))
    return pa.table(
        {
            "interface_id": pa.array(cols[0]),
            "flow_direction": pa.array(["ingress"] * n),
            "srcaddr": pa.array(cols[1]),
            "dstaddr": pa.array(cols[2]),
            "srcport": pa.array(cols[3], pa.int64()),
            "dstport": pa.array(cols[4], pa.int64()),
            "protocol": pa.array([6] * n, pa.int64()),
            "tcp_flags": pa.array([2] * n, pa.int64()),
            "start": pa.array([int(T1.timestamp()) + 60] * n, pa.int64()),
            "action": pa.array(["REJECT"] * n),
            "log_status": pa.array(["OK"] * n),
            "packets": pa.array([1] * n, pa.int64()),
            "bytes": pa.array([44] * n, pa.int64()),
            "peer_interface_id": pa.array([None] * n, pa.string()),
        }
    )


def test_each_reject_gets_its_exact_reason(aws_client, database_url):
    ids = build(aws_client)
    location = snapshot(database_url, T0)
    change_world(aws_client, ids)
    snapshot(database_url, T1)

    flows = records(
        [
            (ids["eni_web"], "203.0.113.9", "10.5.1.10", 50000, 443),  # rule removed
            (ids["eni_api"], "198.51.100.7", "10.5.2.10", 50001, 8080),  # ACL deny added
            (ids["eni_new"], "203.0.113.9", "10.5.1.20", 50002, 5000),  # a rule was added
            (ids["eni_web"], "45.1.2.3", "10.5.1.10", 61000, 3389),  # a scanner
            (ids["eni_web"], "10.9.9.9", "10.5.1.10", 50003, 22),  # allowed as we know it
            ("eni-0ghost", "203.0.113.9", "10.5.9.9", 50004, 443),  # no inventory
        ]
    )
    with session_scope(database_url) as session:
        history = history_from_session(
            session, [location], T0 - timedelta(days=7), T1 + timedelta(minutes=5)
        )
    got = {
        (r["interface_id"], r["dstport"]): (
            r["reason"],
            r["rule_id"],
            r["previous_rule_id"],
            r["change_resource_id"],
            r["change_time"],
        )
        for r in explain_rejects(flows, history).to_pylist()
    }
    sg_web, acl = ids["sg_web"], ids["acl"]
    assert got == {
        (ids["eni_web"], 443): (
            "no_rule_allows",
            None,
            f"{sg_web}:ingress:tcp/443/0.0.0.0/0",
            sg_web,
            T1,
        ),
        (ids["eni_api"], 8080): ("nacl_deny", f"{acl}:ingress/50", None, None, None),
        (ids["eni_new"], 5000): ("no_rule_allows", None, None, None, None),
        (ids["eni_web"], 3389): ("no_rule_allows", None, None, None, None),
        (ids["eni_web"], 22): ("allowed", f"{sg_web}:ingress:tcp/22/10.0.0.0/8", None, None, None),
        ("eni-0ghost", 443): ("unknown", None, None, None, None),
    }

    # The changes of the world, ranked against a jump of rejects on the web ENI.
    with session_scope(database_url) as session:
        changes = [
            {
                "location_key": c.location_key,
                "change_time": c.change_time,
                "resource_type": c.resource_type,
                "resource_id": c.resource_id,
                "change_type": c.change_type,
                "changed_fields": c.changed_fields,
            }
            for c in session.scalars(
                sa.select(s.ConfigChange).where(s.ConfigChange.change_time == T1)
            )
        ]
    by_id = {c["resource_id"]: c for c in changes}
    assert {sg_web, ids["sg_new"], acl} <= set(by_id)
    series = [(T0 + timedelta(minutes=5 * i), n) for i, n in enumerate([10, 12, 400, 410])]
    throughput = pa.Table.from_pylist(
        [
            {
                "window_start": w,
                "entity_type": "eni",
                "entity_id": ids["eni_web"],
                "direction": "inbound",
                "action": "REJECT",
                "bytes": n * 44,
                "packets": n,
                "flows": n,
            }
            for w, n in series
        ],
        schema=THROUGHPUT_SCHEMA,
    )
    impacts = [
        change_impact(by_id[k], [ids["eni_web"]], throughput) for k in (ids["sg_new"], sg_web)
    ]
    ranked = rank_impacts(impacts)
    assert ranked[0]["resource_id"] == sg_web and ranked[0]["explains"] is True
    assert ranked[0]["effect"] == "raise"
    assert ranked[1]["effect"] == "lower" and ranked[1]["explains"] is False
