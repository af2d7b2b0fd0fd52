"""The ``reject_reasons`` table: its schema and order, and its rows assembled from explained
combinations (views/reasons.py explains them: what each reason means is described there).

The explanation works on distinct combinations of what a reason depends on; a row of the table
shows less than that (not the inventory segment, the peer's groups or the response port), so
rows are the distinct (window, shown key, outcome) of the groups, with their measures summed.
Strings stay integer codes until the columns are built, and the rows are ordered on those codes,
as :func:`sort_reasons` orders the strings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .reject_groups import RejectGroups, last_is_null
from .rules import AclEntry, SgRule
from .vectorized import TIMESTAMP, exact_sums, unique_rows

REASONS = ("no_rule_allows", "nacl_deny", "allowed", "unknown")
# The reason codes of Outcomes.reason (indexes into REASONS).
NO_RULE_ALLOWS, NACL_DENY, ALLOWED, UNKNOWN = range(len(REASONS))
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


def empty_reasons() -> pa.Table:
    return REASONS_SCHEMA.empty_table()


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


class Interned:
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

    def labels(self, labels: Sequence[SgRule | AclEntry], rows: np.ndarray) -> np.ndarray:
        """Codes of the rule_id of labels[row] for each row (one Python step per distinct row)."""
        distinct, back = np.unique(rows, return_inverse=True)
        codes = [self.code(labels[r].rule_id) for r in distinct.tolist()]
        return np.asarray(codes, np.int64)[back.reshape(-1)]


@dataclass
class Outcomes:
    """The explanation of each combination: its reason (a code into REASONS) and the strings
    that go with it as codes into ``strings`` (-1: none); ``change_time`` in epoch seconds."""

    reason: np.ndarray  # int8
    rule_id: np.ndarray
    previous_rule_id: np.ndarray
    change_type: np.ndarray
    change_id: np.ndarray
    change_time: np.ndarray  # -1: none
    detail: np.ndarray
    strings: Interned

    @classmethod
    def unknown(cls, n: int) -> Outcomes:
        """n combinations with reason ``unknown`` and nothing else (yet)."""

        def none() -> np.ndarray:
            return np.full(n, -1, np.int64)

        return cls(
            reason=np.full(n, UNKNOWN, np.int8),
            rule_id=none(),
            previous_rule_id=none(),
            change_type=none(),
            change_id=none(),
            change_time=none(),
            detail=none(),
            strings=Interned(),
        )


@dataclass
class _Rows:
    """The output rows: per row its window, a group and a combination that show its key and
    outcome, and its measures; ``of_group``: the row of each group."""

    window: np.ndarray
    group: np.ndarray
    combination: np.ndarray
    of_group: np.ndarray
    flows: np.ndarray
    packets: np.ndarray
    bytes: np.ndarray


def reasons_table(
    g: RejectGroups, first: np.ndarray, of_group: np.ndarray, out: Outcomes
) -> pa.Table:
    """The REASONS_SCHEMA rows of the groups, in sort_reasons order, given the combinations they
    were explained as (`first`: a group of each combination; `of_group`: the combination of each
    group) and the combinations' outcomes."""
    rows = _rows(g, first, of_group, out)
    table = _columns(g, rows, out)
    return table.take(pa.array(_order(_sort_keys(g, rows, out)))).cast(REASONS_SCHEMA)


