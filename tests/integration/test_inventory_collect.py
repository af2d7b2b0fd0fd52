"""collect_location against a real moto server: a realistic network in two regions, every catalog
API called exactly once, linking fields, stable snapshots, a partially permitted role (moto IAM
enforcement), and throttling / 5xx / broken APIs through a fault-injecting proxy on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
import requests
from botocore.config import Config

from cloudinsights_dagster.aws import RoleTarget, assumed_role_session
from cloudinsights_dagster.catalog import RESOURCE_TYPES
from cloudinsights_dagster.inventory import collect_location, diff_snapshots

ACCOUNT = "123456789012"  # moto's default account
MONITORED = "111122223333"
# botocore: "max_attempts" counts retries, "total_max_attempts" counts every attempt.
FAST = Config(retries={"total_max_attempts": 1, "mode": "standard"})
FLOW_LOG_FORMAT = (
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
    "${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${flow-direction} "
    "${tcp-flags} ${traffic-path}"
)


# --------------------------------------------------------------------------------------------
# A fault-injecting HTTP proxy in front of moto
# --------------------------------------------------------------------------------------------


class FaultProxy:
    """Forwards every request to moto, except that it answers the next queued fault for an API
    action (``Action=`` of query APIs, ``X-Amz-Target`` of JSON ones) instead; counts requests
    per action."""

    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlparse(upstream)
        self.upstream = (parsed.hostname, parsed.port)
        self.faults: dict[str, list[tuple[int, bytes]]] = {}
        self.always: dict[str, tuple[int, bytes]] = {}
        self.seen: Counter[str] = Counter()
        self.faulted: Counter[str] = Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = proxy.action_of(self.headers.get("X-Amz-Target"), body, self.path)
                with proxy._lock:
                    proxy.seen[action] += 1
                    queued = proxy.faults.get(action)
                    fault = queued.pop(0) if queued else proxy.always.get(action)
                    if fault:
                        proxy.faulted[action] += 1
                if fault:
                    status, payload = fault
                    self.send_response(status)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("connection", "keep-alive", "transfer-encoding")
                }
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                conn.close()
                self.send_response(response.status)
                for k, v in response.getheaders():
                    if k.lower() not in (
                        "connection",
                        "transfer-encoding",
                        "content-length",
                        "server",
                        "date",
                    ):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @staticmethod
    def action_of(target: str | None, body: bytes, path: str) -> str:
        if target:
            return target.rsplit(".", 1)[-1]
        query = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        query.update(urllib.parse.parse_qs(urllib.parse.urlparse(path).query))
        return query.get("Action", ["?"])[0]

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def ec2_error(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
        f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        "<RequestID>fault-injected</RequestID></Response>"
    ).encode()


THROTTLED = (400, ec2_error("Throttling", "Rate exceeded"))
UNAVAILABLE = (503, ec2_error("Unavailable", "The service is unavailable. Try again shortly."))
BAD_GATEWAY = (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>")  # from a proxy
INTERNAL = (500, ec2_error("InternalError", "An internal error has occurred"))


@pytest.fixture
def proxy(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """The fault proxy in front of the fresh moto server; AWS_ENDPOINT_URL points at it."""
    with FaultProxy(moto_endpoint) as p:
        monkeypatch.setenv("AWS_ENDPOINT_URL", p.url)
        yield p


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def plain_session(region: str) -> boto3.Session:
    """Credentials from the environment (conftest's fake keys), endpoint from AWS_ENDPOINT_URL."""
    return boto3.Session(region_name=region)


def record_operations(session: boto3.Session) -> list[tuple[str, str]]:
    """(service, operation) of every API call made by clients of ``session``."""
    calls: list[tuple[str, str]] = []

    def before_call(model, **_kwargs) -> None:
        from botocore import xform_name

        calls.append((model.service_model.service_name, xform_name(model.name)))

    session.events.register("before-call", before_call)
    return calls


def name_tag(kind: str, name: str, **more: str) -> list[dict]:
    tags = [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in more.items()]
    return [{"ResourceType": kind, "Tags": tags}]


def build_network(aws_client, region: str, second_octet: int, full: bool) -> dict:
    """A VPC with public/private subnets, IGW, NAT, route tables, SG rules, instances and an ENI,
    a flow log to S3 with a custom format; with ``full``: ELBv2, a transit gateway and its VPC
    attachment, VPC peering, a VPC endpoint, VPN and egress-only IGW."""
    ec2 = aws_client("ec2", region)
    net = f"10.{second_octet}"
    ids: dict = {}
    ids["vpc"] = ec2.create_vpc(
        CidrBlock=f"{net}.0.0/16", TagSpecifications=name_tag("vpc", f"main-{region}")
    )["Vpc"]["VpcId"]
    azs = [f"{region}a", f"{region}b"]
    ids["public"] = ec2.create_subnet(
        VpcId=ids["vpc"],
        CidrBlock=f"{net}.1.0/24",
        AvailabilityZone=azs[0],
        TagSpecifications=name_tag("subnet", "public"),
    )["Subnet"]["SubnetId"]
    ids["private"] = ec2.create_subnet(
        VpcId=ids["vpc"],
        CidrBlock=f"{net}.2.0/24",
        AvailabilityZone=azs[1],
        TagSpecifications=name_tag("subnet", "private"),
    )["Subnet"]["SubnetId"]
    ids["igw"] = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=ids["igw"], VpcId=ids["vpc"])
    ids["eip"] = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ids["nat"] = ec2.create_nat_gateway(SubnetId=ids["public"], AllocationId=ids["eip"])[
        "NatGateway"
    ]["NatGatewayId"]
    ids["rt_public"] = ec2.create_route_table(VpcId=ids["vpc"])["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=ids["rt_public"], DestinationCidrBlock="0.0.0.0/0", GatewayId=ids["igw"]
    )
    ec2.associate_route_table(RouteTableId=ids["rt_public"], SubnetId=ids["public"])
    ids["rt_private"] = ec2.create_route_table(VpcId=ids["vpc"])["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=ids["rt_private"], DestinationCidrBlock="0.0.0.0/0", NatGatewayId=ids["nat"]
    )
    ec2.associate_route_table(RouteTableId=ids["rt_private"], SubnetId=ids["private"])
    ids["sg"] = ec2.create_security_group(
        GroupName="web", Description="web tier", VpcId=ids["vpc"]
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=ids["sg"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [
                    {"CidrIp": "10.0.0.0/8", "Description": "corp"},
                    {"CidrIp": "0.0.0.0/0"},
                ],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "UserIdGroupPairs": [{"GroupId": ids["sg"]}],
            },
        ],
    )
    reservation = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=2,
        MaxCount=2,
        InstanceType="t3.micro",
        SubnetId=ids["private"],
        SecurityGroupIds=[ids["sg"]],
        TagSpecifications=name_tag("instance", "web", team="payments"),
    )
    ids["instances"] = sorted(i["InstanceId"] for i in reservation["Instances"])
    ids["eni"] = ec2.create_network_interface(
        SubnetId=ids["public"],
        Groups=[ids["sg"]],
        Description="spare",
        PrivateIpAddresses=[
            {"PrivateIpAddress": f"{net}.1.11", "Primary": False},
            {"PrivateIpAddress": f"{net}.1.10", "Primary": True},
        ],
    )["NetworkInterface"]["NetworkInterfaceId"]
    bucket = f"flow-logs-{region}"
    s3 = aws_client("s3", region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    ids["bucket"] = bucket
    ids["flow_log"] = ec2.create_flow_logs(
        ResourceIds=[ids["vpc"]],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination=f"arn:aws:s3:::{bucket}",
        LogFormat=FLOW_LOG_FORMAT,
        MaxAggregationInterval=60,
    )["FlowLogIds"][0]
    if not full:
        return ids
    elbv2 = aws_client("elbv2", region)
    ids["alb"] = elbv2.create_load_balancer(
        Name="web-alb",
        Subnets=[ids["public"], ids["private"]],
        SecurityGroups=[ids["sg"]],
        Scheme="internet-facing",
        Type="application",
    )["LoadBalancers"][0]["LoadBalancerArn"]
    ids["tg"] = elbv2.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=ids["vpc"])[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    ids["tgw"] = ec2.create_transit_gateway(Description="hub")["TransitGateway"]["TransitGatewayId"]
    ids["tgw_attachment"] = ec2.create_transit_gateway_vpc_attachment(
        TransitGatewayId=ids["tgw"], VpcId=ids["vpc"], SubnetIds=[ids["private"]]
    )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
    ids["peer_vpc"] = ec2.create_vpc(CidrBlock="10.200.0.0/16")["Vpc"]["VpcId"]
    ids["pcx"] = ec2.create_vpc_peering_connection(VpcId=ids["vpc"], PeerVpcId=ids["peer_vpc"])[
        "VpcPeeringConnection"
    ]["VpcPeeringConnectionId"]
    ids["vpce"] = ec2.create_vpc_endpoint(
        VpcId=ids["vpc"],
        ServiceName=f"com.amazonaws.{region}.s3",
        RouteTableIds=[ids["rt_private"]],
    )["VpcEndpoint"]["VpcEndpointId"]
    ids["eigw"] = ec2.create_egress_only_internet_gateway(VpcId=ids["vpc"])[
        "EgressOnlyInternetGateway"
    ]["EgressOnlyInternetGatewayId"]
    ids["vgw"] = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    ec2.attach_vpn_gateway(VpnGatewayId=ids["vgw"], VpcId=ids["vpc"])
    ids["cgw"] = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="198.51.100.7", BgpAsn=65000)[
        "CustomerGateway"
    ]["CustomerGatewayId"]
    ids["vpn"] = ec2.create_vpn_connection(
        Type="ipsec.1", CustomerGatewayId=ids["cgw"], VpnGatewayId=ids["vgw"]
    )["VpnConnection"]["VpnConnectionId"]
    return ids


