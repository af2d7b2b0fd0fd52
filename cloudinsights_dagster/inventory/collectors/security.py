"""Security groups and network ACLs.

Security-group rules are flattened to one entry per (protocol, port range, peer) identity, in
``ip_permissions`` (ingress) and ``ip_permissions_egress``; the key reads like
``tcp/443/10.0.0.0/8``, ``all/*/0.0.0.0/0``, ``tcp/1024-65535/sg-0abc`` or ``icmp/8:*/::/0``.
Network ACL entries are keyed by ``ingress/100`` / ``egress/32767``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model import ResourceRecord
from ._common import fetch_all, keyed, protocol, records, sorted_ids, tags


def get_security_groups(client: Any) -> list[dict]:
    return fetch_all(client, "describe_security_groups", "SecurityGroups")


def port_range(proto: str, from_port: Any, to_port: Any) -> str:
    """The port part of a rule identity: '443', '1024-65535', '*' (all), 'icmp type:code'."""
    if proto == "all" or (from_port is None and to_port is None):
        return "*"
    if proto in ("icmp", "icmpv6"):
        icmp_type = "*" if from_port in (None, -1) else str(from_port)
        icmp_code = "*" if to_port in (None, -1) else str(to_port)
        return f"{icmp_type}:{icmp_code}"
    if from_port == to_port:
        return str(from_port)
    if (from_port, to_port) in ((0, 65535), (-1, -1)):
        return "*"
    return f"{from_port}-{to_port}"


def flatten_rules(permissions: list[dict] | None) -> list[dict]:
    """IpPermissions -> one keyed entry per (protocol, ports, peer)."""
    return keyed(_rules(permissions or ()))


def _peers(perm: dict) -> Iterator[tuple[str, str, Any, dict]]:
    """(peer_type, peer, description, extra fields) of every peer of one IpPermission."""
    for r in perm.get("IpRanges") or ():
        if r.get("CidrIp"):
            yield "cidr_ipv4", r["CidrIp"], r.get("Description"), {}
    for r in perm.get("Ipv6Ranges") or ():
        if r.get("CidrIpv6"):
            yield "cidr_ipv6", r["CidrIpv6"], r.get("Description"), {}
    for r in perm.get("PrefixListIds") or ():
        if r.get("PrefixListId"):
            yield "prefix_list", r["PrefixListId"], r.get("Description"), {}
    for r in perm.get("UserIdGroupPairs") or ():
        peer = r.get("GroupId") or r.get("GroupName")
        if peer:
            yield (
                "security_group",
                peer,
                r.get("Description"),
                {
                    "peer_owner_id": r.get("UserId"),
                    "peer_vpc_id": r.get("VpcId"),
                    "peer_vpc_peering_connection_id": r.get("VpcPeeringConnectionId"),
                },
            )


def _rules(permissions) -> Iterator[dict]:
    for perm in permissions:
        proto = protocol(perm.get("IpProtocol"))
        from_port, to_port = perm.get("FromPort"), perm.get("ToPort")
        ports = port_range(proto, from_port, to_port)
        for peer_type, peer, description, extra in _peers(perm):
            yield {
                "key": f"{proto}/{ports}/{peer}",
                "protocol": proto,
                "from_port": from_port,
                "to_port": to_port,
                "peer_type": peer_type,
                "peer": peer,
                "description": description or None,
                **extra,
            }


def _security_group(g: dict) -> dict:
    t = tags(g.get("Tags"))
    return {
        "group_id": g["GroupId"],
        "group_name": g.get("GroupName"),
        "description": g.get("Description"),
        "vpc_id": g.get("VpcId"),
        "owner_id": g.get("OwnerId"),
        "name": t.get("Name") or g.get("GroupName"),
        "ip_permissions": flatten_rules(g.get("IpPermissions")),
        "ip_permissions_egress": flatten_rules(g.get("IpPermissionsEgress")),
        "tags": t,
    }


def transform_security_groups(items: list[dict]) -> list[ResourceRecord]:
    return records("security_group", items, lambda g: g.get("GroupId"), _security_group)


def get_network_acls(client: Any) -> list[dict]:
    return fetch_all(client, "describe_network_acls", "NetworkAcls")


def _acl_entry(e: dict) -> dict:
    direction = "egress" if e.get("Egress") else "ingress"
    ports = e.get("PortRange") or {}
    icmp = e.get("IcmpTypeCode") or {}
    return {
        "key": f"{direction}/{e.get('RuleNumber')}",
        "direction": direction,
        "rule_number": e.get("RuleNumber"),
        "rule_action": e.get("RuleAction"),
        "protocol": protocol(e.get("Protocol")),
        "cidr_block": e.get("CidrBlock"),
        "ipv6_cidr_block": e.get("Ipv6CidrBlock"),
        "from_port": ports.get("From"),
        "to_port": ports.get("To"),
        "icmp_type": icmp.get("Type"),
        "icmp_code": icmp.get("Code"),
    }


def _network_acl(a: dict) -> dict:
    t = tags(a.get("Tags"))
    associations = [x for x in a.get("Associations") or () if x.get("NetworkAclAssociationId")]
    return {
        "network_acl_id": a["NetworkAclId"],
        "vpc_id": a.get("VpcId"),
        "owner_id": a.get("OwnerId"),
        "name": t.get("Name"),
        "is_default": bool(a.get("IsDefault", False)),
        "subnet_ids": sorted_ids(x.get("SubnetId") for x in associations),
        "entries": keyed(_acl_entry(e) for e in a.get("Entries") or ()),
        "associations": keyed(
            {"key": x["NetworkAclAssociationId"], "subnet_id": x.get("SubnetId")}
            for x in associations
        ),
        "tags": t,
    }


def transform_network_acls(items: list[dict]) -> list[ResourceRecord]:
    return records("network_acl", items, lambda a: a.get("NetworkAclId"), _network_acl)
