"""Elastic Load Balancing v2: load balancers and target groups.

ELBv2 tags need a separate API (DescribeTags) that the catalog does not call, so ``name`` is the
load balancer's / target group's own name.
"""

from __future__ import annotations

from typing import Any

from ..model import ResourceRecord
from ._common import fetch_all, keyed, records, sorted_ids, sorted_ips, ts


def get_load_balancers(client: Any) -> list[dict]:
    return fetch_all(client, "describe_load_balancers", "LoadBalancers")


def interface_description(arn: str | None) -> str | None:
    """The Description AWS gives the load balancer's ENIs: ``ELB app/my-alb/50dc6c495c0c9188``
    (links requester-managed ENIs, and so flows, to their load balancer)."""
    if not arn or ":loadbalancer/" not in arn:
        return None
    return "ELB " + arn.split(":loadbalancer/", 1)[1]


def _zone(z: dict) -> dict:
    addresses = z.get("LoadBalancerAddresses") or ()
    return {
        "key": z.get("ZoneName"),
        "zone_name": z.get("ZoneName"),
        "subnet_id": z.get("SubnetId"),
        "outpost_id": z.get("OutpostId"),
        "ip_addresses": sorted_ips(a.get("IpAddress") for a in addresses),
        "private_ipv4_addresses": sorted_ips(a.get("PrivateIPv4Address") for a in addresses),
        "ipv6_addresses": sorted_ips(a.get("IPv6Address") for a in addresses),
        "allocation_ids": sorted_ids(a.get("AllocationId") for a in addresses),
    }


def _load_balancer(lb: dict) -> dict:
    zones = [z for z in lb.get("AvailabilityZones") or () if z.get("ZoneName")]
    arn = lb["LoadBalancerArn"]
    return {
        "load_balancer_arn": arn,
        "name": lb.get("LoadBalancerName"),
        "type": lb.get("Type"),
        "scheme": lb.get("Scheme"),
        "state": (lb.get("State") or {}).get("Code"),
        "vpc_id": lb.get("VpcId"),
        "dns_name": lb.get("DNSName"),
        "canonical_hosted_zone_id": lb.get("CanonicalHostedZoneId"),
        "ip_address_type": lb.get("IpAddressType"),
        "created_time": ts(lb.get("CreatedTime")),
        "availability_zones": keyed(_zone(z) for z in zones),
        "subnet_ids": sorted_ids(z.get("SubnetId") for z in zones),
        "security_group_ids": sorted_ids(lb.get("SecurityGroups") or ()),
        "customer_owned_ipv4_pool": lb.get("CustomerOwnedIpv4Pool"),
        "network_interface_description": interface_description(arn),
    }


def transform_load_balancers(items: list[dict]) -> list[ResourceRecord]:
    return records("load_balancer", items, lambda lb: lb.get("LoadBalancerArn"), _load_balancer)


def get_target_groups(client: Any) -> list[dict]:
    return fetch_all(client, "describe_target_groups", "TargetGroups")


def _target_group(g: dict) -> dict:
    return {
        "target_group_arn": g["TargetGroupArn"],
        "name": g.get("TargetGroupName"),
        "vpc_id": g.get("VpcId"),
        "protocol": g.get("Protocol"),
        "protocol_version": g.get("ProtocolVersion"),
        "port": g.get("Port"),
        "target_type": g.get("TargetType"),
        "ip_address_type": g.get("IpAddressType"),
        "load_balancer_arns": sorted_ids(g.get("LoadBalancerArns") or ()),
        "health_check": {
            "enabled": g.get("HealthCheckEnabled"),
            "protocol": g.get("HealthCheckProtocol"),
            "port": g.get("HealthCheckPort"),
            "path": g.get("HealthCheckPath"),
            "interval_seconds": g.get("HealthCheckIntervalSeconds"),
            "timeout_seconds": g.get("HealthCheckTimeoutSeconds"),
            "healthy_threshold": g.get("HealthyThresholdCount"),
            "unhealthy_threshold": g.get("UnhealthyThresholdCount"),
            "matcher": (g.get("Matcher") or {}).get("HttpCode")
            or (g.get("Matcher") or {}).get("GrpcCode"),
        },
    }


def transform_target_groups(items: list[dict]) -> list[ResourceRecord]:
    return records("target_group", items, lambda g: g.get("TargetGroupArn"), _target_group)
