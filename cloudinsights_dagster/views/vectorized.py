"""The vectorized building blocks the views share (throughput, rejected, reasons, impact):
record time as five-minute windows, string columns as integer codes into their distinct values,
masks of the records that carry traffic, and exact int64 sums and distinct rows over integer
keys, without string hashing or string sorting per record."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

WINDOW_SECONDS = 300
TIMESTAMP = pa.timestamp("s", tz="UTC")

NO_DATA_STATUSES: tuple[str, ...] = ("NODATA", "SKIPDATA")
_BINCOUNT_MAX_KEYS = 1 << 22  # dense key spaces up to this size are summed with bincounts
_SPLIT_BITS = 26  # int64 measures are summed as two float64 bincounts of 26-bit halves


# ---------------------------------------------------------------------------------------------
# Windows, codes and masks


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