def by_type(result) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for record in result.records:
        out.setdefault(record.resource_type, {})[record.resource_id] = record.data
    return out


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_collects_a_realistic_network_in_two_regions(aws_client):
    east = build_network(aws_client, "us-east-1", 0, full=True)
    west = build_network(aws_client, "eu-west-1", 1, full=False)

    session = plain_session("us-east-1")
    calls = record_operations(session)
    result = collect_location(session, ACCOUNT, "us-east-1", config=FAST)

    # Every catalog API exactly once, nothing else.
    assert sorted(calls) == sorted((rt.service, rt.operation) for rt in RESOURCE_TYPES.values())
    assert [o.resource_type for o in result.outcomes] == list(RESOURCE_TYPES)
    assert {o.action for o in result.outcomes} == {rt.action for rt in RESOURCE_TYPES.values()}
    assert result.completeness == "complete", [o for o in result.outcomes if o.outcome != "ok"]
    assert result.unknown_types == set()
    assert result.location_key == f"{ACCOUNT}-us-east-1"
    for outcome in result.outcomes:
        assert outcome.count == result.counts_by_type[outcome.resource_type]

    data = by_type(result)
    assert all(
        d["account_id"] == ACCOUNT and d["region"] == "us-east-1"
        for records in data.values()
        for d in records.values()
    )
    # Nothing of the other region leaks in.
    assert west["vpc"] not in data["vpc"] and west["flow_log"] not in data["flow_log"]

    mine = {
        t: {i: d for i, d in recs.items() if d.get("vpc_id") == east["vpc"]}
        for t, recs in data.items()
    }
    assert set(data["vpc"]) >= {east["vpc"], east["peer_vpc"]}
    assert data["vpc"][east["vpc"]]["name"] == "main-us-east-1"
    assert set(mine["subnet"]) == {east["public"], east["private"]}
    assert data["subnet"][east["private"]]["availability_zone"] == "us-east-1b"
    assert data["subnet"][east["private"]]["name"] == "private"
    assert data["internet_gateway"][east["igw"]]["vpc_id"] == east["vpc"]
    assert data["egress_only_internet_gateway"][east["eigw"]]["vpc_id"] == east["vpc"]

    nat = data["nat_gateway"][east["nat"]]
    assert nat["subnet_id"] == east["public"] and nat["vpc_id"] == east["vpc"]
    assert len(nat["public_ips"]) == 1 and len(nat["network_interface_ids"]) == 1

    private_rt = data["route_table"][east["rt_private"]]
    routes = {r["key"]: r for r in private_rt["routes"]}
    assert routes["0.0.0.0/0"]["target_type"] == "nat_gateway"
    assert routes["0.0.0.0/0"]["target_id"] == east["nat"]
    assert routes["10.0.0.0/16"]["target_type"] == "local"
    assert private_rt["subnet_ids"] == [east["private"]]
    public_rt = data["route_table"][east["rt_public"]]
    assert {r["key"]: r["target_id"] for r in public_rt["routes"]}["0.0.0.0/0"] == east["igw"]

    sg = data["security_group"][east["sg"]]
    assert {r["key"] for r in sg["ip_permissions"]} == {
        "tcp/443/10.0.0.0/8",
        "tcp/443/0.0.0.0/0",
        f"tcp/22/{east['sg']}",
    }
    assert {r["key"]: r["description"] for r in sg["ip_permissions"]}["tcp/443/10.0.0.0/8"] == (
        "corp"
    )

    for instance_id in east["instances"]:
        instance = data["instance"][instance_id]
        assert instance["subnet_id"] == east["private"]
        assert instance["vpc_id"] == east["vpc"]
        assert instance["security_group_ids"] == [east["sg"]]
        assert instance["tags"] == {"Name": "web", "team": "payments"}
        assert instance["owner_id"] == ACCOUNT
        assert instance["state"] == "running"
        (eni_id,) = instance["network_interface_ids"]
        eni = data["network_interface"][eni_id]
        assert eni["instance_id"] == instance_id
        assert (eni["subnet_id"], eni["vpc_id"], eni["az"]) == (
            east["private"],
            east["vpc"],
            "us-east-1b",
        )
        assert eni["security_group_ids"] == [east["sg"]]
        assert eni["private_ips"] == [instance["private_ip"]]
        assert eni["owner_id"] == ACCOUNT

    spare = data["network_interface"][east["eni"]]
    assert spare["instance_id"] is None
    assert spare["private_ips"] == ["10.0.1.10", "10.0.1.11"]
    assert spare["private_ip"] == "10.0.1.10"
    assert spare["description"] == "spare"
    nat_eni = data["network_interface"][nat["network_interface_ids"][0]]
    assert nat_eni["public_ips"] == nat["public_ips"]
    assert data["elastic_ip"][east["eip"]]["network_interface_id"] == nat_eni["interface_id"]

    flow_log = data["flow_log"][east["flow_log"]]
    assert flow_log["resource_id"] == east["vpc"] and flow_log["vpc_id"] == east["vpc"]
    assert flow_log["destination_type"] == "s3"
    assert flow_log["destination"] == f"arn:aws:s3:::{east['bucket']}"
    assert flow_log["destination_bucket"] == east["bucket"]
    assert flow_log["log_format"] == FLOW_LOG_FORMAT
    assert flow_log["log_fields"][-3:] == ["flow-direction", "tcp-flags", "traffic-path"]
    assert flow_log["status"] == "ACTIVE"
    assert flow_log["max_aggregation_interval"] == 60

    alb = data["load_balancer"][east["alb"]]
    assert alb["vpc_id"] == east["vpc"]
    assert alb["subnet_ids"] == sorted([east["public"], east["private"]])
    assert alb["security_group_ids"] == [east["sg"]]
    assert data["target_group"][east["tg"]]["vpc_id"] == east["vpc"]

    assert data["transit_gateway"][east["tgw"]]["state"] == "available"
    attachment = data["transit_gateway_attachment"][east["tgw_attachment"]]
    assert attachment["vpc_id"] == east["vpc"] and attachment["transit_gateway_id"] == east["tgw"]
    assert len(data["transit_gateway_route_table"]) == 1
    pcx = data["vpc_peering_connection"][east["pcx"]]
    assert pcx["vpc_ids"] == sorted([east["vpc"], east["peer_vpc"]])
    assert data["vpc_endpoint"][east["vpce"]]["route_table_ids"] == [east["rt_private"]]
    assert data["vpn_gateway"][east["vgw"]]["vpc_id"] == east["vpc"]
    vpn = data["vpn_connection"][east["vpn"]]
    assert vpn["customer_gateway_id"] == east["cgw"]
    assert "pre_shared_key" not in json.dumps(vpn)  # moto's config document holds one
    assert result.counts_by_type["direct_connect_connection"] == 0

    # The other region is its own location with its own resources.
    west_result = collect_location(plain_session("eu-west-1"), ACCOUNT, "eu-west-1", config=FAST)
    assert west_result.completeness == "complete"
    west_data = by_type(west_result)
    assert west["vpc"] in west_data["vpc"] and east["vpc"] not in west_data["vpc"]
    assert west_data["flow_log"][west["flow_log"]]["destination_bucket"] == "flow-logs-eu-west-1"
    assert west_data["subnet"][west["public"]]["availability_zone"] == "eu-west-1a"
    assert west_result.counts_by_type["transit_gateway"] == 0

    # A second snapshot of an unchanged network is identical: no change events.
    again = collect_location(plain_session("us-east-1"), ACCOUNT, "us-east-1", config=FAST)
    assert diff_snapshots(result.snapshot(), again.snapshot()) == []

    # Real changes show up with field paths.
    ec2 = aws_client("ec2", "us-east-1")
    ec2.authorize_security_group_ingress(
        GroupId=east["sg"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8443,
                "ToPort": 8443,
                "IpRanges": [{"CidrIp": "192.168.0.0/16"}],
            }
        ],
    )
    ec2.create_tags(Resources=[east["instances"][0]], Tags=[{"Key": "team", "Value": "search"}])
    ec2.delete_network_interface(NetworkInterfaceId=east["eni"])
    later = collect_location(plain_session("us-east-1"), ACCOUNT, "us-east-1", config=FAST)
    changes = {
        (c.resource_type, c.resource_id): c
        for c in diff_snapshots(result.snapshot(), later.snapshot())
    }
    assert set(changes) == {
        ("security_group", east["sg"]),
        ("instance", east["instances"][0]),
        ("network_interface", east["eni"]),
    }
    sg_change = changes[("security_group", east["sg"])]
    assert [f.path for f in sg_change.fields] == ["ip_permissions[tcp/8443/192.168.0.0/16]"]
    tag_change = changes[("instance", east["instances"][0])]
    assert [(f.path, f.before, f.after) for f in tag_change.fields] == [
        ("tags.team", "payments", "search")
    ]
    assert changes[("network_interface", east["eni"])].change_type == "deleted"


