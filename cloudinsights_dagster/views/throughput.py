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
import pyarrow.compute as pc

WINDOW_SECONDS = 300
TIMESTAMP = pa.timestamp("s", tz="UTC")

# In output order (entity_type sorts alphabetically).
ENTITY_TYPES: tuple[str, ...] = ("account", "eni", "instance", "subnet", "vpc")
DIRECTIONS: tuple[str, ...] = ("inbound", "outbound")
ACTIONS: tuple[str, ...] = ("ACCEPT", "REJECT")
NO_DATA_STATUSES: tuple[str, ...] = ("NODATA", "SKIPDATA")

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
_BINCOUNT_MAX_KEYS = 1 << 22  # dense key spaces up to this size are summed with bincounts
_SPLIT_BITS = 26  # int64 measures are summed as two float64 bincounts of 26-bit halves


# ---------------------------------------------------------------------------------------------
# Helpers shared by the views


def as_utc(value: datetime | str) -> datetime:
    """A datetime (naive = UTC) or ISO-8601 string -> an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def epoch_seconds(moment: datetime | str) -> int:
    return int(as_utc(moment).timestamp())


def window_start(moment: datetime | str) -> datetime:
    """The start of the five-minute window holding `moment` (aware UTC)."""
    seconds = epoch_seconds(moment)
    return datetime.fromtimestamp(seconds - seconds % WINDOW_SECONDS, UTC)


def column_or_nulls(table: pa.Table, name: str, type_: pa.DataType | None = None):
    """The column `name`, or all nulls of `type_` (default string) when the table lacks it."""
    type_ = pa.string() if type_ is None else type_
    if name in table.column_names:
        return table[name]
    return pa.chunked_array([pa.nulls(table.num_rows, type_)], type_)


def as_timestamps(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """A timestamp (any unit; naive = UTC) or epoch-seconds integer column -> timestamp[s, UTC]."""
    if isinstance(column, pa.Array):
        column = pa.chunked_array([column], column.type)
    type_ = column.type
    if pa.types.is_timestamp(type_):
        if type_.unit != "s":
            column = column.cast(pa.timestamp("s", tz=type_.tz), safe=False)
        if type_.tz is None:
            return column.cast(pa.int64()).cast(TIMESTAMP)
        return column.cast(TIMESTAMP)
    if pa.types.is_integer(type_):
        return column.cast(pa.int64()).cast(TIMESTAMP)
    raise TypeError(f"expected a timestamp or epoch-seconds column, got {type_}")


def seconds_array(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(epoch seconds int64, valid bool) numpy arrays of a timestamp/integer column."""
    ints = as_timestamps(column).cast(pa.int64())
    ints = ints.combine_chunks() if ints.num_chunks != 1 else ints.chunk(0)
    valid = _valid(ints)
    return np.asarray(pc.fill_null(ints, 0).to_numpy(zero_copy_only=False), np.int64), valid


def floor_window(seconds: np.ndarray) -> np.ndarray:
    return seconds - np.mod(seconds, WINDOW_SECONDS)


