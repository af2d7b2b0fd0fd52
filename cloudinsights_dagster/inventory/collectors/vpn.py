"""Site-to-Site VPN: virtual private gateways, customer gateways, VPN connections.

VPN connections carry secrets (``CustomerGatewayConfiguration`` holds the pre-shared keys, so do
``Options.TunnelOptions[].PreSharedKey``): neither is ever kept. Tunnel telemetry (status, last
change, accepted routes) changes without any configuration change and is dropped too.
"""

from __future__ import annotations

from typing import Any

from ..model import ResourceRecord
from ._common import fetch_all, keyed, records, s, sorted_ips, tags


def get_vpn_gateways(client: Any) -> list[dict]:
    return fetch_all(client, "describe_vpn_gateways", "VpnGateways")


def _vgw(g: dict) -> dict:
    t = tags(g.get("Tags"))
    attachments = keyed(
        {"key": a["VpcId"], "vpc_id": a["VpcId"], "state": a.get("State")}
        for a in g.get("VpcAttachments") or ()
        if a.get("VpcId")
    )
    attached = [a["vpc_id"] for a in attachments if a["state"] in ("attached", "attaching")]
    return {
        "vpn_gateway_id": g["VpnGatewayId"],
        "name": t.get("Name"),
        "type": g.get("Type"),
        "state": g.get("State"),
        "availability_zone": s(g.get("AvailabilityZone")),
        "amazon_side_asn": g.get("AmazonSideAsn"),
        "vpc_id": attached[0] if attached else None,
        "vpc_attachments": attachments,
        "tags": t,
    }


def transform_vpn_gateways(items: list[dict]) -> list[ResourceRecord]:
    return records("vpn_gateway", items, lambda g: g.get("VpnGatewayId"), _vgw)


def get_customer_gateways(client: Any) -> list[dict]:
    return fetch_all(client, "describe_customer_gateways", "CustomerGateways")


def _cgw(g: dict) -> dict:
    t = tags(g.get("Tags"))
    return {
        "customer_gateway_id": g["CustomerGatewayId"],
        "name": t.get("Name"),
        "type": g.get("Type"),
        "state": g.get("State"),
        "bgp_asn": g.get("BgpAsn"),
        "ip_address": g.get("IpAddress"),
        "device_name": g.get("DeviceName"),
        "certificate_arn": g.get("CertificateArn"),
        "tags": t,
    }


def transform_customer_gateways(items: list[dict]) -> list[ResourceRecord]:
    return records("customer_gateway", items, lambda g: g.get("CustomerGatewayId"), _cgw)


def get_vpn_connections(client: Any) -> list[dict]:
    return fetch_all(client, "describe_vpn_connections", "VpnConnections")


def _vpn(c: dict) -> dict:
    t = tags(c.get("Tags"))
    options = c.get("Options") or {}
    tunnels = options.get("TunnelOptions") or ()
    return {
        "vpn_connection_id": c["VpnConnectionId"],
        "name": t.get("Name"),
        "type": c.get("Type"),
        "state": c.get("State"),
        "category": c.get("Category"),
        "customer_gateway_id": c.get("CustomerGatewayId"),
        "vpn_gateway_id": s(c.get("VpnGatewayId")),
        "transit_gateway_id": s(c.get("TransitGatewayId")),
        "core_network_arn": c.get("CoreNetworkArn"),
        "static_routes_only": options.get("StaticRoutesOnly"),
        "local_ipv4_network_cidr": options.get("LocalIpv4NetworkCidr"),
        "remote_ipv4_network_cidr": options.get("RemoteIpv4NetworkCidr"),
        "tunnel_outside_ips": sorted_ips(
            [x.get("OutsideIpAddress") for x in tunnels]
            + [x.get("OutsideIpAddress") for x in c.get("VgwTelemetry") or ()]
        ),
        "tunnel_inside_cidrs": sorted_ips(x.get("TunnelInsideCidr") for x in tunnels),
        "routes": keyed(
            {"key": r["DestinationCidrBlock"], "source": r.get("Source"), "state": r.get("State")}
            for r in c.get("Routes") or ()
            if r.get("DestinationCidrBlock")
        ),
        "tags": t,
    }


def transform_vpn_connections(items: list[dict]) -> list[ResourceRecord]:
    return records("vpn_connection", items, lambda c: c.get("VpnConnectionId"), _vpn)
