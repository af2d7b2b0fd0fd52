"""Why traffic was rejected (table ``reject_reasons``): each rejected flow record is evaluated
against the security groups and the network ACL of the ENI that logged it, as the inventory's
temporal versions had them at the record's start (see views/rules.py for the rule model).

The ENI that logged the record is where AWS rejected it: an ``ingress`` record was rejected on
its way in (the peer is the source, the rules read are the ENI's inbound rules and its subnet
ACL's inbound entries, ACL first as the packet meets it first); an ``egress`` record on its way
out (the peer is the destination; security groups first, then the ACL's outbound entries).

Reasons:

* ``no_rule_allows``: no security-group rule allows it. When one did before, ``previous_rule_id``
  names it (``sg-id:direction:rule-key``) and ``change_resource_type`` / ``change_resource_id``
  / ``change_time`` the change that took it away (the rule removed or narrowed, or the group
  detached from the ENI), as the snapshot that first saw it.
* ``nacl_deny``: the network ACL denies it: ``rule_id`` is the deciding entry
  (``acl-id:ingress/100``, or ``acl-id:ingress/32767`` for the default deny).
* ``allowed``: the rules as we know them allow it (``rule_id``: the allowing rule), so the cause
  lies elsewhere: an unmonitored resource, an inventory older than the change, an asymmetric
  path, or a response whose connection AWS no longer tracked.
* ``unknown``: no inventory version of the ENI (or of one of its groups) at that time.

Statefulness: a record that looks like the response of a request (TCP flags with SYN-ACK, or,
without flags, a source port below 1024 and a destination port from 1024) is allowed by the
security groups when the other direction's rules allow the request (to the peer's port); the
ACL, stateless, must still allow the response on its (ephemeral) port in its own direction.

Everything per record is vectorized: records are keyed by (ENI, inventory segment: the interval
between two version changes of the ENI, its groups or its VPC's ACLs), rule sets are shared by
the segments that have the same versions, and only distinct (ENI, segment, direction, protocol,
port, peer) combinations are evaluated, against compiled rule tables (rules.py).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .rules import (
    DEFAULT_DENY,
    Probes,
    RuleSet,
    compile_rule_sets,
    evaluate,
    network_acl_entries,
    parse_addresses,
    security_group_rules,
)
from .throughput import (
    TIMESTAMP,
    column_or_nulls,
    encode,
    exact_sums,
    floor_window,
    key_codes,
    lookup,
    ranked,
    seconds_array,
    traffic_mask,
    unique_rows,
    window_mask,
)

REASONS = ("no_rule_allows", "nacl_deny", "allowed", "unknown")
REASON_KEYS: tuple[str, ...] = (
    "window_start",
    "interface_id",
    "direction",
    "peer_address",
    "peer_interface_id",
    "dstport",
    "protocol",
    "reason",
    "rule_id",
    "previous_rule_id",
    "change_resource_type",
    "change_resource_id",
    "change_time",
    "detail",
)
REASONS_SCHEMA = pa.schema(
    [
        pa.field("window_start", TIMESTAMP, nullable=False),
        pa.field("interface_id", pa.string()),
        pa.field("direction", pa.string()),
        pa.field("peer_address", pa.string()),
        pa.field("peer_interface_id", pa.string()),
        pa.field("dstport", pa.int32()),
        pa.field("protocol", pa.int32()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("rule_id", pa.string()),
        pa.field("previous_rule_id", pa.string()),
        pa.field("change_resource_type", pa.string()),
        pa.field("change_resource_id", pa.string()),
        pa.field("change_time", TIMESTAMP),
        pa.field("detail", pa.string()),
        pa.field("flows", pa.int64(), nullable=False),
        pa.field("packets", pa.int64(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
    ]
)
_INF = np.iinfo(np.int64).max


def empty_reasons() -> pa.Table:
    return REASONS_SCHEMA.empty_table()


@dataclass(frozen=True)
class Version:
    """One temporal version of an inventory resource (epoch seconds; valid_to None: current)."""

    resource_type: str
    resource_id: str
    valid_from: int
    valid_to: int | None
    data: Mapping


def _ts(moment: datetime | int) -> int:
    if isinstance(moment, datetime):
        return int(moment.timestamp())
    return int(moment)


class InventoryHistory:
    """The versions of ENIs, security groups and network ACLs, queried by time."""

    def __init__(self, versions: Iterable[Version]):
        by_key: dict[tuple[str, str], list[Version]] = defaultdict(list)
        for v in versions:
            by_key[(v.resource_type, v.resource_id)].append(v)
        self._versions = {k: sorted(vs, key=lambda v: v.valid_from) for k, vs in by_key.items()}
        self._starts = {k: [v.valid_from for v in vs] for k, vs in self._versions.items()}
        self._acls_by_vpc: dict[str | None, list[str]] = defaultdict(list)
        for (rtype, rid), vs in self._versions.items():
            if rtype == "network_acl":
                for vpc in {v.data.get("vpc_id") for v in vs}:
                    self._acls_by_vpc[vpc].append(rid)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple]) -> InventoryHistory:
        """(resource_type, resource_id, valid_from, valid_to, data) rows (datetimes or seconds)."""
        return cls(
            Version(t, i, _ts(f), None if to is None else _ts(to), d) for t, i, f, to, d in rows
        )

    def versions(self, resource_type: str, resource_id: str) -> list[Version]:
        return self._versions.get((resource_type, resource_id), [])

    def at(self, resource_type: str, resource_id: str, t: int) -> Version | None:
        key = (resource_type, resource_id)
        starts = self._starts.get(key)
        if not starts:
            return None
        i = bisect_right(starts, t) - 1
        if i < 0:
            return None
        v = self._versions[key][i]
        return v if v.valid_to is None or v.valid_to > t else None

    def acl_ids(self, vpc_id: str | None) -> list[str]:
        return self._acls_by_vpc.get(vpc_id, [])

    def acl_for(self, subnet_id: str | None, vpc_id: str | None, t: int) -> Version | None:
        """The ACL associated with the subnet at t, else the VPC's default ACL."""
        default = None
        for acl_id in self.acl_ids(vpc_id):
            v = self.at("network_acl", acl_id, t)
            if v is None:
                continue
            if subnet_id and subnet_id in (v.data.get("subnet_ids") or ()):
                return v
            if v.data.get("is_default"):
                default = v
        return default

    def change_points(self, eni_id: str) -> list[int]:
        """Every time the ENI, one of its groups or one of its VPC's ACLs got a new version."""
        points: set[int] = set()
        groups: set[str] = set()
        vpcs: set[str | None] = set()
        for v in self.versions("network_interface", eni_id):
            points.add(v.valid_from)
            if v.valid_to is not None:
                points.add(v.valid_to)
            groups.update(v.data.get("security_group_ids") or ())
            vpcs.add(v.data.get("vpc_id"))
        for g in groups:
            for v in self.versions("security_group", g):
                points.add(v.valid_from)
                if v.valid_to is not None:
                    points.add(v.valid_to)
        for vpc in vpcs:
            for acl_id in self.acl_ids(vpc):
                for v in self.versions("network_acl", acl_id):
                    points.add(v.valid_from)
                    if v.valid_to is not None:
                        points.add(v.valid_to)
        return sorted(points)


