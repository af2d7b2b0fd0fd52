"""Rule sets (rules.py) compiled into flat numpy tables, and many (peer address, port,
protocol, direction) combinations evaluated against them in a few vectorized passes: the first
matching security-group rule and network-ACL entry of each, and whether the response of an
allowed request is let through (security groups are stateful, ACLs are not)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .rules import RuleSet, parse_cidr


def parse_address(text: str | None) -> tuple[int, int, int]:
    """An address -> (family 4/6, high 64 bits, low 64 bits); (0, 0, 0) for none or bad."""
    if not text or text == "-":
        return 0, 0, 0
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return 0, 0, 0
    value = int(address)
    return address.version, value >> 64, value & 0xFFFFFFFFFFFFFFFF


_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"


def parse_addresses(texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """parse_address of many addresses as (family int8, high uint64, low uint64) arrays, with
    one more (0, 0, 0) entry at the end (for codes -1). Dotted IPv4 is parsed vectorized; the
    rest (IPv6, bad input) one by one."""
    n = len(texts)
    fam = np.zeros(n + 1, np.int8)
    hi = np.zeros(n + 1, np.uint64)
    lo = np.zeros(n + 1, np.uint64)
    if not n:
        return fam, hi, lo
    array = pa.array(texts, pa.string())
    v4 = np.asarray(pc.fill_null(pc.match_substring_regex(array, _IPV4), False), bool)
    if v4.any():
        parts = pc.split_pattern(array.filter(pa.array(v4)), ".")
        octets = np.asarray(pc.list_flatten(parts).cast(pa.uint64()).to_numpy(), np.uint64)
        octets = octets.reshape(-1, 4)
        value = (octets[:, 0] << 24) | (octets[:, 1] << 16) | (octets[:, 2] << 8) | octets[:, 3]
        index = np.flatnonzero(v4)
        fam[index], lo[index] = 4, value
    for i in np.flatnonzero(~v4):
        f, h, low = parse_address(texts[int(i)])
        fam[i], hi[i], lo[i] = f, h, low
    return fam, hi, lo


@dataclass
class _Table:
    """Rules of many sets, flattened: rows of a (set, direction) are contiguous, in evaluation
    order; ``start``/``end`` index them by set * 2 + direction."""

    proto: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    fam: np.ndarray
    net_hi: np.ndarray
    net_lo: np.ndarray
    mask_hi: np.ndarray
    mask_lo: np.ndarray
    group: np.ndarray  # referenced security group code, -1 for a CIDR peer
    allow: np.ndarray
    start: np.ndarray
    end: np.ndarray
    labels: list  # row -> SgRule / AclEntry
    # Protocol and port as one range of probe keys (see _probe_keys): one test per pair.
    key_lo: np.ndarray | None = None
    key_hi: np.ndarray | None = None


@dataclass
class Compiled:
    """Rule sets compiled for vectorized evaluation (see :func:`compile_rule_sets`)."""

    sets: list[RuleSet]
    sg: _Table
    acl: _Table
    has_acl: np.ndarray  # per set
    group_codes: dict[str, int] = field(default_factory=dict)


def _table(rows_per_slot: list[list], group_codes: dict[str, int], acl: bool) -> _Table:
    rows = [r for slot in rows_per_slot for r in slot]
    counts = np.array([len(slot) for slot in rows_per_slot], np.int64)
    end = np.cumsum(counts)
    n = len(rows)
    t = _Table(
        proto=np.zeros(n, np.int64),
        lo=np.zeros(n, np.int64),
        hi=np.zeros(n, np.int64),
        fam=np.zeros(n, np.int8),
        net_hi=np.zeros(n, np.uint64),
        net_lo=np.zeros(n, np.uint64),
        mask_hi=np.zeros(n, np.uint64),
        mask_lo=np.zeros(n, np.uint64),
        group=np.full(n, -1, np.int64),
        allow=np.ones(n, bool),
        start=end - counts,
        end=end,
        labels=rows,
    )
    cidrs: dict[str, tuple] = {}
    for i, r in enumerate(rows):
        t.proto[i], t.lo[i], t.hi[i] = r.protocol, r.from_port, r.to_port
        peer = r.cidr if acl else r.peer
        if not acl and r.peer_is_group:
            t.group[i] = group_codes.setdefault(peer, len(group_codes))
            continue
        if peer not in cidrs:
            cidrs[peer] = parse_cidr(peer)
        fam, nh, nl, mh, ml = cidrs[peer]
        t.fam[i], t.net_hi[i], t.net_lo[i], t.mask_hi[i], t.mask_lo[i] = fam, nh, nl, mh, ml
        if acl:
            t.allow[i] = r.allow
    # Protocol -1 matches everything; TCP and UDP their port range; any other protocol number
    # all of its ports.
    ported = (t.proto == 6) | (t.proto == 17)
    every = t.proto == -1
    base = t.proto << _PORT_BITS
    t.key_lo = np.where(every, np.iinfo(np.int64).min, np.where(ported, base + t.lo + 1, base))
    t.key_hi = np.where(
        every,
        np.iinfo(np.int64).max,
        np.where(ported, base + t.hi + 1, base + (1 << _PORT_BITS) - 1),
    )
    return t


_PORT_BITS = 17  # port + 1 (0 for no port) below the protocol number


def _probe_keys(p: Probes) -> np.ndarray:
    """(protocol, port) of each probe as one int64, in the ranges of _Table.key_lo/key_hi."""
    return (p.protocol.astype(np.int64) << _PORT_BITS) + (np.maximum(p.port, -1) + 1)


def compile_rule_sets(sets: Sequence[RuleSet]) -> Compiled:
    group_codes: dict[str, int] = {}
    sg_slots: list[list] = []
    acl_slots: list[list] = []
    for rs in sets:
        for egress in (False, True):
            sg_slots.append([r for r in rs.sg_rules if r.egress == egress])
            acl_slots.append([e for e in rs.acl or () if e.egress == egress])
    return Compiled(
        list(sets),
        _table(sg_slots, group_codes, acl=False),
        _table(acl_slots, group_codes, acl=True),
        np.array([rs.acl is not None for rs in sets], bool),
        group_codes,
    )


@dataclass
class Probes:
    """Combinations to evaluate, one per position: the rule set, the direction the rules are
    read in (0 ingress: the peer is the source; 1 egress: the peer is the destination), the
    protocol, the port (the destination port), the peer address and the security groups of the
    ENI holding it (``peer_groups``: a code into ``group_sets``, -1 for none)."""

    rule_set: np.ndarray
    direction: np.ndarray
    protocol: np.ndarray
    port: np.ndarray
    fam: np.ndarray
    addr_hi: np.ndarray
    addr_lo: np.ndarray
    peer_groups: np.ndarray
    group_sets: list[frozenset[str]]

    def __len__(self) -> int:
        return len(self.rule_set)

    def take(self, index: np.ndarray, **replace: np.ndarray) -> Probes:
        arrays = {
            name: replace.get(name, getattr(self, name)[index])
            for name in (
                "rule_set",
                "direction",
                "protocol",
                "port",
                "fam",
                "addr_hi",
                "addr_lo",
                "peer_groups",
            )
        }
        return Probes(**arrays, group_sets=self.group_sets)


def probes(
    rule_set: Iterable[int],
    direction: Iterable[int],
    protocol: Iterable[int],
    port: Iterable[int],
    addresses: Iterable[str | None],
    peer_groups: Iterable[Iterable[str] | None] | None = None,
) -> Probes:
    """Probes from plain sequences (tests, small callers)."""
    parsed = [parse_address(a) for a in addresses]
    sets: dict[frozenset[str], int] = {}
    codes = []
    for groups in peer_groups if peer_groups is not None else [None] * len(parsed):
        codes.append(-1 if groups is None else sets.setdefault(frozenset(groups), len(sets)))
    return Probes(
        np.asarray(list(rule_set), np.int64),
        np.asarray(list(direction), np.int64),
        np.asarray(list(protocol), np.int64),
        np.asarray(list(port), np.int64),
        np.array([p[0] for p in parsed], np.int8),
        np.array([p[1] for p in parsed], np.uint64),
        np.array([p[2] for p in parsed], np.uint64),
        np.asarray(codes, np.int64),
        list(sets),
    )


_PAIRS = 1 << 22  # probe x rule pairs per pass (bounds memory)


def first_match(compiled: Compiled, table: str, p: Probes, egress: np.ndarray | None = None):
    """Per probe, the row of the first rule of `table` ("sg" or "acl") in the probe's
    (set, direction) that matches it, or -1. `egress` overrides the direction read."""
    t: _Table = getattr(compiled, table)
    direction = p.direction if egress is None else egress
    slot = p.rule_set * 2 + direction
    start, count = t.start[slot], t.end[slot] - t.start[slot]
    out = np.full(len(p), -1, np.int64)
    membership = _membership(compiled, p) if table == "sg" else None
    keys = _probe_keys(p)
    pos = 0
    n = len(p)
    while pos < n:
        # A chunk of probes whose pairs fit the bound (at least one probe).
        cum = np.cumsum(count[pos:])
        stop = pos + max(1, int(np.searchsorted(cum, _PAIRS, side="right")))
        idx = np.arange(pos, stop)
        c = count[idx]
        total = int(c.sum())
        if total:
            probe = np.repeat(idx, c)
            row = np.arange(total) + np.repeat(start[idx] - (np.cumsum(c) - c), c)
            match = _matches(t, row, p, probe, keys, membership)
            candidate = np.where(match, row, np.iinfo(np.int64).max)
            nonempty = c > 0
            best = np.minimum.reduceat(candidate, (np.cumsum(c) - c)[nonempty])
            found = best != np.iinfo(np.int64).max
            target = idx[nonempty]
            out[target[found]] = best[found]
        pos = stop
    return out


def _matches(t: _Table, row, p: Probes, probe, keys, membership) -> np.ndarray:
    # The cheap protocol and port test first; the address test only on the pairs that pass.
    k = keys[probe]
    assert t.key_lo is not None and t.key_hi is not None, "keys are set when the table is built"
    ok = (k >= t.key_lo[row]) & (k <= t.key_hi[row])
    sel = np.flatnonzero(ok)
    if not len(sel):
        return ok
    row, probe = row[sel], probe[sel]
    group = t.group[row]
    is_cidr = group < 0
    addr = (
        (t.fam[row] == p.fam[probe])
        & ((p.addr_hi[probe] & t.mask_hi[row]) == t.net_hi[row])
        & ((p.addr_lo[probe] & t.mask_lo[row]) == t.net_lo[row])
    )
    if membership is not None and (~is_cidr).any():
        keys, width = membership
        peer = p.peer_groups[probe]
        key = np.where(peer >= 0, peer * width + np.maximum(group, 0), -1)
        member = (peer >= 0) & np.isin(key, keys)
        addr = np.where(is_cidr, addr, member)
    else:
        addr &= is_cidr
    ok[sel] = addr
    return ok


def _membership(compiled: Compiled, p: Probes):
    """(sorted keys set_code * width + group_code, width) of the groups in each peer group set."""
    width = max(len(compiled.group_codes), 1)
    keys = [
        code * width + compiled.group_codes[g]
        for code, groups in enumerate(p.group_sets)
        for g in groups
        if g in compiled.group_codes
    ]
    return np.array(sorted(keys), np.int64), width


@dataclass
class Verdict:
    """Per probe: the allowing SG rule row (-1 none), whether it is allowed only as the response
    of an allowed request, the deciding ACL row (-1: no ACL known, or default deny if ``acl_allows``
    is false) and whether the ACL lets it through."""

    sg_row: np.ndarray
    as_response: np.ndarray
    acl_row: np.ndarray
    acl_allows: np.ndarray


def evaluate(
    compiled: Compiled,
    p: Probes,
    response: np.ndarray | None = None,
    response_port: np.ndarray | None = None,
) -> Verdict:
    """Evaluate probes: the SG rules in their direction, and, where `response` is true (the
    flow looks like the response of a request the ENI or its peer made), the SG rules of the
    other direction on the request (the peer and `response_port`, the source port); the ACL
    entries in the probe's direction (stateless: the response needs its own allow)."""
    sg_row = first_match(compiled, "sg", p)
    as_response = np.zeros(len(p), bool)
    if response is not None and response_port is not None and response.any():
        idx = np.flatnonzero(response & (sg_row < 0))
        if len(idx):
            reverse = p.take(idx, port=response_port[idx])
            back = first_match(compiled, "sg", reverse, egress=1 - reverse.direction)
            as_response[idx] = back >= 0
    acl_row = first_match(compiled, "acl", p)
    has_acl = compiled.has_acl[p.rule_set]
    if len(compiled.acl.allow):
        acl_allows = ~has_acl | ((acl_row >= 0) & compiled.acl.allow[np.maximum(acl_row, 0)])
    else:
        acl_allows = ~has_acl
    return Verdict(sg_row, as_response, acl_row, acl_allows)
