"""One collector per resource type: ``get`` reads the raw items with exactly the API the catalog
names (through a boto3 paginator where the operation has one), ``transform`` turns them into
normalized :class:`~cloudinsights_dagster.inventory.model.ResourceRecord`s and is pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..model import ResourceRecord
from . import (
    addresses,
    directconnect,
    elbv2,
    flow_logs,
    gateways,
    instances,
    network_interfaces,
    peering,
    route_tables,
    security,
    transit_gateway,
    vpc,
    vpn,
)


@dataclass(frozen=True)
class Collector:
    resource_type: str
    get: Callable[[Any], list[dict]]  # boto3 client -> raw API items
    transform: Callable[[list[dict]], list[ResourceRecord]]  # pure


COLLECTORS: dict[str, Collector] = {
    c.resource_type: c
    for c in (
        Collector("vpc", vpc.get_vpcs, vpc.transform_vpcs),
        Collector("subnet", vpc.get_subnets, vpc.transform_subnets),
        Collector(
            "route_table", route_tables.get_route_tables, route_tables.transform_route_tables
        ),
        Collector(
            "internet_gateway", gateways.get_internet_gateways, gateways.transform_internet_gateways
        ),
        Collector(
            "egress_only_internet_gateway",
            gateways.get_egress_only_internet_gateways,
            gateways.transform_egress_only_internet_gateways,
        ),
        Collector("nat_gateway", gateways.get_nat_gateways, gateways.transform_nat_gateways),
        Collector(
            "vpc_peering_connection",
            peering.get_vpc_peering_connections,
            peering.transform_vpc_peering_connections,
        ),
        Collector("vpc_endpoint", peering.get_vpc_endpoints, peering.transform_vpc_endpoints),
        Collector(
            "network_interface",
            network_interfaces.get_network_interfaces,
            network_interfaces.transform_network_interfaces,
        ),
        Collector("instance", instances.get_instances, instances.transform_instances),
        Collector(
            "security_group", security.get_security_groups, security.transform_security_groups
        ),
        Collector("network_acl", security.get_network_acls, security.transform_network_acls),
        Collector("elastic_ip", addresses.get_addresses, addresses.transform_addresses),
        Collector("flow_log", flow_logs.get_flow_logs, flow_logs.transform_flow_logs),
        Collector("load_balancer", elbv2.get_load_balancers, elbv2.transform_load_balancers),
        Collector("target_group", elbv2.get_target_groups, elbv2.transform_target_groups),
        Collector(
            "transit_gateway",
            transit_gateway.get_transit_gateways,
            transit_gateway.transform_transit_gateways,
        ),
        Collector(
            "transit_gateway_attachment",
            transit_gateway.get_transit_gateway_attachments,
            transit_gateway.transform_transit_gateway_attachments,
        ),
        Collector(
            "transit_gateway_route_table",
            transit_gateway.get_transit_gateway_route_tables,
            transit_gateway.transform_transit_gateway_route_tables,
        ),
        Collector("vpn_gateway", vpn.get_vpn_gateways, vpn.transform_vpn_gateways),
        Collector("customer_gateway", vpn.get_customer_gateways, vpn.transform_customer_gateways),
        Collector("vpn_connection", vpn.get_vpn_connections, vpn.transform_vpn_connections),
        Collector(
            "direct_connect_connection",
            directconnect.get_connections,
            directconnect.transform_connections,
        ),
    )
}

__all__ = ["COLLECTORS", "Collector"]
