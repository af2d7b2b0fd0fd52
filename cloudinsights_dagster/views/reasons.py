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
that makes reasons additive), `rule_evaluation` (the vectorized rule match), `reasons_table`
(the output's schema, rows and order); this module explains the groups, in steps:

1. :func:`_segments`: the inventory segment of each group, and the state and rule set of each;
2. :func:`_peer_groups`: the security groups of each group's peer ENI (for group references);
3. :func:`_combinations`: the distinct combinations of what a reason depends on;
4. :func:`_explain_combinations`: their verdicts, reasons and deciding rules, and for those no
   rule allows, the rule that allowed them before and the change that took it away;
5. `reasons_table.reasons_table`: the output rows, each group with its combination's outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from .reason_history import (
    InventoryHistory,
    InventoryState,
    Version,
    history_from_session,
    state_at,
)
from .reasons_table import (
    ALLOWED,
    NACL_DENY,
    NO_RULE_ALLOWS,
    REASONS,
    REASONS_SCHEMA,
    UNKNOWN,
    Outcomes,
    empty_reasons,
    reasons_table,
    sort_reasons,
)
from .reject_groups import (
    REJECT_GROUPS_SCHEMA,
    RejectGroups,
    group_records,
    groups_from_table,
    merge_reject_groups,
    reject_groups,
)
from .rule_evaluation import Compiled, Probes, Verdict, compile_rule_sets, evaluate, parse_addresses
from .rules import (
    DEFAULT_DENY,
    AclEntry,
    RuleSet,
    SgRule,
    network_acl_entries,
    security_group_rules,
)
from .vectorized import unique_rows

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
    """The groups' REASONS_SCHEMA rows, and the windows of the groups that straddle a change."""
    sets = _RuleSets(history)
    segments = _segments(g, history, sets)
    peers = _peer_groups(g, history)
    combinations = _combinations(g, segments, peers)
    outcomes = _explain_combinations(combinations, sets, segments)
    table = reasons_table(g, combinations.first, combinations.of_group, outcomes)
    straddles = segments.straddles | peers.straddles
    return table, {int(w) for w in np.unique(g.window[straddles])}


class _RuleSets:
    """Interned rule sets: one per distinct (group versions, ACL version)."""

    def __init__(self, history: InventoryHistory):
        self.history = history
        self.ids: dict[tuple, int] = {}
        self.sets: list[RuleSet] = []
        self._group_rules: dict[tuple[str, str, int], tuple[SgRule, ...]] = {}
        self._acl_entries: dict[tuple[str, str, int], tuple[AclEntry, ...]] = {}

    def group_rules(self, v: Version) -> tuple[SgRule, ...]:
        """The rules of one security-group version (parsed once)."""
        key = (v.resource_type, v.resource_id, v.valid_from)
        if key not in self._group_rules:
            self._group_rules[key] = tuple(security_group_rules(v.data))
        return self._group_rules[key]

    def acl_entries(self, v: Version) -> tuple[AclEntry, ...]:
        key = (v.resource_type, v.resource_id, v.valid_from)
        if key not in self._acl_entries:
            self._acl_entries[key] = tuple(network_acl_entries(v.data))
        return self._acl_entries[key]

    def id_of(self, state: InventoryState) -> int:
        """The id of the state's rule set (an index into `sets`), -1 if it has none."""
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