def _rows(g: RejectGroups, first: np.ndarray, of_group: np.ndarray, out: Outcomes) -> _Rows:
    """The groups summed per (window, what a row shows: the combination's key minus the segment,
    the peer's groups and the response port, and its outcome)."""
    _, outcome = unique_rows(
        [
            out.reason.astype(np.int64),
            out.rule_id,
            out.previous_rule_id,
            out.change_type,
            out.change_id,
            out.change_time,
            out.detail,
        ]
    )
    shown_first, shown_of_combination = unique_rows(
        [
            g.eni[first],
            g.direction[first],
            g.addr[first],
            g.peer[first],
            g.dstport[first],
            g.proto[first],
            outcome,
        ]
    )
    n_shown = max(len(shown_first), 1)
    w_codes, w_index = np.unique(g.window, return_inverse=True)
    key = w_index.reshape(-1).astype(np.int64) * n_shown + shown_of_combination[of_group]
    keys, row_of_group = np.unique(key, return_inverse=True)
    row_of_group = row_of_group.reshape(-1)
    combination = shown_first[keys % n_shown]
    return _Rows(
        window=w_codes[keys // n_shown],
        group=first[combination],
        combination=combination,
        of_group=row_of_group,
        flows=exact_sums(row_of_group, g.flows, len(keys)),
        packets=exact_sums(row_of_group, g.packets, len(keys)),
        bytes=exact_sums(row_of_group, g.bytes, len(keys)),
    )


def _with_null(values: list) -> pa.Array:
    """The strings `values` and a null after them (for codes -1, see _decode)."""
    return pa.array(values + [None], pa.string())


def _decode(values: pa.Array, codes: np.ndarray) -> pa.Array:
    """values[code] of each code, null for -1 (`values` from _with_null)."""
    return values.take(pa.array(last_is_null(codes, len(values) - 1)))


def _columns(g: RejectGroups, rows: _Rows, out: Outcomes) -> pa.Table:
    """The rows' columns (in the order they are built, not yet sorted)."""
    texts = _with_null(out.strings.values)

    def outcome_text(codes: np.ndarray) -> pa.Array:
        return _decode(texts, codes[rows.combination])

    ports = g.dstport[rows.group]
    proto = g.proto[rows.group]
    times = out.change_time[rows.combination]
    return pa.table(
        {
            "window_start": pa.array(rows.window, pa.int64()).cast(TIMESTAMP),
            "interface_id": _decode(_with_null(g.eni_values), g.eni[rows.group]),
            "direction": pa.array(np.where(g.direction[rows.group] == 1, "egress", "ingress")),
            "peer_address": _decode(_with_null(g.addr_values), g.addr[rows.group]),
            "peer_interface_id": _decode(_with_null(g.peer_values), g.peer[rows.group]),
            "dstport": pa.array(ports, pa.int32(), mask=ports < 0),
            "protocol": pa.array(proto, pa.int32(), mask=proto < -1),
            "reason": pa.array(
                np.array(REASONS, object)[out.reason[rows.combination]], pa.string()
            ),
            "rule_id": outcome_text(out.rule_id),
            "previous_rule_id": outcome_text(out.previous_rule_id),
            "change_resource_type": outcome_text(out.change_type),
            "change_resource_id": outcome_text(out.change_id),
            "change_time": pa.array(times, pa.int64(), mask=times < 0).cast(TIMESTAMP),
            "detail": outcome_text(out.detail),
            "flows": rows.flows,
            "packets": rows.packets,
            "bytes": rows.bytes,
        }
    )


# The rank of each reason code in the alphabetical order of REASONS.
_REASON_RANK = np.argsort(np.argsort(np.array(REASONS))).astype(np.int64)
_NO_PORT = 1 << 20  # above every port and protocol number: nulls last


def _sort_keys(g: RejectGroups, rows: _Rows, out: Outcomes) -> list[np.ndarray]:
    """The keys of _SORT_KEYS, in its order, as integers on the codes at hand (string codes are
    ranked: their order is the strings'; nulls last)."""
    strings = out.strings.values
    text_rank = np.argsort(np.argsort(np.array(strings + [""], object)[:-1], kind="stable"))
    text_rank = np.append(text_rank, len(text_rank)).astype(np.int64)

    def text(codes: np.ndarray) -> np.ndarray:
        return text_rank[last_is_null(codes[rows.combination], len(strings))]

    times = out.change_time[rows.combination]
    proto = g.proto[rows.group]
    return [
        rows.window,
        -rows.flows,
        -rows.bytes,
        last_is_null(g.eni[rows.group], len(g.eni_values)),  # ENI codes are in string order
        last_is_null(g.addr[rows.group], len(g.addr_values)),
        last_is_null(g.dstport[rows.group], _NO_PORT),
        _REASON_RANK[out.reason[rows.combination]],
        1 - g.direction[rows.group],  # egress before ingress
        last_is_null(g.peer[rows.group], len(g.peer_values)),
        np.where(proto < -1, _NO_PORT, proto),
        text(out.rule_id),
        text(out.previous_rule_id),
        text(out.change_type),
        text(out.change_id),
        np.where(times < 0, np.iinfo(np.int64).max // 4, times),
        text(out.detail),
    ]


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
