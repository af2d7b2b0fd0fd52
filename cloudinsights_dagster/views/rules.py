"""The security-group and network-ACL rule model: the rules the inventory holds, read into
typed rules and rule sets (rule_evaluation.py compiles them into flat numpy tables and evaluates
many combinations against them at once).

Input is the inventory's normalized data (inventory/collectors/security.py): a security group's
``ip_permissions`` / ``ip_permissions_egress`` (one entry per protocol, port range and peer) and
a network ACL's ``entries`` (direction, rule number, action, protocol, CIDR, port range).

How AWS evaluates them, and how this model does:

* protocol ``-1`` (``all``) matches every protocol; ``tcp`` 6, ``udp`` 17, ``icmp`` 1, ``icmpv6``
  58 and any other number match that protocol only. Port ranges apply to TCP and UDP; ICMP rules
  match whatever type and code (flow logs carry no ICMP type in the port fields).
* CIDRs: IPv4 and IPv6, a rule of one family never matches an address of the other.
* A security-group rule whose peer is a security group matches an address held by an ENI that
  has that group (resolved through the ENIs' security groups at the same time). Prefix-list
  peers are not resolved (their entries are not in the inventory): they match nothing.
* Security groups only allow, and the union of an ENI's groups applies. They are stateful: the
  response to an allowed request is allowed whatever the rules in its own direction say.
* Network ACLs are stateless: entries in ascending rule number, the first that matches decides
  (allow or deny); no match is the default deny (the ``*`` entry, rule number 32767).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

PROTOCOL_NUMBERS = {"all": -1, "-1": -1, "tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}
DEFAULT_DENY = 32767


class RuleError(ValueError):
    """A rule the model cannot read (named with its resource and key)."""


def protocol_number(value: object) -> int:
    """'tcp' / '6' / '-1' / 'all' / 50 -> the IP protocol number (-1 for all)."""
    text = "all" if value is None else str(value).lower()
    if text in PROTOCOL_NUMBERS:
        return PROTOCOL_NUMBERS[text]
    try:
        number = int(text)
    except ValueError:
        raise RuleError(f"protocol {value!r} is neither a name nor a number") from None
    if not -1 <= number <= 255:
        raise RuleError(f"protocol {value!r} is out of range -1..255")
    return number


@lru_cache(maxsize=65536)
def parse_cidr(text: str) -> tuple[int, int, int, int, int]:
    """A CIDR -> (family, net high, net low, mask high, mask low) over 128 bits."""
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise RuleError(f"{text!r} is not a CIDR block") from None
    bits = 32 if network.version == 4 else 128
    mask = ((1 << network.prefixlen) - 1) << (bits - network.prefixlen)
    net = int(network.network_address)
    return (
        network.version,
        net >> 64,
        net & 0xFFFFFFFFFFFFFFFF,
        mask >> 64,
        mask & 0xFFFFFFFFFFFFFFFF,
    )


def _ports(proto: int, from_port: int | str | None, to_port: int | str | None) -> tuple[int, int]:
    """The port range a rule matches (-1/None means all; ICMP and other protocols: all)."""
    if proto not in (6, 17):
        return 0, 65535
    lo = -1 if from_port is None else int(from_port)
    hi = -1 if to_port is None else int(to_port)
    if lo < 0 and hi < 0:
        return 0, 65535
    return max(lo, 0), 65535 if hi < 0 else hi


@dataclass(frozen=True)
class SgRule:
    group_id: str
    key: str  # the inventory's rule identity, e.g. "tcp/443/0.0.0.0/0"
    egress: bool
    protocol: int
    from_port: int
    to_port: int
    peer: str  # a CIDR or a security group id
    peer_is_group: bool

    @property
    def rule_id(self) -> str:
        return f"{self.group_id}:{'egress' if self.egress else 'ingress'}:{self.key}"


@dataclass(frozen=True)
class AclEntry:
    acl_id: str
    key: str  # "ingress/100"
    egress: bool
    rule_number: int
    allow: bool
    protocol: int
    from_port: int
    to_port: int
    cidr: str

    @property
    def rule_id(self) -> str:
        return f"{self.acl_id}:{self.key}"


def security_group_rules(data: Mapping) -> list[SgRule]:
    """A normalized security group -> its rules (prefix-list peers dropped, see module doc)."""
    group_id = data.get("group_id")
    if not group_id:
        raise RuleError("security group without group_id")
    out = []
    for egress, name in ((False, "ip_permissions"), (True, "ip_permissions_egress")):
        for rule in data.get(name) or ():
            peer_type = rule.get("peer_type") or _guess_peer_type(rule.get("peer"))
            if peer_type == "prefix_list":
                continue
            try:
                proto = protocol_number(rule.get("protocol"))
                lo, hi = _ports(proto, rule.get("from_port"), rule.get("to_port"))
                if peer_type != "security_group":
                    parse_cidr(rule["peer"])
            except (RuleError, KeyError, TypeError, ValueError) as exc:
                raise RuleError(f"{group_id} rule {rule.get('key')!r}: {exc}") from None
            out.append(
                SgRule(
                    group_id,
                    str(rule.get("key")),
                    egress,
                    proto,
                    lo,
                    hi,
                    rule["peer"],
                    peer_type == "security_group",
                )
            )
    return out


def _guess_peer_type(peer: object) -> str:
    text = str(peer or "")
    if text.startswith("sg-"):
        return "security_group"
    if text.startswith("pl-"):
        return "prefix_list"
    return "cidr_ipv6" if ":" in text else "cidr_ipv4"


def network_acl_entries(data: Mapping) -> list[AclEntry]:
    """A normalized network ACL -> its entries sorted by (direction, rule number)."""
    acl_id = data.get("network_acl_id")
    if not acl_id:
        raise RuleError("network ACL without network_acl_id")
    out = []
    for entry in data.get("entries") or ():
        try:
            egress = entry.get("direction") == "egress"
            proto = protocol_number(entry.get("protocol"))
            lo, hi = _ports(proto, entry.get("from_port"), entry.get("to_port"))
            cidr = entry.get("cidr_block") or entry.get("ipv6_cidr_block")
            parse_cidr(cidr)
            out.append(
                AclEntry(
                    acl_id,
                    str(entry.get("key")),
                    egress,
                    int(entry["rule_number"]),
                    str(entry.get("rule_action")).lower() == "allow",
                    proto,
                    lo,
                    hi,
                    cidr,
                )
            )
        except (RuleError, KeyError, TypeError, ValueError) as exc:
            raise RuleError(f"{acl_id} entry {entry.get('key')!r}: {exc}") from None
    return sorted(out, key=lambda e: (e.egress, e.rule_number))


@dataclass(frozen=True)
class RuleSet:
    """What governs one ENI at one time: the rules of its security groups and its subnet's
    network ACL entries (``acl`` None: no ACL known, treated as allowing)."""

    sg_rules: tuple[SgRule, ...]
    acl: tuple[AclEntry, ...] | None
    acl_id: str | None = None