def _runs(codes: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(code, the positions holding it) for each distinct code, in code order."""
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1], True])
    for b0, b1 in zip(bounds[:-1], bounds[1:], strict=True):
        idx = order[b0:b1]
        yield int(codes[idx[0]]), idx


@dataclass
class _Segments:
    """The inventory segment of each group: the interval, between two change points of its ENI
    (new versions of the ENI, its groups or its VPC's ACLs), that holds the group's first record
    (segment 0: before the first point; segment s from points[s - 1]). Per (ENI code, segment):
    the inventory's state then, its rule set (-1: none) and why there is none."""

    of_group: np.ndarray
    straddles: np.ndarray  # a change point falls between the group's first and last record
    change_points: dict[int, list[int]]  # ENI code -> its change points
    states: dict[tuple[int, int], InventoryState]
    rule_set: dict[tuple[int, int], int]
    detail: dict[tuple[int, int], str]


def _segments(g: RejectGroups, history: InventoryHistory, sets: _RuleSets) -> _Segments:
    """The groups' segments, ENI by ENI (the segments' rule sets interned into `sets`)."""
    out = _Segments(np.zeros(len(g.first), np.int64), np.zeros(len(g.first), bool), {}, {}, {}, {})
    for code, idx in _runs(g.eni):
        eni_id = g.eni_values[code] if code >= 0 else None
        points = history.change_points(eni_id) if eni_id else []
        out.change_points[code] = points
        point_array = np.asarray(points, np.int64)
        segment = np.searchsorted(point_array, g.first[idx], side="right")
        out.of_group[idx] = segment
        out.straddles[idx] = np.searchsorted(point_array, g.last[idx], side="right") != segment
        for s in range(len(points) + 1):
            state = (
                state_at(history, eni_id, points[s - 1])
                if s > 0 and eni_id
                else InventoryState(
                    None, f"no inventory of {eni_id or 'the ENI'} at that time", {}, None
                )
            )
            out.states[(code, s)] = state
            out.rule_set[(code, s)] = sets.id_of(state)
            if state.detail:
                out.detail[(code, s)] = state.detail
    return out


@dataclass
class _PeerGroups:
    """The security groups of each group's peer ENI at the group's first record, as a code into
    `sets` (-1: no peer ENI, or no inventory of it), for the rules that reference a group."""

    of_group: np.ndarray
    sets: list[frozenset[str]]
    straddles: np.ndarray  # the peer ENI got a new version between the first and last record


def _peer_groups(g: RejectGroups, history: InventoryHistory) -> _PeerGroups:
    """The groups' peer security groups, peer ENI by peer ENI."""
    codes_of_sets: dict[frozenset[str], int] = {}
    of_group = np.full(len(g.first), -1, np.int64)
    straddles = np.zeros(len(g.first), bool)
    if (g.peer >= 0).any():
        for code, idx in _runs(g.peer):
            if code < 0:
                continue
            versions = history.versions("network_interface", g.peer_values[code])
            if not versions:
                continue
            starts = np.asarray([v.valid_from for v in versions], np.int64)
            pick = np.maximum(np.searchsorted(starts, g.first[idx], side="right") - 1, 0)
            straddles[idx] = (
                np.maximum(np.searchsorted(starts, g.last[idx], side="right") - 1, 0) != pick
            )
            codes = np.array(
                [
                    codes_of_sets.setdefault(
                        frozenset(v.data.get("security_group_ids") or ()), len(codes_of_sets)
                    )
                    for v in versions
                ],
                np.int64,
            )
            of_group[idx] = codes[pick]
    return _PeerGroups(of_group, list(codes_of_sets), straddles)


@dataclass
class _Combinations:
    """The distinct (ENI, segment, direction, protocol, port, peer address, peer's groups,
    response port, response) of the groups: all a reason depends on, so each is evaluated once."""

    first: np.ndarray  # a group of each combination
    of_group: np.ndarray  # the combination of each group
    eni: np.ndarray
    segment: np.ndarray
    rule_set: np.ndarray  # -1: unknown
    probes: Probes
    response: np.ndarray
    response_port: np.ndarray

    def __len__(self) -> int:
        return len(self.first)


def _combinations(g: RejectGroups, segments: _Segments, peers: _PeerGroups) -> _Combinations:
    """The groups' distinct combinations, with their rule sets and probes to evaluate."""
    first, of_group = unique_rows(
        [
            g.eni,
            segments.of_group,
            g.direction,
            g.proto,
            g.dstport,
            g.addr,
            peers.of_group,
            g.resp_port,
            g.response.astype(np.int64),
        ]
    )
    eni, segment = g.eni[first], segments.of_group[first]
    rule_set = np.array(
        [segments.rule_set[k] for k in zip(eni.tolist(), segment.tolist(), strict=True)],
        np.int64,
    )
    fam, hi, lo = parse_addresses(g.addr_values)
    addr = g.addr[first]
    addr_index = np.where(addr >= 0, addr, len(g.addr_values))  # the (0, 0, 0) entry: no address
    probes = Probes(
        np.maximum(rule_set, 0),
        g.direction[first],
        g.proto[first],
        g.dstport[first],
        fam[addr_index],
        hi[addr_index],
        lo[addr_index],
        peers.of_group[first],
        peers.sets,
    )
    return _Combinations(
        first, of_group, eni, segment, rule_set, probes, g.response[first], g.resp_port[first]
    )


def _explain_combinations(c: _Combinations, sets: _RuleSets, segments: _Segments) -> Outcomes:
    """Every combination's reason, deciding rule, removed rule and change, or why unknown."""
    out = Outcomes.unknown(len(c))
    known = c.rule_set >= 0
    if known.any() and sets.sets:
        compiled = compile_rule_sets(sets.sets)
        verdict = evaluate(compiled, c.probes, c.response, c.response_port)
        out.reason = _reasons(verdict, c.probes.direction == 1, known)
        _name_deciding_rules(out, verdict, compiled, c, sets, known)
        _find_removed_rules(
            np.flatnonzero(out.reason == NO_RULE_ALLOWS), c, compiled, sets, segments, out
        )
    _explain_unknown(np.flatnonzero(~known), c, segments, out)
    return out


def _reasons(verdict: Verdict, egress: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The reason code of each combination, in the order the packet meets the rules."""
    sg_ok = (verdict.sg_row >= 0) | verdict.as_response
    acl_ok = verdict.acl_allows
    acl_first = ~egress & ~acl_ok  # ingress: the ACL is met first
    return np.where(
        ~known,
        UNKNOWN,
        np.where(
            acl_first,
            NACL_DENY,
            np.where(~sg_ok, NO_RULE_ALLOWS, np.where(~acl_ok, NACL_DENY, ALLOWED)),
        ),
    ).astype(np.int8)


def _name_deciding_rules(
    out: Outcomes,
    verdict: Verdict,
    compiled: Compiled,
    c: _Combinations,
    sets: _RuleSets,
    known: np.ndarray,
) -> None:
    """The rule_id of the ACL entry that denied (its own or the default deny) or of the group
    rule that allowed; the detail of what only a request's rules allowed."""
    strings = out.strings
    denied = known & (out.reason == NACL_DENY)
    by_entry = denied & (verdict.acl_row >= 0)
    out.rule_id[by_entry] = strings.labels(compiled.acl.labels, verdict.acl_row[by_entry])
    by_default = denied & (verdict.acl_row < 0)
    if by_default.any():  # the default deny of the rule set's ACL, in its direction
        slot = c.rule_set[by_default] * 2 + (c.probes.direction[by_default] == 1)
        distinct, back = np.unique(slot, return_inverse=True)
        names = [
            strings.code(
                f"{sets.sets[k // 2].acl_id}:{'egress' if k % 2 else 'ingress'}/{DEFAULT_DENY}"
            )
            for k in distinct.tolist()
        ]
        out.rule_id[by_default] = np.asarray(names, np.int64)[back.reshape(-1)]
    allowed = known & (out.reason == ALLOWED)
    by_rule = allowed & (verdict.sg_row >= 0)
    out.rule_id[by_rule] = strings.labels(compiled.sg.labels, verdict.sg_row[by_rule])
    out.detail[allowed & (verdict.sg_row < 0)] = strings.code(
        "allowed as the response of an allowed request"
    )


def _find_removed_rules(
    todo: np.ndarray,
    c: _Combinations,
    compiled: Compiled,
    sets: _RuleSets,
    segments: _Segments,
    out: Outcomes,
) -> None:
    """For the combinations `todo` that no rule allows: the latest earlier segment whose rules
    allowed them, the rule, and the change that took it away (vectorized per step back)."""
    step = 1
    while len(todo):
        back = c.segment[todo] - step
        alive = back >= 1
        todo, back = todo[alive], back[alive]
        if not len(todo):
            return
        rule_sets = np.array(
            [segments.rule_set[k] for k in zip(c.eni[todo].tolist(), back.tolist(), strict=True)],
            np.int64,
        )
        has = rule_sets >= 0
        if has.any():
            idx = todo[has]
            verdict = evaluate(
                compiled,
                c.probes.take(idx, rule_set=rule_sets[has]),
                c.response[idx],
                c.response_port[idx],
            )
            allowed = verdict.sg_row >= 0
            for j in np.flatnonzero(allowed):  # one step per combination found
                i = int(idx[j])
                rule: SgRule = compiled.sg.labels[verdict.sg_row[j]]
                eni, now = int(c.eni[i]), int(c.segment[i])
                change = _change_that_removed(rule, eni, now - step, now, sets, segments)
                if change is not None:
                    time, resource_type, resource_id = change
                    out.previous_rule_id[i] = out.strings.code(rule.rule_id)
                    out.change_time[i] = time
                    out.change_type[i] = out.strings.code(resource_type)
                    out.change_id[i] = out.strings.code(resource_id)
            done = np.zeros(len(todo), bool)
            done[np.flatnonzero(has)[allowed]] = True
            todo = todo[~done]
        step += 1


def _change_that_removed(
    rule: SgRule, eni: int, allowed_in: int, now: int, sets: _RuleSets, segments: _Segments
) -> tuple[int, str, str] | None:
    """The first version change after segment `allowed_in` (whose rules held `rule`), up to
    segment `now`, that took the rule away: (its time, resource type, resource id); the ENI's
    when it detached the group, the group's when the rule was removed or narrowed."""
    for s in range(allowed_in + 1, now + 1):
        state = segments.states[(eni, s)]
        group = state.group_versions.get(rule.group_id)
        if group is not None and rule in sets.group_rules(group):
            continue
        time = segments.change_points[eni][s - 1]
        if group is None and state.eni_version is not None:
            return time, "network_interface", state.eni_version.resource_id
        return time, "security_group", rule.group_id
    return None


def _explain_unknown(
    unknown: np.ndarray, c: _Combinations, segments: _Segments, out: Outcomes
) -> None:
    """The detail of the combinations without a rule set: why their segment has none."""
    if not len(unknown):
        return
    pairs = c.eni[unknown] * (int(c.segment.max()) + 1) + c.segment[unknown]
    _, first_of, back = np.unique(pairs, return_index=True, return_inverse=True)
    texts = [
        out.strings.code(segments.detail.get((int(c.eni[unknown[i]]), int(c.segment[unknown[i]]))))
        for i in first_of.tolist()
    ]
    out.detail[unknown] = np.asarray(texts, np.int64)[back.reshape(-1)]
