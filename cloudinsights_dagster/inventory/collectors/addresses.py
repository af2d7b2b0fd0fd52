"""Elastic IP addresses (ec2:DescribeAddresses, not paginated)."""

from __future__ import annotations

from typing import Any

from ..model import ResourceRecord
from ._common import fetch_all, records, s, tags


def get_addresses(client: Any) -> list[dict]:
    return fetch_all(client, "describe_addresses", "Addresses")


def _address(a: dict) -> dict:
    t = tags(a.get("Tags"))
    return {
        "allocation_id": s(a.get("AllocationId")),
        "public_ip": a.get("PublicIp"),
        "name": t.get("Name"),
        "domain": a.get("Domain"),
        "association_id": s(a.get("AssociationId")),
        "instance_id": s(a.get("InstanceId")),
        "network_interface_id": s(a.get("NetworkInterfaceId")),
        "network_interface_owner_id": s(a.get("NetworkInterfaceOwnerId")),
        "private_ip": s(a.get("PrivateIpAddress")),
        "public_ipv4_pool": s(a.get("PublicIpv4Pool")),
        "network_border_group": s(a.get("NetworkBorderGroup")),
        "carrier_ip": s(a.get("CarrierIp")),
        "customer_owned_ip": s(a.get("CustomerOwnedIp")),
        "tags": t,
    }


def transform_addresses(items: list[dict]) -> list[ResourceRecord]:
    return records(
        "elastic_ip", items, lambda a: s(a.get("AllocationId")) or s(a.get("PublicIp")), _address
    )
