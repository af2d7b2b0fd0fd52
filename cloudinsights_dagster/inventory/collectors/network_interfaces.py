"""Elastic network interfaces (ec2:DescribeNetworkInterfaces).

The flow-log enrichment maps a flow's ``interface-id`` to this record (instance, subnet, VPC,
security groups, AZ, owner, name) and resolves peer addresses through ``private_ips`` /
``public_ips``, so those fields are always present.
"""

from __future__ import annotations

from typing import Any

from ..model import ResourceRecord
from ._common import fetch_all, keyed, records, s, sorted_ids, sorted_ips, tags


def get_network_interfaces(client: Any) -> list[dict]:
    return fetch_all(client, "describe_network_interfaces", "NetworkInterfaces")


def _addresses(eni: dict) -> list[dict]:
    raw = list(eni.get("PrivateIpAddresses") or ())
    if not raw and eni.get("PrivateIpAddress"):
        raw = [
            {
                "PrivateIpAddress": eni["PrivateIpAddress"],
                "Primary": True,
                "Association": eni.get("Association"),
            }
        ]
    out = []
    for a in raw:
        ip = a.get("PrivateIpAddress")
        if not ip:
            continue
        assoc = a.get("Association") or {}
        if not assoc and a.get("Primary") and eni.get("Association"):
            assoc = eni["Association"]
        out.append(
            {
                "key": ip,
                "private_ip": ip,
                "primary": bool(a.get("Primary", False)),
                "private_dns_name": s(a.get("PrivateDnsName")),
                "public_ip": s(assoc.get("PublicIp")),
                "public_dns_name": s(assoc.get("PublicDnsName")),
                "ip_owner_id": s(assoc.get("IpOwnerId")),
                "allocation_id": s(assoc.get("AllocationId")),
            }
        )
    return keyed(out)


def _eni(e: dict) -> dict:
    t = tags(e.get("TagSet") or e.get("Tags"))
    attachment = e.get("Attachment") or {}
    requester_managed = bool(e.get("RequesterManaged", False))
    addresses = _addresses(e)
    az = e.get("AvailabilityZone")
    return {
        "interface_id": e["NetworkInterfaceId"],
        "owner_id": e.get("OwnerId"),
        "name": t.get("Name"),
        "description": s(e.get("Description")),
        "interface_type": e.get("InterfaceType"),
        "requester_managed": requester_managed,
        "requester_id": s(e.get("RequesterId")),
        "status": e.get("Status"),
        "vpc_id": e.get("VpcId"),
        "subnet_id": e.get("SubnetId"),
        "az": az,
        "availability_zone": az,
        "availability_zone_id": e.get("AvailabilityZoneId"),
        # Requester-managed ENIs (NAT, ELB, endpoints...) belong to no instance of the account.
        "instance_id": None if requester_managed else s(attachment.get("InstanceId")),
        "instance_owner_id": s(attachment.get("InstanceOwnerId")),
        "attachment_id": s(attachment.get("AttachmentId")),
        "device_index": attachment.get("DeviceIndex"),
        "attachment_status": attachment.get("Status"),
        "delete_on_termination": attachment.get("DeleteOnTermination"),
        "mac_address": e.get("MacAddress"),
        "private_ip": s(e.get("PrivateIpAddress")),
        "private_dns_name": s(e.get("PrivateDnsName")),
        "private_ips": sorted_ips(a["private_ip"] for a in addresses),
        "public_ips": sorted_ips(a["public_ip"] for a in addresses),
        "addresses": addresses,
        "ipv6_addresses": sorted_ips(a.get("Ipv6Address") for a in e.get("Ipv6Addresses") or ()),
        "ipv4_prefixes": sorted_ips(p.get("Ipv4Prefix") for p in e.get("Ipv4Prefixes") or ()),
        "security_group_ids": sorted_ids(g.get("GroupId") for g in e.get("Groups") or ()),
        "source_dest_check": e.get("SourceDestCheck"),
        "tags": t,
    }


def transform_network_interfaces(items: list[dict]) -> list[ResourceRecord]:
    return records("network_interface", items, lambda e: e.get("NetworkInterfaceId"), _eni)