def test_disabled_resource_groups_are_not_called(moto_endpoint):
    session = plain_session("us-east-1")
    calls = record_operations(session)
    result = collect_location(
        session,
        ACCOUNT,
        "us-east-1",
        disabled_resource_groups=frozenset({"transitgateway", "vpn", "directconnect", "ec2"}),
        config=FAST,
    )
    expected = [rt for rt in RESOURCE_TYPES.values() if rt.resource_group == "ec2"]
    assert [o.resource_type for o in result.outcomes] == [rt.name for rt in expected]
    assert sorted(calls) == sorted((rt.service, rt.operation) for rt in expected)
    assert result.completeness == "complete"


def _setup_partial_role(aws_client, allowed: list[str]) -> tuple[boto3.Session, str]:
    """With auth off: an IAM user (the collector's own identity) allowed to assume roles, and in
    account 111122223333 a role that allows only ``allowed``. Returns (user session, role ARN)."""
    iam = aws_client("iam")
    iam.create_user(UserName="collector")
    iam.put_user_policy(
        UserName="collector",
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName="collector")["AccessKey"]
    # Become the monitored account (moto lets any AssumeRole through while auth is off).
    creds = aws_client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{MONITORED}:role/bootstrap", RoleSessionName="setup"
    )["Credentials"]
    as_monitored = {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
    iam_monitored = aws_client("iam", **as_monitored)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/collector"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": "ext-123"}},
            }
        ],
    }
    role_arn = iam_monitored.create_role(
        RoleName="cloudinsights", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    iam_monitored.put_role_policy(
        RoleName="cloudinsights",
        PolicyName="inventory",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": allowed or ["sts:GetCallerIdentity"],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )
    aws_client("ec2", **as_monitored).create_vpc(CidrBlock="10.42.0.0/16")
    user = boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name="us-east-1",
    )
    return user, role_arn


def test_partially_permitted_role_gives_denied_outcomes_and_a_partial_snapshot(
    aws_client, moto_endpoint, proxy
):
    allowed = [
        "ec2:DescribeVpcs",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeInstances",
        "ec2:DescribeFlowLogs",
        "elasticloadbalancing:DescribeLoadBalancers",
    ]
    user, role_arn = _setup_partial_role(aws_client, allowed)
    requests.post(f"{moto_endpoint}/moto-api/reset-auth", data=b"0", timeout=10)  # enforce IAM

    session = assumed_role_session(RoleTarget(role_arn, "ext-123"), "us-east-1", source=user)
    started = time.monotonic()
    # The default client config (5 attempts, standard retries): AccessDenied must not be retried.
    result = collect_location(session, MONITORED, "us-east-1")
    elapsed = time.monotonic() - started

    outcomes = {o.resource_type: o for o in result.outcomes}
    assert len(outcomes) == len(RESOURCE_TYPES)
    denied = {rt.name for rt in RESOURCE_TYPES.values() if rt.action not in allowed}
    assert {t for t, o in outcomes.items() if o.outcome == "ok"} == set(RESOURCE_TYPES) - denied
    for name in denied:
        outcome = outcomes[name]
        assert outcome.outcome == "denied", outcome
        assert outcome.action == RESOURCE_TYPES[name].action
        assert f"not authorized to perform: {outcome.action}" in outcome.error
        assert outcome.count == 0
    assert outcomes["direct_connect_connection"].error.startswith("AccessDenied: ")
    assert result.completeness == "partial"
    assert result.unknown_types == denied
    assert set(result.counts_by_type) == set(RESOURCE_TYPES) - denied
    # Resources of the monitored account, read through the role.
    vpcs = by_type(result)["vpc"]
    assert any(v["cidr_block"] == "10.42.0.0/16" for v in vpcs.values())
    assert all(v["owner_id"] == MONITORED for v in vpcs.values())
    # Denied calls were made once each, never retried.
    for name in denied:
        api = RESOURCE_TYPES[name].action.split(":", 1)[1]
        assert proxy.seen[api] == 1, (api, proxy.seen[api])
    assert proxy.seen["AssumeRole"] == 1
    assert elapsed < 10

    # A diff with the denied types unknown reports nothing for them, whatever was there before.
    before = result.snapshot()
    before[("transit_gateway", "tgw-0gone")] = {"transit_gateway_id": "tgw-0gone"}
    before[("vpc", "vpc-0gone")] = {"vpc_id": "vpc-0gone"}
    changes = diff_snapshots(before, result.snapshot(), result.unknown_types)
    assert [(c.resource_type, c.resource_id, c.change_type) for c in changes] == [
        ("vpc", "vpc-0gone", "deleted")
    ]


def test_role_allowed_nothing_is_a_failed_snapshot(aws_client, moto_endpoint):
    user, role_arn = _setup_partial_role(aws_client, [])
    requests.post(f"{moto_endpoint}/moto-api/reset-auth", data=b"0", timeout=10)
    session = assumed_role_session(RoleTarget(role_arn, "ext-123"), "us-east-1", source=user)
    result = collect_location(session, MONITORED, "us-east-1", config=FAST)
    assert {o.outcome for o in result.outcomes} == {"denied"}
    assert result.completeness == "failed"
    assert result.records == []
    assert result.unknown_types == set(RESOURCE_TYPES)


def test_throttling_and_5xx_are_retried_until_ok(proxy):
    proxy.faults["DescribeVpcs"] = [THROTTLED, UNAVAILABLE]
    proxy.faults["DescribeSubnets"] = [INTERNAL, BAD_GATEWAY]
    proxy.faults["DescribeLoadBalancers"] = [THROTTLED]
    result = collect_location(plain_session("us-east-1"), ACCOUNT, "us-east-1")  # default retries
    assert result.completeness == "complete", [o for o in result.outcomes if o.outcome != "ok"]
    assert proxy.faulted == {"DescribeVpcs": 2, "DescribeSubnets": 2, "DescribeLoadBalancers": 1}
    assert proxy.seen["DescribeVpcs"] == 3
    assert proxy.seen["DescribeSubnets"] == 3
    assert proxy.seen["DescribeLoadBalancers"] == 2
    assert proxy.seen["DescribeRouteTables"] == 1
    assert result.counts_by_type["vpc"] == 1  # moto's default VPC


def test_an_api_that_keeps_failing_ends_failed_and_the_rest_goes_on(proxy):
    """Like moto's unimplemented APIs (HTTP 500): 'failed' with the error, never an exception."""
    proxy.always["DescribeTransitGateways"] = INTERNAL
    proxy.always["DescribeConnections"] = (500, b'{"__type": "InternalServerError"}')
    result = collect_location(
        plain_session("us-east-1"),
        ACCOUNT,
        "us-east-1",
        config=Config(retries={"total_max_attempts": 2, "mode": "standard"}),
    )
    outcomes = {o.resource_type: o for o in result.outcomes}
    tgw = outcomes["transit_gateway"]
    assert tgw.outcome == "failed"
    assert tgw.action == "ec2:DescribeTransitGateways"
    assert tgw.error == "InternalError: An internal error has occurred"
    assert outcomes["direct_connect_connection"].outcome == "failed"
    assert proxy.seen["DescribeTransitGateways"] == 2  # retried once, then given up
    assert result.completeness == "partial"
    assert result.unknown_types == {"transit_gateway", "direct_connect_connection"}
    assert outcomes["vpc"].outcome == "ok"


def test_an_answer_that_cannot_be_normalized_fails_only_its_type(moto_endpoint, monkeypatch):
    from cloudinsights_dagster.inventory import collectors

    def broken(items):
        raise KeyError("VpcId")

    vpc = collectors.COLLECTORS["vpc"]
    monkeypatch.setitem(collectors.COLLECTORS, "vpc", collectors.Collector("vpc", vpc.get, broken))
    result = collect_location(plain_session("us-east-1"), ACCOUNT, "us-east-1", config=FAST)
    outcomes = {o.resource_type: o for o in result.outcomes}
    assert outcomes["vpc"].outcome == "failed"
    assert outcomes["vpc"].error == (
        "cannot normalize the ec2:DescribeVpcs answer: KeyError: 'VpcId'"
    )
    assert result.completeness == "partial"
    assert outcomes["subnet"].outcome == "ok" and result.counts_by_type["subnet"] > 0
