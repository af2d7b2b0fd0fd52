"""transform_* on raw API answers (tests/fixtures/inventory/<resource_type>.json): pure functions,
deterministic output, identity-keyed lists, linking fields, no secrets."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest

from cloudinsights_dagster.catalog import RESOURCE_TYPES
from cloudinsights_dagster.inventory.collectors import COLLECTORS
from cloudinsights_dagster.inventory.collectors._common import ts
from cloudinsights_dagster.inventory.collectors.security import port_range
from cloudinsights_dagster.inventory.model import canonical_json, content_hash

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inventory"


def raw_items(resource_type: str) -> list[dict]:
    """The items list of a fixture answer (its only list-valued key)."""
    answer = json.loads((FIXTURES / f"{resource_type}.json").read_text())
    (items,) = [v for v in answer.values() if isinstance(v, list)]
    return items


def transform(resource_type: str, items: list[dict] | None = None) -> dict[str, dict]:
    items = raw_items(resource_type) if items is None else items
    return {r.resource_id: r.data for r in COLLECTORS[resource_type].transform(items)}


def shuffled(value, rng: random.Random):
    """A deep copy with every list (at any depth) in a random order."""
    if isinstance(value, dict):
        return {k: shuffled(v, rng) for k, v in value.items()}
    if isinstance(value, list):
        items = [shuffled(v, rng) for v in value]
        rng.shuffle(items)
        return items
    return value


def test_every_catalog_type_has_a_collector_and_a_fixture():
    assert set(COLLECTORS) == set(RESOURCE_TYPES)
    assert {p.stem for p in FIXTURES.glob("*.json")} == set(RESOURCE_TYPES)


@pytest.mark.parametrize("resource_type", sorted(RESOURCE_TYPES))
def test_transform_is_pure_deterministic_and_json_native(resource_type):
    items = raw_items(resource_type)
    before = copy.deepcopy(items)
    records = COLLECTORS[resource_type].transform(items)
    assert items == before, "transform must not mutate its input"
    assert records, "every fixture holds at least one resource"
    assert all(r.resource_type == resource_type for r in records)
    assert [r.resource_id for r in records] == sorted({r.resource_id for r in records})
    for record in records:
        # JSON-native: a JSON round trip (what the warehouse does) changes nothing.
        assert json.loads(canonical_json(record.data)) == record.data
        assert record.content_hash == content_hash(record.data)
    # Any order of any list in the API answer gives the very same records.
    for seed in range(5):
        again = COLLECTORS[resource_type].transform(shuffled(items, random.Random(seed)))
        assert [r.data for r in again] == [r.data for r in records]
        assert [r.content_hash for r in again] == [r.content_hash for r in records]


@pytest.mark.parametrize("resource_type", sorted(RESOURCE_TYPES))
def test_keyed_lists_are_sorted_and_unique(resource_type):
    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from walk(v)
        elif isinstance(value, list):
            if value and all(isinstance(v, dict) and "key" in v for v in value):
                yield [v["key"] for v in value]
            for v in value:
                yield from walk(v)

    for data in transform(resource_type).values():
        for keys in walk(data):
            assert keys == sorted(set(keys))


def test_vpc_tags_and_cidr_associations():
    vpc = transform("vpc")["vpc-0a1b2c3d4e5f60001"]
    assert vpc["tags"] == {"Name": "prod", "env": "prod"}
    assert vpc["name"] == "prod"
    assert [a["key"] for a in vpc["cidr_block_associations"]] == [
        "vpc-cidr-assoc-01",
        "vpc-cidr-assoc-02",
    ]
    assert vpc["ipv6_cidr_block_associations"][0]["cidr_block"] == "2a05:d018:1::/56"
    assert transform("vpc")["vpc-0a1b2c3d4e5f60002"]["tags"] == {}


def test_subnet_drops_the_free_address_count():
    subnet = transform("subnet")["subnet-0aaa00000000000a1"]
    assert "available_ip_address_count" not in json.dumps(subnet)
    assert subnet["availability_zone"] == "eu-west-1a"
    assert subnet["availability_zone_id"] == "euw1-az1"
    assert subnet["vpc_id"] == "vpc-0a1b2c3d4e5f60001"
    assert subnet["owner_id"] == "111122223333"
    items = raw_items("subnet")
    items[0]["AvailableIpAddressCount"] -= 7
    assert transform("subnet", items) == transform("subnet")


def test_route_table_routes_keyed_by_destination():
    rt = transform("route_table")["rtb-0pub000000000001"]
    routes = {r["key"]: r for r in rt["routes"]}
    assert routes["0.0.0.0/0"]["target_type"] == "internet_gateway"
    assert routes["0.0.0.0/0"]["target_id"] == "igw-0igw000000000001"
    assert routes["10.0.0.0/16"]["target_type"] == "local"
    assert routes["::/0"]["target_type"] == "egress_only_internet_gateway"
    assert routes["::/0"]["destination_type"] == "ipv6"
    assert routes["172.16.0.0/12"]["target_type"] == "transit_gateway"
    assert routes["10.1.0.0/16"]["state"] == "blackhole"
    assert routes["pl-6da54004"]["target_type"] == "vpc_endpoint"
    assert routes["192.168.10.0/24"]["target_type"] == "instance"
    assert routes["192.168.10.0/24"]["network_interface_id"] == "eni-0inst000000000001"
    assert routes["192.168.0.0/24"]["origin"] == "EnableVgwRoutePropagation"
    assert rt["main"] is True
    assert rt["subnet_ids"] == ["subnet-0aaa00000000000a1"]
    assert [a["key"] for a in rt["associations"]] == ["rtbassoc-0a1", "rtbassoc-0a2"]
    assert rt["propagating_vgws"] == ["vgw-0vgw000000000001"]
    private = transform("route_table")["rtb-0prv000000000001"]
    assert {r["key"]: r["target_type"] for r in private["routes"]}["0.0.0.0/0"] == "nat_gateway"
    assert private["main"] is False


def test_security_group_rules_flattened_one_per_identity():
    sg = transform("security_group")["sg-0web0000000000001"]
    ingress = {r["key"]: r for r in sg["ip_permissions"]}
    assert set(ingress) == {
        "tcp/443/10.0.0.0/8",
        "tcp/443/0.0.0.0/0",
        "tcp/443/::/0",
        "tcp/22/pl-0admin",
        "tcp/22/sg-0bastion0000000001",
        "icmp/8:*/10.0.0.0/16",
        "udp/1024-65535/10.0.0.0/16",
    }
    assert ingress["tcp/443/10.0.0.0/8"]["description"] == "corp"
    assert ingress["tcp/443/0.0.0.0/0"]["description"] is None
    assert ingress["tcp/443/::/0"]["peer_type"] == "cidr_ipv6"
    bastion = ingress["tcp/22/sg-0bastion0000000001"]
    assert bastion["peer_type"] == "security_group"
    assert bastion["peer_owner_id"] == "444455556666"
    assert bastion["peer_vpc_peering_connection_id"] == "pcx-0pcx000000000001"
    assert [r["key"] for r in sg["ip_permissions_egress"]] == ["all/*/0.0.0.0/0", "all/*/::/0"]
    assert sg["name"] == "web-sg"
    db = transform("security_group")["sg-0db00000000000001"]
    assert db["name"] == "db-clients"  # no Name tag: the group name
    assert db["ip_permissions_egress"] == []


def test_security_group_rules_merge_across_permission_blocks():
    """AWS may split or merge IpPermissions blocks; the flattened rules are the same."""
    split = [
        {
            "GroupId": "sg-1",
            "IpPermissions": [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
                },
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                },
            ],
        }
    ]
    merged = [
        {
            "GroupId": "sg-1",
            "IpPermissions": [
                {
                    "IpProtocol": "6",
                    "FromPort": 443,
                    "ToPort": 443,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "10.0.0.0/8"}],
                },
            ],
        }
    ]
    assert transform("security_group", split) == transform("security_group", merged)


@pytest.mark.parametrize(
    ("proto", "from_port", "to_port", "expected"),
    [
        ("tcp", 443, 443, "443"),
        ("tcp", 1024, 65535, "1024-65535"),
        ("tcp", 0, 65535, "*"),
        ("all", None, None, "*"),
        ("icmp", -1, -1, "*:*"),
        ("icmp", 3, 4, "3:4"),
        ("50", None, None, "*"),
    ],
)
def test_port_range(proto, from_port, to_port, expected):
    assert port_range(proto, from_port, to_port) == expected


def test_network_acl_entries_keyed_by_direction_and_number():
    acl = transform("network_acl")["acl-0a1"]
    entries = {e["key"]: e for e in acl["entries"]}
    assert list(entries) == sorted(entries)
    assert entries["ingress/100"]["protocol"] == "tcp"
    assert (entries["ingress/100"]["from_port"], entries["ingress/100"]["to_port"]) == (443, 443)
    assert entries["ingress/110"]["icmp_type"] == 8
    assert entries["ingress/32768"]["ipv6_cidr_block"] == "::/0"
    assert acl["subnet_ids"] == ["subnet-0aaa00000000000a1", "subnet-0bbb00000000000b1"]


def test_network_interface_linking_fields():
    enis = transform("network_interface")
    eni = enis["eni-0inst000000000001"]
    assert eni["interface_id"] == "eni-0inst000000000001"
    assert eni["instance_id"] == "i-0abc00000000000001"
    assert eni["requester_managed"] is False
    assert eni["vpc_id"] == "vpc-0a1b2c3d4e5f60001"
    assert eni["subnet_id"] == "subnet-0aaa00000000000a1"
    assert eni["az"] == eni["availability_zone"] == "eu-west-1a"
    assert eni["owner_id"] == "111122223333"
    assert eni["name"] == "web-1-eth0"
    assert eni["security_group_ids"] == ["sg-0db00000000000001", "sg-0web0000000000001"]
    assert eni["private_ips"] == ["10.0.1.9", "10.0.1.10"]  # numeric order, not text order
    assert eni["private_ip"] == "10.0.1.10"
    assert eni["public_ips"] == ["34.240.1.10", "52.16.99.9"]
    addresses = {a["key"]: a for a in eni["addresses"]}
    assert addresses["10.0.1.10"]["primary"] is True
    assert addresses["10.0.1.9"]["public_ip"] == "52.16.99.9"
    assert addresses["10.0.1.9"]["public_dns_name"] is None  # "" from AWS -> None
    assert eni["ipv6_addresses"] == ["2a05:d018:1::20"]
    assert eni["requester_id"] is None

    nat = enis["eni-0nat0000000000001"]
    assert nat["requester_managed"] is True
    assert nat["instance_id"] is None
    assert nat["instance_owner_id"] == "amazon-aws"
    assert nat["interface_type"] == "nat_gateway"
    assert nat["public_ips"] == ["52.16.10.20"]
    assert nat["security_group_ids"] == []

    elb = enis["eni-0elb0000000000001"]
    assert elb["instance_id"] is None
    assert elb["description"] == "ELB app/web-alb/50dc6c495c0c9188"
    assert elb["public_ips"] == []


def test_instance_fields_and_dropped_noise():
    instances = transform("instance")
    web = instances["i-0abc00000000000001"]
    assert web["owner_id"] == "111122223333"  # from the reservation
    assert web["state"] == "running"
    assert web["launch_time"] == "2026-01-12T08:30:00Z"
    assert web["tags"] == {"Name": "web-1", "team": "payments"}
    assert web["name"] == "web-1"
    assert web["security_group_ids"] == ["sg-0db00000000000001", "sg-0web0000000000001"]
    assert web["network_interface_ids"] == ["eni-0inst000000000001"]
    assert web["public_ip"] == "34.240.1.10"
    assert web["availability_zone"] == "eu-west-1a"
    assert web["metadata_http_tokens"] == "required"
    text = json.dumps(instances)
    for noise in ("ClientToken", "tok-7f3e9", "StateTransitionReason", "User initiated", "Code"):
        assert noise not in text
    stopped = instances["i-0abc00000000000002"]
    assert stopped["state"] == "stopped"
    assert stopped["name"] is None
    assert stopped["network_interfaces"] == []


def test_flow_log_destination_and_format():
    logs = transform("flow_log")
    vpc_log = logs["fl-0vpc000000000001"]
    assert vpc_log["resource_id"] == "vpc-0a1b2c3d4e5f60001"
    assert vpc_log["resource_kind"] == "vpc"
    assert vpc_log["vpc_id"] == "vpc-0a1b2c3d4e5f60001"
    assert vpc_log["destination_type"] == "s3"
    assert vpc_log["destination"] == "arn:aws:s3:::central-flow-logs/prod"
    assert vpc_log["destination_bucket"] == "central-flow-logs"
    assert vpc_log["destination_prefix"] == "prod"
    assert vpc_log["log_format"].startswith("${version} ${account-id} ${interface-id}")
    assert vpc_log["log_fields"][:3] == ["version", "account-id", "interface-id"]
    assert vpc_log["log_fields"][-2:] == ["flow-direction", "traffic-path"]
    assert vpc_log["status"] == "ACTIVE"
    assert vpc_log["max_aggregation_interval"] == 60
    assert vpc_log["per_hour_partition"] is True
    assert vpc_log["file_format"] == "plain-text"

    eni_log = logs["fl-0eni000000000001"]
    assert eni_log["interface_id"] == "eni-0inst000000000001"
    assert eni_log["destination_prefix"] is None
    assert eni_log["file_format"] == "parquet"
    assert eni_log["hive_compatible_partitions"] is True
    assert eni_log["traffic_type"] == "REJECT"

    cwl = logs["fl-0cwl000000000001"]
    assert cwl["destination_type"] == "cloud-watch-logs"
    assert cwl["destination_bucket"] is None
    assert cwl["subnet_id"] == "subnet-0bbb00000000000b1"
    assert cwl["deliver_logs_status"] == "FAILED"
    # No LogFormat in the answer: the default (v2) format, in its documented order.
    assert cwl["log_fields"] == [
        "version",
        "account-id",
        "interface-id",
        "srcaddr",
        "dstaddr",
        "srcport",
        "dstport",
        "protocol",
        "packets",
        "bytes",
        "start",
        "end",
        "action",
        "log-status",
    ]


def test_load_balancer_and_target_group():
    lbs = transform("load_balancer")
    alb = lbs[
        "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/web-alb/50dc6c495c0c9188"
    ]
    assert alb["name"] == "web-alb"
    assert alb["subnet_ids"] == ["subnet-0aaa00000000000a1", "subnet-0bbb00000000000b1"]
    assert [z["key"] for z in alb["availability_zones"]] == ["eu-west-1a", "eu-west-1b"]
    assert alb["network_interface_description"] == "ELB app/web-alb/50dc6c495c0c9188"
    assert alb["created_time"] == "2026-01-12T08:30:00.120000Z"
    nlb = next(v for k, v in lbs.items() if "/net/" in k)
    assert nlb["availability_zones"][0]["ip_addresses"] == ["52.16.55.5"]
    assert nlb["security_group_ids"] == []
    (tg,) = transform("target_group").values()
    assert tg["load_balancer_arns"] == [alb["load_balancer_arn"]]
    assert tg["health_check"]["path"] == "/health"


def test_nat_gateway_and_elastic_ips():
    nat = transform("nat_gateway")["nat-0nat000000000001"]
    assert nat["network_interface_ids"] == ["eni-0nat0000000000001"]
    assert nat["public_ips"] == ["52.16.10.20"]
    assert nat["private_ips"] == ["10.0.1.20"]
    assert nat["create_time"] == "2026-01-12T08:30:00Z"
    eips = transform("elastic_ip")
    assert eips["eipalloc-0s1"]["instance_id"] == "i-0abc00000000000001"
    assert eips["eipalloc-0u1"]["association_id"] is None


def test_peering_endpoints_gateways():
    (pcx,) = transform("vpc_peering_connection").values()
    assert pcx["status"] == "active"
    assert pcx["accepter_owner_id"] == "444455556666"
    assert pcx["accepter_region"] == "eu-central-1"
    assert pcx["requester_cidr_blocks"] == ["10.0.0.0/16", "10.1.0.0/16"]
    assert "expiration" not in json.dumps(pcx).lower()
    endpoints = transform("vpc_endpoint")
    # A policy is compared as data, not as text: reformatting is not a change.
    assert (
        endpoints["vpce-0vpce00000000001"]["policy_document"]["Statement"][0]["Effect"] == "Allow"
    )
    ssm = endpoints["vpce-0vpce00000000002"]
    assert ssm["subnet_ids"] == ["subnet-0aaa00000000000a1", "subnet-0bbb00000000000b1"]
    assert ssm["security_group_ids"] == ["sg-0web0000000000001"]
    items = raw_items("vpc_endpoint")
    items[1]["PolicyDocument"] = json.dumps(json.loads(items[1]["PolicyDocument"]), indent=4)
    assert transform("vpc_endpoint", items)["vpce-0vpce00000000002"] == ssm
    assert [d["key"] for d in ssm["dns_entries"]] == sorted(d["key"] for d in ssm["dns_entries"])
    igw = transform("internet_gateway")["igw-0igw000000000001"]
    assert igw["vpc_id"] == "vpc-0a1b2c3d4e5f60001"
    vgw = transform("vpn_gateway")["vgw-0vgw000000000001"]
    assert vgw["vpc_id"] == "vpc-0a1b2c3d4e5f60001"  # the attached one, not the detached one


def test_transit_gateway_family():
    tgw = transform("transit_gateway")["tgw-0tgw000000000001"]
    assert tgw["options"]["amazon_side_asn"] == 64512
    assert tgw["options"]["transit_gateway_cidr_blocks"] == ["10.98.0.0/24", "10.99.0.0/24"]
    attachments = transform("transit_gateway_attachment")
    assert attachments["tgw-attach-0a1"]["vpc_id"] == "vpc-0a1b2c3d4e5f60001"
    assert attachments["tgw-attach-0a1"]["association_route_table_id"] == "tgw-rtb-0r1"
    assert attachments["tgw-attach-0a2"]["vpc_id"] is None
    rt = transform("transit_gateway_route_table")["tgw-rtb-0r1"]
    assert rt["default_association_route_table"] is True


def test_vpn_connection_keeps_no_secret_and_no_telemetry():
    vpn = transform("vpn_connection")["vpn-0c1"]
    text = canonical_json(vpn)
    assert "SECRET" not in text
    assert "pre_shared_key" not in text.lower() and "presharedkey" not in text.lower()
    assert "UP" not in text and "DOWN" not in text and "08:41" not in text
    assert vpn["tunnel_outside_ips"] == ["52.1.2.3", "52.1.2.4"]
    assert vpn["routes"] == [{"key": "192.168.0.0/24", "source": "Static", "state": "available"}]
    assert vpn["static_routes_only"] is True
    # Telemetry moving is no change at all.
    items = raw_items("vpn_connection")
    items[0]["VgwTelemetry"][1]["Status"] = "UP"
    items[0]["VgwTelemetry"][1]["LastStatusChange"] = "2026-01-12T09:00:00+00:00"
    assert transform("vpn_connection", items)["vpn-0c1"] == vpn


def test_direct_connect_tags_lowercase_keys():
    (dx,) = transform("direct_connect_connection").values()
    assert dx["name"] == "dc-primary"
    assert dx["tags"] == {"Name": "dc-primary"}
    assert dx["owner_id"] == "111122223333"
    assert dx["bandwidth"] == "1Gbps"


def test_timestamps_normalized_to_utc():
    from datetime import datetime, timedelta, timezone

    plus2 = timezone(timedelta(hours=2))
    assert ts(datetime(2026, 1, 12, 10, 30, tzinfo=plus2)) == "2026-01-12T08:30:00Z"
    assert ts("2026-01-12T08:30:00+00:00") == "2026-01-12T08:30:00Z"
    assert ts("2026-01-12T08:30:00.5Z") == "2026-01-12T08:30:00.500000Z"
    assert ts(None) is None


def test_duplicate_identities_keep_one_entry_whatever_the_order():
    """Should an answer ever hold one rule identity twice, the kept entry is order-independent."""
    perms = [
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "b"}],
        },
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "a"}],
        },
    ]
    one = transform("security_group", [{"GroupId": "sg-1", "IpPermissions": perms}])
    other = transform("security_group", [{"GroupId": "sg-1", "IpPermissions": perms[::-1]}])
    assert one == other
    assert [r["description"] for r in one["sg-1"]["ip_permissions"]] == ["a"]