@dataclass
class _State:
    """The rule set (or why none) of an ENI in one segment."""

    key: tuple | None  # versions that make up the rule set (None: unknown)
    detail: str | None
    group_versions: dict[str, Version]
    eni_version: Version | None


def _state(history: InventoryHistory, eni_id: str, t: int) -> _State:
    eni = history.at("network_interface", eni_id, t)
    if eni is None:
        return _State(None, f"no inventory of {eni_id} at that time", {}, None)
    groups: dict[str, Version] = {}
    for g in sorted(eni.data.get("security_group_ids") or ()):
        v = history.at("security_group", g, t)
        if v is None:
            return _State(None, f"no inventory of security group {g} at that time", {}, eni)
        groups[g] = v
    acl = history.acl_for(eni.data.get("subnet_id"), eni.data.get("vpc_id"), t)
    key = (
        tuple((g, v.valid_from) for g, v in groups.items()),
        None if acl is None else (acl.resource_id, acl.valid_from),
    )
    return _State(key, None, groups, eni)


class _RuleSets:
    """Interned rule sets: one per distinct (group versions, ACL version)."""

    def __init__(self, history: InventoryHistory):
        self.history = history
        self.ids: dict[tuple, int] = {}
        self.sets: list[RuleSet] = []
        self._rules: dict[tuple[str, str, int], tuple] = {}

    def group_rules(self, v: Version) -> tuple:
        """The rules of one security-group version (parsed once)."""
        key = (v.resource_type, v.resource_id, v.valid_from)
        if key not in self._rules:
            self._rules[key] = tuple(security_group_rules(v.data))
        return self._rules[key]

    def acl_entries(self, v: Version) -> tuple:
        key = (v.resource_type, v.resource_id, v.valid_from)
        if key not in self._rules:
            self._rules[key] = tuple(network_acl_entries(v.data))
        return self._rules[key]

    def id_of(self, state: _State) -> int:
        if state.key is None:
            return -1
        found = self.ids.get(state.key)
        if found is not None:
            return found
        rules = tuple(r for v in state.group_versions.values() for r in self.group_rules(v))
        acl_key = state.key[1]
        acl = None
        if acl_key is not None:
            version = next(
                v
                for v in self.history.versions("network_acl", acl_key[0])
                if v.valid_from == acl_key[1]
            )
            acl = self.acl_entries(version)
        self.ids[state.key] = len(self.sets)
        self.sets.append(RuleSet(rules, acl, None if acl_key is None else acl_key[0]))
        return self.ids[state.key]


