"""VPC peering connections and VPC endpoints."""

from __future__ import annotations

from typing import Any

from ..model import ResourceRecord
from ._common import fetch_all, keyed, policy, records, sorted_ids, sorted_ips, tags, ts


def get_vpc_peering_connections(client: Any) -> list[dict]:
    return fetch_all(client, "describe_vpc_peering_connections", "VpcPeeringConnections")


def _side(info: dict | None, prefix: str) -> dict:
    info = info or {}
    options = info.get("PeeringOptions") or {}
    return {
        f"{prefix}_vpc_id": info.get("VpcId"),
        f"{prefix}_owner_id": info.get("OwnerId"),
        f"{prefix}_region": info.get("Region"),
        f"{prefix}_cidr_block": info.get("CidrBlock"),
        f"{prefix}_cidr_blocks": sorted_ips(
            c.get("CidrBlock") for c in info.get("CidrBlockSet") or ()
        ),
        f"{prefix}_ipv6_cidr_blocks": sorted_ips(
            c.get("Ipv6CidrBlock") for c in info.get("Ipv6CidrBlockSet") or ()
        ),
        f"{prefix}_allow_dns_resolution_from_remote_vpc": options.get(
            "AllowDnsResolutionFromRemoteVpc"
        ),
    }


def _peering(p: dict) -> dict:
    t = tags(p.get("Tags"))
    requester = p.get("RequesterVpcInfo") or {}
    accepter = p.get("AccepterVpcInfo") or {}
    # The status message and expiration time are dropped: they say nothing the code does not.
    return {
        "vpc_peering_connection_id": p["VpcPeeringConnectionId"],
        "name": t.get("Name"),
        "status": (p.get("Status") or {}).get("Code"),
        "vpc_ids": sorted_ids([requester.get("VpcId"), accepter.get("VpcId")]),
        **_side(requester, "requester"),
        **_side(accepter, "accepter"),
        "tags": t,
    }


def transform_vpc_peering_connections(items: list[dict]) -> list[ResourceRecord]:
    return records(
        "vpc_peering_connection", items, lambda p: p.get("VpcPeeringConnectionId"), _peering
    )


def get_vpc_endpoints(client: Any) -> list[dict]:
    return fetch_all(client, "describe_vpc_endpoints", "VpcEndpoints")


def _endpoint(e: dict) -> dict:
    t = tags(e.get("Tags"))
    dns_entries = keyed(
        {"key": d["DnsName"], "dns_name": d["DnsName"], "hosted_zone_id": d.get("HostedZoneId")}
        for d in e.get("DnsEntries") or ()
        if d.get("DnsName")
    )
    return {
        "vpc_endpoint_id": e["VpcEndpointId"],
        "vpc_id": e.get("VpcId"),
        "owner_id": e.get("OwnerId"),
        "name": t.get("Name"),
        "service_name": e.get("ServiceName"),
        "vpc_endpoint_type": e.get("VpcEndpointType"),
        "state": e.get("State"),
        "policy_document": policy(e.get("PolicyDocument")),
        "route_table_ids": sorted_ids(e.get("RouteTableIds") or ()),
        "subnet_ids": sorted_ids(e.get("SubnetIds") or ()),
        "security_group_ids": sorted_ids(g.get("GroupId") for g in e.get("Groups") or ()),
        "network_interface_ids": sorted_ids(e.get("NetworkInterfaceIds") or ()),
        "private_dns_enabled": e.get("PrivateDnsEnabled"),
        "requester_managed": e.get("RequesterManaged"),
        "ip_address_type": e.get("IpAddressType"),
        "dns_entries": dns_entries,
        "creation_timestamp": ts(e.get("CreationTimestamp")),
        "tags": t,
    }


def transform_vpc_endpoints(items: list[dict]) -> list[ResourceRecord]:
    return records("vpc_endpoint", items, lambda e: e.get("VpcEndpointId"), _endpoint)
