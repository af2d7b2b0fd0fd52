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
port, peer) combinations are evaluated, against compiled rule tables (rule_evaluation.py).

The parts: `reason_history` (the inventory's versions by time), `reject_groups` (the grouping
that makes reasons additive); this module explains the groups and orders the output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .reason_history import (
    InventoryHistory,
    InventoryState,
    Version,
    history_from_session,
    state_at,
)
from .reject_groups import (
    REJECT_GROUPS_SCHEMA,
    RejectGroups,
    group_records,
    groups_from_table,
    last_is_null,
    merge_reject_groups,
    reject_groups,
)
from .rule_evaluation import Probes, compile_rule_sets, evaluate, parse_addresses
from .rules import DEFAULT_DENY, RuleSet, network_acl_entries, security_group_rules
from .vectorized import (
    TIMESTAMP,
    exact_sums,
    unique_rows,
)

__all__ = [
    "REASONS",
    "REASONS_SCHEMA",
    "REJECT_GROUPS_SCHEMA",
    "InventoryHistory",
    "Version",
    "empty_reasons",
    "explain_groups",
    "explain_rejects",
    "history_from_session",
    "merge_reject_groups",
    "reject_groups",
    "sort_reasons",
]

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

    def id_of(self, state: InventoryState) -> int:
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


def explain_rejects(
    records: pa.Table,
    history: InventoryHistory,
    windows: Iterable[datetime | str] | None = None,
) -> pa.Table:
    """Enriched flow records -> REASONS_SCHEMA rows, one per (window, ENI, direction, peer,
    port, protocol, reason and its rule/change), with the summed flows, packets and bytes."""
    groups = group_records(records, windows, exact=True)
    if groups is None:
        return empty_reasons()
    return _explain(groups, history)[0]


def explain_groups(groups: pa.Table, history: InventoryHistory) -> tuple[pa.Table, set[int]]:
    """REJECT_GROUPS_SCHEMA rows (merged partials) -> (REASONS_SCHEMA rows, the windows (epoch
    seconds) of groups in which a version of the rules they depend on changed: their records
    may have different reasons, so those windows must be explained from the records)."""
    if groups.num_rows == 0:
        return empty_reasons(), set()
    return _explain(groups_from_table(groups), history)


def _explain(g: RejectGroups, history: InventoryHistory) -> tuple[pa.Table, set[int]]:
    t, direction, proto, dstport = g.first, g.direction, g.proto, g.dstport
    eni_codes, addr_codes, peer_codes = g.eni, g.addr, g.peer
    eni_list, peer_list = g.eni_values, g.peer_values
    straddles = np.zeros(len(t), bool)

    # Segment of each group in its ENI's version history, and the rule set of each segment.
    sets = _RuleSets(history)
    segment = np.zeros(len(t), np.int64)
    seg_rule_set: dict[tuple[int, int], int] = {}
    seg_detail: dict[tuple[int, int], str] = {}
    seg_states: dict[tuple[int, int], InventoryState] = {}
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
                state_at(history, eni_id, points[s - 1])
                if s > 0 and eni_id
                else InventoryState(
                    None, f"no inventory of {eni_id or 'the ENI'} at that time", {}, None
                )
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
        return texts.take(pa.array(last_is_null(codes[g_combo], len(strings.values))))

    times = change_t[g_combo]

    eni_str = pa.array(eni_list + [None], pa.string())
    peer_str = pa.array(peer_list + [None], pa.string())
    addr_str = pa.array(g.addr_values + [None], pa.string())
    ports = dstport[g_first]
    table = pa.table(
        {
            "window_start": pa.array(g_window, pa.int64()).cast(TIMESTAMP),
            "interface_id": eni_str.take(pa.array(last_is_null(eni_codes[g_first], len(eni_list)))),
            "direction": pa.array(np.where(direction[g_first] == 1, "egress", "ingress")),
            "peer_address": addr_str.take(
                pa.array(last_is_null(addr_codes[g_first], len(addr_str) - 1))
            ),
            "peer_interface_id": peer_str.take(
                pa.array(last_is_null(peer_codes[g_first], len(peer_list)))
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
    seg_states: dict[tuple[int, int], InventoryState],
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