def _strings(column) -> pa.ChunkedArray | pa.Array:
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column if column.type == pa.string() else column.cast(pa.string())


# Rejected flows grouped by what their reason depends on (the partial aggregate of the view):
# window, ENI, direction, protocol, port, peer (address and ENI), whether the flow looks like a
# response and its response port; the first and last record start of the group tell whether a
# version change of the ENI's rules falls inside it.
REJECT_GROUPS_SCHEMA = pa.schema(
    [
        pa.field("window_start", pa.int64(), nullable=False),
        pa.field("first_start", pa.int64(), nullable=False),
        pa.field("last_start", pa.int64(), nullable=False),
        pa.field("interface_id", pa.string()),
        pa.field("direction", pa.int8(), nullable=False),  # 0 ingress, 1 egress
        pa.field("protocol", pa.int64(), nullable=False),  # -2: none
        pa.field("dstport", pa.int64(), nullable=False),  # -1: none
        pa.field("peer_address", pa.string()),
        pa.field("peer_interface_id", pa.string()),
        pa.field("response", pa.bool_(), nullable=False),
        pa.field("response_port", pa.int64(), nullable=False),  # -1: not a response
        pa.field("flows", pa.int64(), nullable=False),
        pa.field("packets", pa.int64(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
    ]
)
_GROUP_KEY_NAMES = (
    "window_start",
    "interface_id",
    "direction",
    "protocol",
    "dstport",
    "peer_address",
    "peer_interface_id",
    "response",
    "response_port",
)


@dataclass
class _Groups:
    """Rejected-flow groups as numpy arrays; strings as codes (-1 null) into value lists."""

    window: np.ndarray
    first: np.ndarray
    last: np.ndarray
    eni: np.ndarray
    eni_values: list
    direction: np.ndarray
    proto: np.ndarray
    dstport: np.ndarray
    addr: np.ndarray
    addr_values: list
    peer: np.ndarray
    peer_values: list
    response: np.ndarray
    resp_port: np.ndarray
    flows: np.ndarray
    packets: np.ndarray
    bytes: np.ndarray


def _group_records(
    records: pa.Table, windows: Iterable[datetime | str] | None, exact: bool
) -> _Groups | None:
    """The rejected flow records (REJECT, with measures and a direction) grouped by what their
    reason depends on; `exact`: one group per record (first = last start: reasons of records)."""
    if records.num_rows == 0:
        return None
    seconds, _ = seconds_array(records["start"])
    a_codes, a_values = encode(column_or_nulls(records, "action"))
    d_codes, d_values = encode(column_or_nulls(records, "flow_direction"))
    direction = lookup(d_codes, d_values, {"ingress": 0, "egress": 1})
    mask = traffic_mask(records) & (lookup(a_codes, a_values, {"REJECT": 1}) == 1)
    mask &= direction >= 0
    if windows is not None:
        mask &= window_mask(floor_window(seconds), windows)
    if not mask.any():
        return None
    rows = np.flatnonzero(mask)
    rec = records if len(rows) == records.num_rows else records.take(pa.array(rows))
    t = seconds[rows]
    direction = direction[rows]
    egress = direction == 1

    def ints(name: str, fill: int) -> np.ndarray:
        col = column_or_nulls(rec, name, pa.int64()).cast(pa.int64())
        return np.asarray(pc.fill_null(col, fill).to_numpy(), np.int64)

    proto = ints("protocol", -2)
    dstport = ints("dstport", -1)
    srcport = ints("srcport", -1)
    flags = ints("tcp_flags", -1)
    src = _strings(column_or_nulls(rec, "srcaddr", pa.string()))
    dst = _strings(column_or_nulls(rec, "dstaddr", pa.string()))
    # Codes into distinct values (chunks of several files repeat values in their dictionaries).
    addr_codes, addr_values = ranked(*encode(pc.if_else(pa.array(egress), dst, src)))
    eni_codes, eni_values = ranked(*encode(column_or_nulls(rec, "interface_id", pa.string())))
    peer_codes, peer_values = ranked(
        *encode(column_or_nulls(rec, "peer_interface_id", pa.string()))
    )
    # A response: SYN-ACK seen, or (no SYN at all) from a service port to an ephemeral one.
    syn_ack = (flags >= 0) & ((flags & 18) == 18)
    no_syn = (flags < 0) | ((flags & 2) == 0)
    response = (proto == 6) & syn_ack | (
        no_syn & (srcport >= 0) & (srcport < 1024) & (dstport >= 1024)
    )
    resp_port = np.where(response, srcport, -1)
    window = floor_window(t)
    if exact:  # each record its own group: _explain sums them per output row anyway
        return _Groups(
            window=window,
            first=t,
            last=t,
            eni=eni_codes,
            eni_values=eni_values.to_pylist(),
            direction=direction,
            proto=proto,
            dstport=dstport,
            addr=addr_codes,
            addr_values=addr_values.to_pylist(),
            peer=peer_codes,
            peer_values=peer_values.to_pylist(),
            response=response,
            resp_port=resp_port,
            flows=np.ones(len(t), np.int64),
            packets=ints("packets", 0),
            bytes=ints("bytes", 0),
        )
    first, inverse = unique_rows(
        [
            window,
            eni_codes,
            direction,
            proto,
            dstport,
            addr_codes,
            peer_codes,
            response.astype(np.int64),
            resp_port,
        ]
    )
    n = len(first)
    low = np.full(n, _INF, np.int64)
    np.minimum.at(low, inverse, t)
    high = np.full(n, -_INF, np.int64)
    np.maximum.at(high, inverse, t)
    return _Groups(
        window=window[first],
        first=low,
        last=high,
        eni=eni_codes[first],
        eni_values=eni_values.to_pylist(),
        direction=direction[first],
        proto=proto[first],
        dstport=dstport[first],
        addr=addr_codes[first],
        addr_values=addr_values.to_pylist(),
        peer=peer_codes[first],
        peer_values=peer_values.to_pylist(),
        response=response[first],
        resp_port=resp_port[first],
        flows=np.bincount(inverse, minlength=n).astype(np.int64),
        packets=exact_sums(inverse, ints("packets", 0), n),
        bytes=exact_sums(inverse, ints("bytes", 0), n),
    )


def reject_groups(records: pa.Table, windows: Iterable[datetime | str] | None = None) -> pa.Table:
    """Enriched flow records -> their rejected flows as REJECT_GROUPS_SCHEMA rows: the partial
    aggregate of reject_reasons (additive: see merge_reject_groups, explain_groups)."""
    groups = _group_records(records, windows, exact=False)
    if groups is None:
        return REJECT_GROUPS_SCHEMA.empty_table()
    return _groups_table(groups)


def _groups_table(g: _Groups) -> pa.Table:
    def strings(codes: np.ndarray, values: list) -> pa.Array:
        return pa.array(values + [None], pa.string()).take(
            pa.array(_last_is_null(codes, len(values)))
        )

    return pa.table(
        {
            "window_start": pa.array(g.window, pa.int64()),
            "first_start": pa.array(g.first, pa.int64()),
            "last_start": pa.array(g.last, pa.int64()),
            "interface_id": strings(g.eni, g.eni_values),
            "direction": pa.array(g.direction, pa.int8()),
            "protocol": pa.array(g.proto, pa.int64()),
            "dstport": pa.array(g.dstport, pa.int64()),
            "peer_address": strings(g.addr, g.addr_values),
            "peer_interface_id": strings(g.peer, g.peer_values),
            "response": pa.array(g.response, pa.bool_()),
            "response_port": pa.array(g.resp_port, pa.int64()),
            "flows": pa.array(g.flows, pa.int64()),
            "packets": pa.array(g.packets, pa.int64()),
            "bytes": pa.array(g.bytes, pa.int64()),
        },
        schema=REJECT_GROUPS_SCHEMA,
    )


def merge_reject_groups(parts: Iterable[pa.Table | None]) -> pa.Table:
    """Several REJECT_GROUPS_SCHEMA tables (of disjoint record sets) -> the groups of their
    union: measures summed, first and last starts widened."""
    tables = [p.cast(REJECT_GROUPS_SCHEMA) for p in parts if p is not None and p.num_rows]
    if not tables:
        return REJECT_GROUPS_SCHEMA.empty_table()
    if len(tables) == 1:
        return tables[0]
    table = pa.concat_tables(tables)
    # Grouped on integer codes of the keys (a hash group-by on these string keys is ~3x slower).
    first, inverse = unique_rows([key_codes(table[k]) for k in _GROUP_KEY_NAMES])
    n = len(first)
    t = {k: np.asarray(table[k].to_numpy(), np.int64) for k in ("first_start", "last_start")}
    low = np.full(n, _INF, np.int64)
    np.minimum.at(low, inverse, t["first_start"])
    high = np.full(n, -_INF, np.int64)
    np.maximum.at(high, inverse, t["last_start"])
    grouped = table.select(list(_GROUP_KEY_NAMES)).take(pa.array(first))
    grouped = grouped.append_column("first_start", pa.array(low)).append_column(
        "last_start", pa.array(high)
    )
    for m in ("flows", "packets", "bytes"):
        values = np.asarray(table[m].to_numpy(), np.int64)
        grouped = grouped.append_column(m, pa.array(exact_sums(inverse, values, n)))
    return grouped.select(REJECT_GROUPS_SCHEMA.names).cast(REJECT_GROUPS_SCHEMA)


def _groups_from_table(table: pa.Table) -> _Groups:
    def num(name: str) -> np.ndarray:
        return np.asarray(table[name].to_numpy(), np.int64)

    def codes(name: str) -> tuple[np.ndarray, list]:
        c, values = ranked(*encode(table[name]))  # code order = string order
        return c, values.to_pylist()

    eni, eni_values = codes("interface_id")
    addr, addr_values = codes("peer_address")
    peer, peer_values = codes("peer_interface_id")
    return _Groups(
        window=num("window_start"),
        first=num("first_start"),
        last=num("last_start"),
        eni=eni,
        eni_values=eni_values,
        direction=num("direction"),
        proto=num("protocol"),
        dstport=num("dstport"),
        addr=addr,
        addr_values=addr_values,
        peer=peer,
        peer_values=peer_values,
        response=np.asarray(table["response"].to_numpy(), bool),
        resp_port=num("response_port"),
        flows=num("flows"),
        packets=num("packets"),
        bytes=num("bytes"),
    )


def explain_rejects(
    records: pa.Table,
    history: InventoryHistory,
    windows: Iterable[datetime | str] | None = None,
) -> pa.Table:
    """Enriched flow records -> REASONS_SCHEMA rows, one per (window, ENI, direction, peer,
    port, protocol, reason and its rule/change), with the summed flows, packets and bytes."""
    groups = _group_records(records, windows, exact=True)
    if groups is None:
        return empty_reasons()
    return _explain(groups, history)[0]


def explain_groups(groups: pa.Table, history: InventoryHistory) -> tuple[pa.Table, set[int]]:
    """REJECT_GROUPS_SCHEMA rows (merged partials) -> (REASONS_SCHEMA rows, the windows (epoch
    seconds) of groups in which a version of the rules they depend on changed: their records
    may have different reasons, so those windows must be explained from the records)."""
    if groups.num_rows == 0:
        return empty_reasons(), set()
    return _explain(_groups_from_table(groups), history)


def _explain(g: _Groups, history: InventoryHistory) -> tuple[pa.Table, set[int]]:
    t, direction, proto, dstport = g.first, g.direction, g.proto, g.dstport
    eni_codes, addr_codes, peer_codes = g.eni, g.addr, g.peer
    eni_list, peer_list = g.eni_values, g.peer_values
    straddles = np.zeros(len(t), bool)

    # Segment of each group in its ENI's version history, and the rule set of each segment.
    sets = _RuleSets(history)
    segment = np.zeros(len(t), np.int64)
    seg_rule_set: dict[tuple[int, int], int] = {}
    seg_detail: dict[tuple[int, int], str] = {}
    seg_states: dict[tuple[int, int], _State] = {}
    points_of: dict[int, list[int]] = {}
    order = np.argsort(eni_codes, kind="stable")
    bounds = np.flatnonzero(np.r_[True, eni_codes[order][1:] != eni_codes[order][:-1], True])
    for b0, b1 in zip(bounds[:-1], bounds[1:], strict=True):
        idx = order[b0:b1]
        code = int(eni_codes[idx[0]])
        eni_id = eni_list[code] if code >= 0 else None
        points = history.change_points(eni_id) if eni_id else []
        points_of[code] = points
        point_array = np.asarray(points, np.int64)
        seg = np.searchsorted(point_array, t[idx], side="right")
        segment[idx] = seg
        straddles[idx] |= np.searchsorted(point_array, g.last[idx], side="right") != seg
        for s in range(len(points) + 1):
            state = (
                _state(history, eni_id, points[s - 1])
                if s > 0 and eni_id
                else _State(None, f"no inventory of {eni_id or 'the ENI'} at that time", {}, None)
            )
            seg_states[(code, s)] = state
            seg_rule_set[(code, s)] = sets.id_of(state)
            if state.detail:
                seg_detail[(code, s)] = state.detail

    # Security groups of the peer ENI at the group's time (for group-referencing rules).
    group_sets: dict[frozenset[str], int] = {}
    peer_groups = np.full(len(t), -1, np.int64)
    if (peer_codes >= 0).any():
        order = np.argsort(peer_codes, kind="stable")
        pb = np.flatnonzero(np.r_[True, peer_codes[order][1:] != peer_codes[order][:-1], True])
        for b0, b1 in zip(pb[:-1], pb[1:], strict=True):
            idx = order[b0:b1]
            code = int(peer_codes[idx[0]])
            if code < 0:
                continue
            versions = history.versions("network_interface", peer_list[code])
            if not versions:
                continue
            starts = np.asarray([v.valid_from for v in versions], np.int64)
            pick = np.maximum(np.searchsorted(starts, t[idx], side="right") - 1, 0)
            straddles[idx] |= (
                np.maximum(np.searchsorted(starts, g.last[idx], side="right") - 1, 0) != pick
            )
            codes = np.array(
                [
                    group_sets.setdefault(
                        frozenset(v.data.get("security_group_ids") or ()), len(group_sets)
                    )
                    for v in versions
                ],
                np.int64,
            )
            peer_groups[idx] = codes[pick]

    # Distinct combinations, evaluated once each.
    resp_port = g.resp_port
    first, combo = unique_rows(
        [
            eni_codes,
            segment,
            direction,
            proto,
            dstport,
            addr_codes,
            peer_groups,
            resp_port,
            g.response.astype(np.int64),
        ]
    )
    c_eni, c_seg = eni_codes[first], segment[first]
    c_rs = np.array(
        [seg_rule_set[k] for k in zip(c_eni.tolist(), c_seg.tolist(), strict=True)], np.int64
    )
    c_addr = addr_codes[first]
    fam, hi, lo = parse_addresses(g.addr_values)
    c_addr_index = np.where(c_addr >= 0, c_addr, len(g.addr_values))
    probes = Probes(
        np.maximum(c_rs, 0),
        direction[first],
        proto[first],
        dstport[first],
        fam[c_addr_index],
        hi[c_addr_index],
        lo[c_addr_index],
        peer_groups[first],
        list(group_sets),
    )
    response = g.response
    n = len(first)
    reason = np.full(n, 3, np.int8)  # unknown
    # The outcome's strings as codes into one interned list (-1: none), so that no per-combination
    # Python list is built.
    strings = _Interned()
    rule_id = np.full(n, -1, np.int64)
    detail = np.full(n, -1, np.int64)
    prev_rule = np.full(n, -1, np.int64)
    change_type = np.full(n, -1, np.int64)
    change_id = np.full(n, -1, np.int64)
    change_t = np.full(n, -1, np.int64)
    known = c_rs >= 0
    compiled = None
    if known.any() and sets.sets:
        compiled = compile_rule_sets(sets.sets)
        verdict = evaluate(compiled, probes, response[first], resp_port[first])
        sg_ok = (verdict.sg_row >= 0) | verdict.as_response
        acl_ok = verdict.acl_allows
        c_egress = direction[first] == 1
        acl_first = ~c_egress & ~acl_ok  # ingress: the ACL is met first
        reason = np.where(
            ~known,
            3,
            np.where(acl_first, 1, np.where(~sg_ok, 0, np.where(~acl_ok, 1, 2))),
        ).astype(np.int8)
        by_entry = known & (reason == 1) & (verdict.acl_row >= 0)
        rule_id[by_entry] = strings.labels(compiled.acl.labels, verdict.acl_row[by_entry])
        by_default = known & (reason == 1) & (verdict.acl_row < 0)
        if by_default.any():  # the default deny of the rule set's ACL, in its direction
            slot = c_rs[by_default] * 2 + c_egress[by_default]
            distinct, back = np.unique(slot, return_inverse=True)
            names = [
                strings.code(
                    f"{sets.sets[k // 2].acl_id}:{'egress' if k % 2 else 'ingress'}/{DEFAULT_DENY}"
                )
                for k in distinct.tolist()
            ]
            rule_id[by_default] = np.asarray(names, np.int64)[back.reshape(-1)]
        by_rule = known & (reason == 2) & (verdict.sg_row >= 0)
        rule_id[by_rule] = strings.labels(compiled.sg.labels, verdict.sg_row[by_rule])
        detail[known & (reason == 2) & (verdict.sg_row < 0)] = strings.code(
            "allowed as the response of an allowed request"
        )
        _history(
            np.flatnonzero(reason == 0),
            probes,
            c_eni,
            c_seg,
            points_of,
            seg_rule_set,
            seg_states,
            compiled,
            sets,
            response[first],
            resp_port[first],
            strings,
            (prev_rule, change_type, change_id, change_t),
        )
    unknown = np.flatnonzero(~known)
    if len(unknown):
        pairs = c_eni[unknown] * (int(c_seg.max()) + 1) + c_seg[unknown]
        _, first_of, back = np.unique(pairs, return_index=True, return_inverse=True)
        texts = [
            strings.code(seg_detail.get((int(c_eni[unknown[i]]), int(c_seg[unknown[i]]))))
            for i in first_of.tolist()
        ]
        detail[unknown] = np.asarray(texts, np.int64)[back.reshape(-1)]

    # The output key of each combination: what it shows (the combination key minus the segment,
    # the peer's groups and the response port), then the groups summed per (window, key).
    _, outcome = unique_rows(
        [reason.astype(np.int64), rule_id, prev_rule, change_type, change_id, change_t, detail]
    )
    out_first, out_of_combo = unique_rows(
        [
            eni_codes[first],
            direction[first],
            addr_codes[first],
            peer_codes[first],
            dstport[first],
            proto[first],
            outcome,
        ]
    )
    n_out = max(len(out_first), 1)
    w_codes, w_index = np.unique(g.window, return_inverse=True)
    key = w_index.reshape(-1).astype(np.int64) * n_out + out_of_combo[combo]
    groups, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.reshape(-1)
    g_out = groups % n_out
    g_window = w_codes[groups // n_out]
    g_first = first[out_first[g_out]]  # a group of the output row
    g_combo = out_first[g_out]  # a combination of the output row

    texts = pa.array(strings.values + [None], pa.string())

    def per_group(codes: np.ndarray) -> pa.Array:
        return texts.take(pa.array(_last_is_null(codes[g_combo], len(strings.values))))

    times = change_t[g_combo]

    eni_str = pa.array(eni_list + [None], pa.string())
    peer_str = pa.array(peer_list + [None], pa.string())
    addr_str = pa.array(g.addr_values + [None], pa.string())
    ports = dstport[g_first]
    table = pa.table(
        {
            "window_start": pa.array(g_window, pa.int64()).cast(TIMESTAMP),
            "interface_id": eni_str.take(
                pa.array(_last_is_null(eni_codes[g_first], len(eni_list)))
            ),
            "direction": pa.array(np.where(direction[g_first] == 1, "egress", "ingress")),
            "peer_address": addr_str.take(
                pa.array(_last_is_null(addr_codes[g_first], len(addr_str) - 1))
            ),
            "peer_interface_id": peer_str.take(
                pa.array(_last_is_null(peer_codes[g_first], len(peer_list)))
            ),
            "dstport": pa.array(ports, pa.int32(), mask=ports < 0),
            "protocol": pa.array(proto[g_first], pa.int32(), mask=proto[g_first] < -1),
            "reason": pa.array(np.array(REASONS, object)[reason[g_combo]], pa.string()),
            "rule_id": per_group(rule_id),
            "previous_rule_id": per_group(prev_rule),
            "change_resource_type": per_group(change_type),
            "change_resource_id": per_group(change_id),
            "change_time": pa.array(times, pa.int64(), mask=times < 0).cast(TIMESTAMP),
            "detail": per_group(detail),
            "flows": exact_sums(inverse, g.flows, len(groups)),
            "packets": exact_sums(inverse, g.packets, len(groups)),
            "bytes": exact_sums(inverse, g.bytes, len(groups)),
        }
    )
    straddled = {int(w) for w in np.unique(g.window[straddles])}
    # The order of sort_reasons, on the integer codes at hand (the value codes are ranked:
    # their order is the strings'; nulls last).
    text_rank = np.argsort(np.argsort(np.array(strings.values + [""], object)[:-1], kind="stable"))
    text_rank = np.append(text_rank, len(text_rank)).astype(np.int64)

    def last(codes: np.ndarray, size: int) -> np.ndarray:
        return np.where(codes < 0, size, codes)

    def text(codes: np.ndarray) -> np.ndarray:
        return text_rank[last(codes[g_combo], len(strings.values))]

    by_name = np.array([2, 1, 0, 3], np.int64)  # REASONS in alphabetical order
    keys = [
        g_window,
        -np.asarray(table["flows"], np.int64),
        -np.asarray(table["bytes"], np.int64),
        last(eni_codes[g_first], len(eni_list)),
        last(addr_codes[g_first], len(g.addr_values)),
        last(ports, 1 << 20),
        by_name[reason[g_combo]],
        1 - direction[g_first],  # egress before ingress
        last(peer_codes[g_first], len(peer_list)),
        np.where(proto[g_first] < -1, 1 << 20, proto[g_first]),
        text(rule_id),
        text(prev_rule),
        text(change_type),
        text(change_id),
        np.where(times < 0, np.iinfo(np.int64).max // 4, times),
        text(detail),
    ]
    return table.take(pa.array(_order(keys))).cast(REASONS_SCHEMA), straddled


_SORT_KEYS = (
    ("window_start", "ascending"),
    ("flows", "descending"),
    ("bytes", "descending"),
    ("interface_id", "ascending"),
    ("peer_address", "ascending"),
    ("dstport", "ascending"),
    ("reason", "ascending"),
    # The rest of the key, so that the order does not depend on the order of the input.
    *((k, "ascending") for k in REASON_KEYS[1:] if k not in ("interface_id", "peer_address",
                                                              "dstport", "reason")),
)  # fmt: skip


def sort_reasons(table: pa.Table) -> pa.Table:
    """REASONS_SCHEMA rows in the view's order: by window, then most flows first (a total
    order: rows are distinct on their keys, so the order does not depend on the input's)."""
    return table.take(pc.sort_indices(table, sort_keys=list(_SORT_KEYS))).cast(REASONS_SCHEMA)


def _order(keys: list[np.ndarray]) -> np.ndarray:
    """The stable order of rows by integer keys (most significant first), keys packed into as
    few int64 as their ranges allow, so that the sort takes one or two passes, not sixteen."""
    packed: list[np.ndarray] = []
    current, radix = None, 1
    for key in reversed(keys):  # least significant first
        low = int(key.min())
        span = int(key.max()) - low + 1
        if current is not None and radix * span < 2**62:
            current = current + (key - low) * radix
            radix *= span
        else:
            if current is not None:
                packed.append(current)
            current, radix = key - low, span
    if current is not None:
        packed.append(current)
    return np.lexsort(packed)  # lexsort: last key most significant


def _last_is_null(codes: np.ndarray, null_index: int) -> np.ndarray:
    return np.where(codes < 0, null_index, codes)


class _Interned:
    """Strings interned as int codes (None: -1)."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._codes: dict[str, int] = {}

    def code(self, text: str | None) -> int:
        if text is None:
            return -1
        found = self._codes.get(text)
        if found is None:
            found = self._codes[text] = len(self.values)
            self.values.append(text)
        return found

    def labels(self, labels: Sequence, rows: np.ndarray) -> np.ndarray:
        """Codes of the rule_id of labels[row] for each row (one Python step per distinct row)."""
        distinct, back = np.unique(rows, return_inverse=True)
        codes = [self.code(labels[r].rule_id) for r in distinct.tolist()]
        return np.asarray(codes, np.int64)[back.reshape(-1)]


def _history(
    todo: np.ndarray,
    probes: Probes,
    c_eni: np.ndarray,
    c_seg: np.ndarray,
    points_of: dict[int, list[int]],
    seg_rule_set: dict[tuple[int, int], int],
    seg_states: dict[tuple[int, int], _State],
    compiled,
    sets: _RuleSets,
    response: np.ndarray,
    resp_port: np.ndarray,
    strings: _Interned,
    out: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """For combinations no rule allows: the latest earlier segment whose rules allowed them,
    the rule, and the change that ended it (vectorized per step back)."""
    prev_rule, change_type, change_id, change_t = out
    step = 1
    while len(todo):
        back = c_seg[todo] - step
        alive = back >= 1
        todo, back = todo[alive], back[alive]
        if not len(todo):
            return
        rs = np.array(
            [seg_rule_set[k] for k in zip(c_eni[todo].tolist(), back.tolist(), strict=True)],
            np.int64,
        )
        has = rs >= 0
        if has.any():
            idx, rsi = todo[has], rs[has]
            verdict = evaluate(
                compiled, probes.take(idx, rule_set=rsi), response[idx], resp_port[idx]
            )
            allowed = verdict.sg_row >= 0
            for j in np.flatnonzero(allowed):
                i = idx[j]
                rule = compiled.sg.labels[verdict.sg_row[j]]
                eni_code = int(c_eni[i])
                seg_then = int(c_seg[i] - step)
                points = points_of[eni_code]
                # The first version change after that segment that took the rule away.
                for s in range(seg_then + 1, int(c_seg[i]) + 1):
                    state = seg_states[(eni_code, s)]
                    group = state.group_versions.get(rule.group_id)
                    same = group is not None and rule in sets.group_rules(group)
                    if not same:
                        prev_rule[i] = strings.code(rule.rule_id)
                        change_t[i] = points[s - 1]
                        if group is None and state.eni_version is not None:
                            change_type[i] = strings.code("network_interface")
                            change_id[i] = strings.code(state.eni_version.resource_id)
                        else:
                            change_type[i] = strings.code("security_group")
                            change_id[i] = strings.code(rule.group_id)
                        break
            done = np.zeros(len(todo), bool)
            done[np.flatnonzero(has)[allowed]] = True
            todo = todo[~done]
        step += 1


def history_from_session(session, location_keys: Iterable[str], start: datetime, end: datetime):
    """The ENI, security-group and ACL versions of these locations that were valid at some time
    before `end` and not closed before `start` (pass a `start` early enough for the history of
    removed rules: a week before the records, say)."""
    import sqlalchemy as sa

    from cloudinsights_dagster.warehouse import schema as s

    keys = list(location_keys)
    rows = session.execute(
        sa.select(
            s.InventoryResource.resource_type,
            s.InventoryResource.resource_id,
            s.InventoryResource.valid_from,
            s.InventoryResource.valid_to,
            s.InventoryResource.data,
        ).where(
            s.InventoryResource.location_key.in_(keys),
            s.InventoryResource.resource_type.in_(
                ["network_interface", "security_group", "network_acl"]
            ),
            s.InventoryResource.valid_from < end,
            sa.or_(s.InventoryResource.valid_to.is_(None), s.InventoryResource.valid_to > start),
        )
    )
    return InventoryHistory.from_rows(
        (t, i, _aware(f), None if to is None else _aware(to), d) for t, i, f, to, d in rows
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
