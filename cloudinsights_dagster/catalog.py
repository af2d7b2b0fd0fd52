"""What the inventory collector reads: resource types, the one AWS API behind each, and the
resource groups that integration policies can switch off.

This is the single source for the inventory permission policy (exactly these actions, no
wildcards) and for the collectors, so the policy can never drift from what is called.
"""

from __future__ import annotations

from dataclasses import dataclass

CORE_RESOURCE_GROUP = "ec2"


@dataclass(frozen=True)
class ResourceGroup:
    name: str
    title: str
    can_disable: bool


RESOURCE_GROUPS: dict[str, ResourceGroup] = {
    group.name: group
    for group in (
        ResourceGroup(CORE_RESOURCE_GROUP, "EC2 (including load balancing)", can_disable=False),
        ResourceGroup("transitgateway", "Transit Gateway", can_disable=True),
        ResourceGroup("vpn", "Site-to-Site VPN", can_disable=True),
        ResourceGroup("directconnect", "Direct Connect", can_disable=True),
    )
}


@dataclass(frozen=True)
class ResourceType:
    """One kind of inventory resource, read by exactly one (paginated) API call."""

    name: str
    resource_group: str
    service: str  # boto3 service name
    operation: str  # boto3 method name
    action: str  # IAM action, e.g. ec2:DescribeVpcs


def _rt(name: str, group: str, service: str, operation: str, iam_prefix: str) -> ResourceType:
    api = "".join(part.capitalize() for part in operation.split("_"))
    return ResourceType(name, group, service, operation, f"{iam_prefix}:{api}")


RESOURCE_TYPES: dict[str, ResourceType] = {
    rt.name: rt
    for rt in (
        _rt("vpc", "ec2", "ec2", "describe_vpcs", "ec2"),
        _rt("subnet", "ec2", "ec2", "describe_subnets", "ec2"),
        _rt("route_table", "ec2", "ec2", "describe_route_tables", "ec2"),
        _rt("internet_gateway", "ec2", "ec2", "describe_internet_gateways", "ec2"),
        _rt(
            "egress_only_internet_gateway",
            "ec2",
            "ec2",
            "describe_egress_only_internet_gateways",
            "ec2",
        ),
        _rt("nat_gateway", "ec2", "ec2", "describe_nat_gateways", "ec2"),
        _rt("vpc_peering_connection", "ec2", "ec2", "describe_vpc_peering_connections", "ec2"),
        _rt("vpc_endpoint", "ec2", "ec2", "describe_vpc_endpoints", "ec2"),
        _rt("network_interface", "ec2", "ec2", "describe_network_interfaces", "ec2"),
        _rt("instance", "ec2", "ec2", "describe_instances", "ec2"),
        _rt("security_group", "ec2", "ec2", "describe_security_groups", "ec2"),
        _rt("network_acl", "ec2", "ec2", "describe_network_acls", "ec2"),
        _rt("elastic_ip", "ec2", "ec2", "describe_addresses", "ec2"),
        _rt("flow_log", "ec2", "ec2", "describe_flow_logs", "ec2"),
        _rt("load_balancer", "ec2", "elbv2", "describe_load_balancers", "elasticloadbalancing"),
        _rt("target_group", "ec2", "elbv2", "describe_target_groups", "elasticloadbalancing"),
        _rt("transit_gateway", "transitgateway", "ec2", "describe_transit_gateways", "ec2"),
        _rt(
            "transit_gateway_attachment",
            "transitgateway",
            "ec2",
            "describe_transit_gateway_attachments",
            "ec2",
        ),
        _rt(
            "transit_gateway_route_table",
            "transitgateway",
            "ec2",
            "describe_transit_gateway_route_tables",
            "ec2",
        ),
        _rt("vpn_gateway", "vpn", "ec2", "describe_vpn_gateways", "ec2"),
        _rt("customer_gateway", "vpn", "ec2", "describe_customer_gateways", "ec2"),
        _rt("vpn_connection", "vpn", "ec2", "describe_vpn_connections", "ec2"),
        _rt(
            "direct_connect_connection",
            "directconnect",
            "directconnect",
            "describe_connections",
            "directconnect",
        ),
    )
}

# Called once per account to learn its enabled regions (locations).
REGION_DISCOVERY_ACTION = "ec2:DescribeRegions"


def inventory_actions() -> list[str]:
    """Every IAM action the inventory collector calls, sorted, no wildcards."""
    return sorted({rt.action for rt in RESOURCE_TYPES.values()} | {REGION_DISCOVERY_ACTION})


def resource_types_enabled(disabled_groups: set[str] | frozenset[str]) -> list[ResourceType]:
    return [rt for rt in RESOURCE_TYPES.values() if rt.resource_group not in disabled_groups]