def _valid(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if array.null_count == 0:
        return np.ones(len(array), dtype=bool)
    return np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _combined(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(column, pa.Array):
        return column
    if column.num_chunks == 1:
        return column.chunk(0)
    if column.num_chunks == 0:
        return pa.array([], column.type)
    return column.combine_chunks()


def encode(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """A (plain or dictionary) string column -> (int64 codes, -1 for null; string values).

    Chunk by chunk (the chunks of several files carry different dictionaries): the values are
    the chunks' dictionaries end to end, so a value may appear more than once."""
    chunks = [column] if isinstance(column, pa.Array) else column.chunks
    if len(chunks) == 0:
        return np.zeros(0, np.int64), pa.array([], pa.string())
    codes, values, offset = [], [], 0
    for chunk in chunks:
        if not pa.types.is_dictionary(chunk.type):
            chunk = pc.dictionary_encode(chunk.cast(pa.string()))
        indices = chunk.indices
        if indices.null_count:
            indices = pc.fill_null(indices, -1)
        chunk_codes = np.asarray(indices.to_numpy(zero_copy_only=False), np.int64)
        codes.append(
            np.where(chunk_codes >= 0, chunk_codes + offset, -1) if offset else chunk_codes
        )
        values.append(chunk.dictionary.cast(pa.string()))
        offset += len(chunk.dictionary)
    if len(chunks) == 1:
        return codes[0], values[0]
    return np.concatenate(codes), pa.concat_arrays(values)


def lookup(codes: np.ndarray, values: pa.Array, mapping: Mapping[str, int]) -> np.ndarray:
    """Codes into `values` -> mapping[value] (-1 for null or a value not in mapping)."""
    lut = np.array([mapping.get(v, -1) for v in values.to_pylist()] + [-1], dtype=np.int64)
    return lut[codes]


def ranked(codes: np.ndarray, values: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Codes into `values` (-1 null) -> codes into the sorted distinct non-null values the codes
    use (so that code order is string order), and those values."""
    present = codes >= 0
    if not present.any():
        return np.full(len(codes), -1, np.int64), pa.array([], pa.string())
    used = np.flatnonzero(np.bincount(codes[present], minlength=len(values)))
    encoded = pc.dictionary_encode(values.take(pa.array(used)))  # distinct, nulls masked
    distinct = encoded.dictionary
    order = np.asarray(pc.sort_indices(distinct).to_numpy(zero_copy_only=False), np.int64)
    rank = np.empty(len(distinct), np.int64)
    rank[order] = np.arange(len(distinct), dtype=np.int64)
    used_index = np.asarray(
        pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), np.int64
    )
    lut = np.full(len(values) + 1, -1, np.int64)
    lut[used] = np.where(used_index >= 0, rank[np.maximum(used_index, 0)], -1)
    return lut[codes], distinct.take(pa.array(order))


def traffic_mask(table: pa.Table) -> np.ndarray:
    """True for records that carry traffic: a start and a byte count, not NODATA / SKIPDATA."""
    mask = _valid(table["bytes"]) & _valid(table["start"])
    if "log_status" in table.column_names:
        codes, values = encode(table["log_status"])
        no_data = lookup(codes, values, dict.fromkeys(NO_DATA_STATUSES, 1)) == 1
        mask &= ~no_data
    return mask


def window_mask(windows_seconds: np.ndarray, windows: Iterable[datetime | str]) -> np.ndarray:
    wanted = np.array(sorted({epoch_seconds(window_start(w)) for w in windows}), np.int64)
    return np.isin(windows_seconds, wanted)


def int_measure(table: pa.Table, name: str) -> np.ndarray:
    """An integer measure column as int64 numpy (null = 0)."""
    column = _combined(column_or_nulls(table, name, pa.int64())).cast(pa.int64())
    if column.null_count:
        column = pc.fill_null(column, 0)
    return np.asarray(column.to_numpy(zero_copy_only=False), np.int64)


# ---------------------------------------------------------------------------------------------
# Keyed sums


def group_sums(
    keys: list[np.ndarray], measures: list[list[np.ndarray | None]], key_space: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Sorted distinct keys of the concatenated `keys` parts (disjoint or not) and the int64 sum
    of each measure per key. A measure part of None counts rows (sum of ones)."""
    n = sum(len(k) for k in keys)
    n_measures = len(measures)
    if n == 0:
        return np.zeros(0, np.int64), [np.zeros(0, np.int64) for _ in range(n_measures)]
    dense = key_space <= max(_BINCOUNT_MAX_KEYS, 2 * n)
    if dense and n < 1 << (53 - _SPLIT_BITS) and _non_negative(measures):
        totals = [np.zeros(key_space, np.int64) for _ in range(n_measures)]
        present = np.zeros(key_space, bool)
        for i, part in enumerate(keys):
            counts = np.bincount(part, minlength=key_space)
            present |= counts > 0
            for total, m in zip(totals, measures, strict=True):
                values = m[i]
                total += counts if values is None else _bincount(part, values, key_space)
        unique = np.flatnonzero(present)
        return unique, [t[unique] for t in totals]
    out_keys: list[np.ndarray] = []
    out_sums: list[list[np.ndarray]] = [[] for _ in range(n_measures)]
    for i, part in enumerate(keys):
        if not len(part):
            continue
        order = np.argsort(part, kind="stable")
        sorted_keys = part[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        out_keys.append(sorted_keys[starts])
        for j, m in enumerate(measures):
            values = m[i]
            if values is None:
                out_sums[j].append(np.diff(np.r_[starts, len(part)]).astype(np.int64))
            else:
                out_sums[j].append(np.add.reduceat(values[order], starts).astype(np.int64))
    all_keys = np.concatenate(out_keys)
    sums = [np.concatenate(s) for s in out_sums]
    if len(out_keys) > 1:  # parts may overlap: reduce once more (small: already grouped)
        order = np.argsort(all_keys, kind="stable")
        sorted_keys = all_keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        return sorted_keys[starts], [np.add.reduceat(s[order], starts) for s in sums]
    return all_keys, sums


def exact_sums(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Exact int64 sums of `values` per key in range(n)."""
    if len(values) and values.min() < 0:
        out = np.zeros(n, np.int64)
        np.add.at(out, keys, values)
        return out
    return _bincount(keys, values.astype(np.int64, copy=False), n)


def key_codes(column) -> np.ndarray:
    """Codes of a key column, equal exactly when the values are (null: -1)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_boolean(column.type):
        column = column.cast(pa.int8())
    indices = pc.dictionary_encode(column).indices
    return np.asarray(pc.fill_null(indices, -1).to_numpy(), np.int64)


def unique_rows(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(index of the first row of each distinct row, inverse: row -> distinct id).

    Columns are packed into one int64 key while their value ranges fit; when the next column
    would overflow, the key so far is replaced by its dense distinct ids (one np.unique) and
    packing goes on, so a wide key costs a few sorts of int64, never a lexsort."""
    n = len(columns[0])
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    packed = np.zeros(n, np.int64)
    radix = 1
    for c in columns:
        lo, hi = int(c.min()), int(c.max())
        span = hi - lo + 1
        if span == 1:
            continue
        if radix * span >= 2**62:
            _, packed = np.unique(packed, return_inverse=True)
            packed = packed.reshape(-1).astype(np.int64)
            radix = int(packed.max()) + 1
        packed += (c.astype(np.int64) - lo) * radix
        radix *= span
    _, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def _non_negative(measures: list[list[np.ndarray | None]]) -> bool:
    return all(v is None or not len(v) or v.min() >= 0 for parts in measures for v in parts)


def _bincount(keys: np.ndarray, values: np.ndarray, key_space: int) -> np.ndarray:
    """Exact int64 sums of non-negative int64 `values` per key. A float64 bincount is exact while
    no partial sum reaches 2**53; beyond that, values are summed as 26-bit halves."""
    if not len(values):
        return np.zeros(key_space, np.int64)
    n = len(values)
    if int(values.max()) * n < 1 << 53:
        return np.rint(np.bincount(keys, values.astype(np.float64), key_space)).astype(np.int64)
    low = (values & ((1 << _SPLIT_BITS) - 1)).astype(np.float64)
    high = values >> _SPLIT_BITS
    total = np.rint(np.bincount(keys, low, key_space)).astype(np.int64)
    return total + (_bincount(keys, high, key_space) << _SPLIT_BITS)


# ---------------------------------------------------------------------------------------------
# Throughput


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
