"""Internet, egress-only internet and NAT gateways."""

from __future__ import annotations

from typing import Any

from ..model import ResourceRecord
from ._common import fetch_all, keyed, records, sorted_ids, sorted_ips, tags, ts


def _attachments(raw: list[dict] | None) -> list[dict]:
    return keyed(
        {"key": a.get("VpcId"), "vpc_id": a.get("VpcId"), "state": a.get("State")}
        for a in raw or ()
        if a.get("VpcId")
    )


def _first_vpc(attachments: list[dict]) -> str | None:
    return attachments[0]["vpc_id"] if attachments else None


def get_internet_gateways(client: Any) -> list[dict]:
    return fetch_all(client, "describe_internet_gateways", "InternetGateways")


def _igw(g: dict) -> dict:
    t = tags(g.get("Tags"))
    attachments = _attachments(g.get("Attachments"))
    return {
        "internet_gateway_id": g["InternetGatewayId"],
        "owner_id": g.get("OwnerId"),
        "name": t.get("Name"),
        "vpc_id": _first_vpc(attachments),
        "attachments": attachments,
        "tags": t,
    }


def transform_internet_gateways(items: list[dict]) -> list[ResourceRecord]:
    return records("internet_gateway", items, lambda g: g.get("InternetGatewayId"), _igw)


def get_egress_only_internet_gateways(client: Any) -> list[dict]:
    return fetch_all(client, "describe_egress_only_internet_gateways", "EgressOnlyInternetGateways")


def _eigw(g: dict) -> dict:
    t = tags(g.get("Tags"))
    attachments = _attachments(g.get("Attachments"))
    return {
        "egress_only_internet_gateway_id": g["EgressOnlyInternetGatewayId"],
        "owner_id": g.get("OwnerId"),
        "name": t.get("Name"),
        "vpc_id": _first_vpc(attachments),
        "attachments": attachments,
        "tags": t,
    }


def transform_egress_only_internet_gateways(items: list[dict]) -> list[ResourceRecord]:
    return records(
        "egress_only_internet_gateway", items, lambda g: g.get("EgressOnlyInternetGatewayId"), _eigw
    )


def get_nat_gateways(client: Any) -> list[dict]:
    return fetch_all(client, "describe_nat_gateways", "NatGateways")


def _nat(g: dict) -> dict:
    t = tags(g.get("Tags"))
    raw_addresses = g.get("NatGatewayAddresses") or []
    addresses = keyed(
        {
            "key": a.get("PrivateIp") or a.get("NetworkInterfaceId") or a.get("AllocationId"),
            "private_ip": a.get("PrivateIp"),
            "public_ip": a.get("PublicIp"),
            "allocation_id": a.get("AllocationId"),
            "association_id": a.get("AssociationId"),
            "network_interface_id": a.get("NetworkInterfaceId"),
            "is_primary": a.get("IsPrimary"),
            "status": a.get("Status"),
        }
        for a in raw_addresses
        if a.get("PrivateIp") or a.get("NetworkInterfaceId") or a.get("AllocationId")
    )
    return {
        "nat_gateway_id": g["NatGatewayId"],
        "owner_id": g.get("OwnerId"),
        "name": t.get("Name"),
        "vpc_id": g.get("VpcId"),
        "subnet_id": g.get("SubnetId"),
        "connectivity_type": g.get("ConnectivityType", "public"),
        "state": g.get("State"),
        "failure_code": g.get("FailureCode"),
        "failure_message": g.get("FailureMessage"),
        "create_time": ts(g.get("CreateTime")),
        "delete_time": ts(g.get("DeleteTime")),
        "addresses": addresses,
        "network_interface_ids": sorted_ids(a.get("NetworkInterfaceId") for a in raw_addresses),
        "private_ips": sorted_ips(a.get("PrivateIp") for a in raw_addresses),
        "public_ips": sorted_ips(a.get("PublicIp") for a in raw_addresses),
        "tags": t,
    }


def transform_nat_gateways(items: list[dict]) -> list[ResourceRecord]:
    return records("nat_gateway", items, lambda g: g.get("NatGatewayId"), _nat)
