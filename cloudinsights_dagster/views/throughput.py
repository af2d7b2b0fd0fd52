"""Throughput per entity per five-minute window (table ``entity_throughput``).

A record counts in the window its own ``start`` falls in (``floor(start / 300) * 300``), never in
the window of the file that delivered it, and for each entity it belongs to: its ENI
(``interface_id``), the ENI's instance, subnet and VPC (enrichment columns ``eni_instance_id``,
``eni_subnet_id``, ``eni_vpc_id``) and its account (``eni_owner_account_id``, or the record's
``account_id`` when the inventory does not know the ENI; ``unknown`` is no account). Entities
the record has no id for are skipped. ``flow_direction`` ``ingress`` is inbound traffic of the
record's ENI, ``egress`` outbound; accepted and rejected traffic are kept apart. Records whose
direction or action is missing or unexpected count nowhere.

NODATA / SKIPDATA records (null measures) count nowhere. The figures are plain sums, so the
aggregate of a union of record sets equals the merge (:func:`merge_throughput`) of the
aggregates of its parts: a late file re-aggregates only the windows it touches
(:func:`windows_of`), either from scratch (``aggregate_throughput(records, windows=...)``) or by
merging its partial aggregate into the stored one.

Vectorized without string hashing or string sorting per record: every id column becomes integer
codes into its sorted distinct values, each (window, entity, direction, action) an int64 key
whose numeric order is the output order, and the sums are bincounts over the keys (or a sort
and ``reduceat`` when the key space is too sparse for bincounts). Sums are exact int64.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from .vectorized import (
    TIMESTAMP,
    WINDOW_SECONDS,
    as_timestamps,
    column_or_nulls,
    encode,
    floor_window,
    group_sums,
    int_measure,
    lookup,
    ranked,
    seconds_array,
    traffic_mask,
    window_mask,
)

# In output order (entity_type sorts alphabetically).
ENTITY_TYPES: tuple[str, ...] = ("account", "eni", "instance", "subnet", "vpc")
DIRECTIONS: tuple[str, ...] = ("inbound", "outbound")
ACTIONS: tuple[str, ...] = ("ACCEPT", "REJECT")

THROUGHPUT_KEYS: tuple[str, ...] = (
    "window_start",
    "entity_type",
    "entity_id",
    "direction",
    "action",
)
THROUGHPUT_MEASURES: tuple[str, ...] = ("bytes", "packets", "flows")
THROUGHPUT_SCHEMA = pa.schema(
    [
        pa.field("window_start", TIMESTAMP, nullable=False),
        pa.field("entity_type", pa.string(), nullable=False),
        pa.field("entity_id", pa.string(), nullable=False),
        pa.field("direction", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
        pa.field("packets", pa.int64(), nullable=False),
        pa.field("flows", pa.int64(), nullable=False),
    ]
)

# Record column of each entity type but the account (derived from two columns).
_ENTITY_COLUMNS: dict[str, str] = {
    "eni": "interface_id",
    "instance": "eni_instance_id",
    "subnet": "eni_subnet_id",
    "vpc": "eni_vpc_id",
}
_RECORD_DIRECTIONS = {"ingress": 0, "egress": 1}


def empty_throughput() -> pa.Table:
    return THROUGHPUT_SCHEMA.empty_table()


def windows_of(records: pa.Table) -> set[datetime]:
    """The five-minute windows (aware UTC datetimes) the records fall in, by their `start`:
    the windows a (late) file touches and whose figures must be re-aggregated."""
    if records.num_rows == 0:
        return set()
    seconds, valid = seconds_array(records["start"])
    return {datetime.fromtimestamp(int(w), UTC) for w in np.unique(floor_window(seconds[valid]))}


def aggregate_throughput(
    records: pa.Table, windows: Iterable[datetime | str] | None = None
) -> pa.Table:
    """Enriched flow records -> THROUGHPUT_SCHEMA rows, sorted by THROUGHPUT_KEYS.

    `windows`: when given, only records whose window is one of these count (re-aggregation of
    the windows a late file touched, from every record of the day).
    """
    if records.num_rows == 0:
        return empty_throughput()
    seconds, _ = seconds_array(records["start"])
    seconds = floor_window(seconds)
    mask = traffic_mask(records)
    if windows is not None:
        mask &= window_mask(seconds, windows)
    d_codes, d_values = encode(column_or_nulls(records, "flow_direction"))
    direction = lookup(d_codes, d_values, _RECORD_DIRECTIONS)
    a_codes, a_values = encode(column_or_nulls(records, "action"))
    action = lookup(a_codes, a_values, {a: i for i, a in enumerate(ACTIONS)})
    mask &= (direction >= 0) & (action >= 0)
    if not mask.any():
        return empty_throughput()
    keep = np.flatnonzero(mask) if not mask.all() else None

    def pick(values: np.ndarray) -> np.ndarray:
        return values if keep is None else values[keep]

    entities: dict[str, tuple[np.ndarray, pa.Array]] = {}
    for entity, column in _ENTITY_COLUMNS.items():
        codes, values = encode(column_or_nulls(records, column))
        entities[entity] = (pick(codes), values)
    # Account: the ENI owner the inventory knows, else the record's account-id ("unknown" = none).
    owner_codes, owner_values = encode(column_or_nulls(records, "eni_owner_account_id"))
    acct_codes, acct_values = encode(column_or_nulls(records, "account_id"))
    acct_codes = np.where(lookup(acct_codes, acct_values, {"unknown": 1}) == 1, -1, acct_codes)
    owner_codes, acct_codes = pick(owner_codes), pick(acct_codes)
    entities["account"] = (
        np.where(
            owner_codes >= 0,
            owner_codes,
            np.where(acct_codes >= 0, acct_codes + len(owner_values), -1),
        ),
        pa.concat_arrays([owner_values, acct_values]),
    )
    return _aggregate(
        pick(seconds),
        entities,
        pick(direction),
        pick(action),
        pick(int_measure(records, "bytes")),
        pick(int_measure(records, "packets")),
        None,
    )


def _aggregate(
    seconds: np.ndarray,
    entities: Mapping[str, tuple[np.ndarray, pa.Array]],
    direction: np.ndarray,
    action: np.ndarray,
    bytes_: np.ndarray,
    packets: np.ndarray,
    flows: np.ndarray | None,
) -> pa.Table:
    """Rows (all with a valid window, direction and action) -> the sorted throughput table.
    `entities`: per entity type, codes per row (-1: none) into values. `flows` None: one each."""
    if not len(seconds):
        return empty_throughput()
    w_min = int(seconds.min())
    w_index = (seconds - w_min) // WINDOW_SECONDS
    n_windows = int(w_index.max()) + 1
    ranked_entities = [(e, *ranked(*entities[e])) for e in ENTITY_TYPES if e in entities]
    offsets = np.cumsum([0] + [len(values) for _, _, values in ranked_entities])
    n_entities = int(offsets[-1])
    if n_entities == 0:
        return empty_throughput()
    key_space = n_windows * n_entities * 4
    if key_space >= 1 << 62:
        raise ValueError("too many windows x entities for one aggregation: split the input")
    base = w_index * n_entities
    direction_action = direction * 2 + action
    keys: list[np.ndarray] = []
    measures: list[list[np.ndarray | None]] = [[], [], []]
    for (_, codes, _), offset in zip(ranked_entities, offsets[:-1], strict=True):
        rows = np.flatnonzero(codes >= 0)
        keys.append((base[rows] + offset + codes[rows]) * 4 + direction_action[rows])
        measures[0].append(bytes_[rows])
        measures[1].append(packets[rows])
        measures[2].append(None if flows is None else flows[rows])
    unique, (sum_bytes, sum_packets, sum_flows) = group_sums(keys, measures, key_space)

    entity_global = (unique // 4) % n_entities
    type_index = np.searchsorted(offsets, entity_global, side="right") - 1
    all_values = pa.concat_arrays([values for _, _, values in ranked_entities])
    type_names = pa.array([e for e, _, _ in ranked_entities], pa.string())
    window = w_min + (unique // 4 // n_entities) * WINDOW_SECONDS
    return pa.table(
        {
            "window_start": pa.array(window, pa.int64()).cast(TIMESTAMP),
            "entity_type": type_names.take(pa.array(type_index)),
            "entity_id": all_values.take(pa.array(entity_global)),
            "direction": pa.array(DIRECTIONS, pa.string()).take(pa.array((unique % 4) // 2)),
            "action": pa.array(ACTIONS, pa.string()).take(pa.array(unique % 2)),
            "bytes": pa.array(sum_bytes, pa.int64()),
            "packets": pa.array(sum_packets, pa.int64()),
            "flows": pa.array(sum_flows, pa.int64()),
        },
        schema=THROUGHPUT_SCHEMA,
    )


def merge_throughput(parts: Iterable[pa.Table | None]) -> pa.Table:
    """Sum several throughput tables (partial aggregates of disjoint record sets, e.g. the
    stored figures of a window and a late file's) into one: the aggregate of the union."""
    tables = [p for p in parts if p is not None and p.num_rows]
    if not tables:
        return empty_throughput()
    table = pa.concat_tables([_conform(t) for t in tables])
    seconds, _ = seconds_array(table["window_start"])
    seconds = floor_window(seconds)
    t_codes, t_values = encode(table["entity_type"])
    type_of = lookup(t_codes, t_values, {e: i for i, e in enumerate(ENTITY_TYPES)})
    id_codes, id_values = encode(table["entity_id"])
    d_codes, d_values = encode(table["direction"])
    direction = lookup(d_codes, d_values, {d: i for i, d in enumerate(DIRECTIONS)})
    a_codes, a_values = encode(table["action"])
    action = lookup(a_codes, a_values, {a: i for i, a in enumerate(ACTIONS)})
    keep = np.flatnonzero((direction >= 0) & (action >= 0) & (type_of >= 0))
    entities = {
        e: (np.where(type_of == i, id_codes, -1)[keep], id_values)
        for i, e in enumerate(ENTITY_TYPES)
    }
    return _aggregate(
        seconds[keep],
        entities,
        direction[keep],
        action[keep],
        int_measure(table, "bytes")[keep],
        int_measure(table, "packets")[keep],
        int_measure(table, "flows")[keep],
    )


def _conform(table: pa.Table) -> pa.Table:
    """A throughput table, perhaps read back from the warehouse, in THROUGHPUT_SCHEMA's types."""
    columns = {}
    for f in THROUGHPUT_SCHEMA:
        column = table[f.name]
        if f.name == "window_start":
            column = as_timestamps(column)
        elif pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        columns[f.name] = column.cast(f.type)
    return pa.table(columns)
