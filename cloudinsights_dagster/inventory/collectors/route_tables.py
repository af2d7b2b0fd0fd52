"""Route tables (ec2:DescribeRouteTables): routes keyed by destination, associations keyed by
association id."""

from __future__ import annotations

from typing import Any

from ..model import ResourceRecord
from ._common import fetch_all, keyed, records, sorted_ids, tags

# Route target fields, in the order that decides a route's main target.
_TARGETS = (
    ("NatGatewayId", "nat_gateway"),
    ("TransitGatewayId", "transit_gateway"),
    ("VpcPeeringConnectionId", "vpc_peering_connection"),
    ("EgressOnlyInternetGatewayId", "egress_only_internet_gateway"),
    ("InstanceId", "instance"),
    ("NetworkInterfaceId", "network_interface"),
    ("LocalGatewayId", "local_gateway"),
    ("CarrierGatewayId", "carrier_gateway"),
    ("CoreNetworkArn", "core_network"),
    ("GatewayId", "gateway"),
)

_GATEWAY_PREFIXES = {
    "igw-": "internet_gateway",
    "vgw-": "vpn_gateway",
    "vpce-": "vpc_endpoint",
    "local": "local",
}


def get_route_tables(client: Any) -> list[dict]:
    return fetch_all(client, "describe_route_tables", "RouteTables")


def _destination(route: dict) -> tuple[str | None, str | None]:
    for field, kind in (
        ("DestinationCidrBlock", "ipv4"),
        ("DestinationIpv6CidrBlock", "ipv6"),
        ("DestinationPrefixListId", "prefix_list"),
    ):
        if route.get(field):
            return route[field], kind
    return None, None


def _route(route: dict) -> dict | None:
    destination, kind = _destination(route)
    if destination is None:
        return None
    target_type, target_id = None, None
    for field, kind_name in _TARGETS:
        if route.get(field):
            target_id = route[field]
            target_type = kind_name
            if kind_name == "gateway":
                target_type = next(
                    (
                        name
                        for prefix, name in _GATEWAY_PREFIXES.items()
                        if target_id.startswith(prefix)
                    ),
                    "gateway",
                )
            break
    return {
        "key": destination,
        "destination": destination,
        "destination_type": kind,
        "target_type": target_type,
        "target_id": target_id,
        "instance_id": route.get("InstanceId"),
        "network_interface_id": route.get("NetworkInterfaceId"),
        "state": route.get("State"),
        "origin": route.get("Origin"),
    }


def _association(a: dict) -> dict:
    return {
        "key": a.get("RouteTableAssociationId"),
        "subnet_id": a.get("SubnetId"),
        "gateway_id": a.get("GatewayId"),
        "main": bool(a.get("Main", False)),
        "state": (a.get("AssociationState") or {}).get("State"),
    }


def _route_table(r: dict) -> dict:
    t = tags(r.get("Tags"))
    associations = [a for a in r.get("Associations") or () if a.get("RouteTableAssociationId")]
    return {
        "route_table_id": r["RouteTableId"],
        "vpc_id": r.get("VpcId"),
        "owner_id": r.get("OwnerId"),
        "name": t.get("Name"),
        "main": any(a.get("Main") for a in associations),
        "subnet_ids": sorted_ids(a.get("SubnetId") for a in associations),
        "routes": keyed(filter(None, (_route(x) for x in r.get("Routes") or ()))),
        "associations": keyed(_association(a) for a in associations),
        "propagating_vgws": sorted_ids(p.get("GatewayId") for p in r.get("PropagatingVgws") or ()),
        "tags": t,
    }


def transform_route_tables(items: list[dict]) -> list[ResourceRecord]:
    return records("route_table", items, lambda r: r.get("RouteTableId"), _route_table)
