"""VPCs and subnets (ec2:DescribeVpcs, ec2:DescribeSubnets)."""

from __future__ import annotations

from typing import Any

from ..model import ResourceRecord
from ._common import fetch_all, keyed, records, s, tags


def get_vpcs(client: Any) -> list[dict]:
    return fetch_all(client, "describe_vpcs", "Vpcs")


def _cidr_associations(raw: list[dict] | None, cidr_field: str) -> list[dict]:
    return keyed(
        {
            "key": a.get("AssociationId") or a.get(cidr_field),
            "cidr_block": a.get(cidr_field),
            "state": (a.get("CidrBlockState") or a.get("Ipv6CidrBlockState") or {}).get("State"),
        }
        for a in raw or ()
    )


def _vpc(v: dict) -> dict:
    t = tags(v.get("Tags"))
    return {
        "vpc_id": v["VpcId"],
        "owner_id": v.get("OwnerId"),
        "name": t.get("Name"),
        "cidr_block": v.get("CidrBlock"),
        "cidr_block_associations": _cidr_associations(
            v.get("CidrBlockAssociationSet"), "CidrBlock"
        ),
        "ipv6_cidr_block_associations": _cidr_associations(
            v.get("Ipv6CidrBlockAssociationSet"), "Ipv6CidrBlock"
        ),
        "dhcp_options_id": s(v.get("DhcpOptionsId")),
        "instance_tenancy": v.get("InstanceTenancy"),
        "is_default": bool(v.get("IsDefault", False)),
        "state": v.get("State"),
        "tags": t,
    }


def transform_vpcs(items: list[dict]) -> list[ResourceRecord]:
    return records("vpc", items, lambda v: v.get("VpcId"), _vpc)


def get_subnets(client: Any) -> list[dict]:
    return fetch_all(client, "describe_subnets", "Subnets")


def _subnet(n: dict) -> dict:
    t = tags(n.get("Tags"))
    # AvailableIpAddressCount is dropped: it moves with every ENI created or deleted.
    return {
        "subnet_id": n["SubnetId"],
        "subnet_arn": n.get("SubnetArn"),
        "vpc_id": n.get("VpcId"),
        "owner_id": n.get("OwnerId"),
        "name": t.get("Name"),
        "cidr_block": n.get("CidrBlock"),
        "ipv6_cidr_block_associations": _cidr_associations(
            n.get("Ipv6CidrBlockAssociationSet"), "Ipv6CidrBlock"
        ),
        "availability_zone": n.get("AvailabilityZone"),
        "availability_zone_id": n.get("AvailabilityZoneId"),
        "default_for_az": bool(n.get("DefaultForAz", False)),
        "map_public_ip_on_launch": bool(n.get("MapPublicIpOnLaunch", False)),
        "assign_ipv6_address_on_creation": bool(n.get("AssignIpv6AddressOnCreation", False)),
        "ipv6_native": bool(n.get("Ipv6Native", False)),
        "outpost_arn": n.get("OutpostArn"),
        "state": n.get("State"),
        "tags": t,
    }


def transform_subnets(items: list[dict]) -> list[ResourceRecord]:
    return records("subnet", items, lambda n: n.get("SubnetId"), _subnet)
