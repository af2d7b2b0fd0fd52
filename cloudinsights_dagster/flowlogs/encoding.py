"""How flow records are encoded in Parquet (docs/schema.md, "Flow records"): row groups, the
sort order inside them, and each column's encoding and codec. `ENCODING` "v0" is the encoding
before the table, kept so that bench/bench_flowlogs.py measures both in one run."""

import functools
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# The table's encoding (docs/schema.md, "Flow records"; measured on the 2M-record benchmark file,
# bench/bench_flowlogs.py). Rows are regrouped into row groups of ROW_GROUP_ROWS and sorted in each
# by SORT_COLUMNS before enrichment: one ENI's flows then sit together, so its own address, its
# VPC / subnet / instance / inventory columns and its start times form runs that dictionaries,
# RLE and zstd shrink to almost nothing. Sorting costs one gather of the parsed columns; larger
# row groups pay it back by writing each dictionary page once per 256k rows instead of per 36k.
ROW_GROUP_ROWS = 262_144
SORT_COLUMNS = ("interface_id", "flow_direction", "start")
WRITE_BATCH_ROWS = 131_072
ZSTD_LEVEL = 1  # levels 2-3 are no smaller on sorted rows and cost 15% more; -1 is 40% larger
# Per column: zstd where it pays for its CPU (addresses: 4.5x smaller; high-cardinality
# dictionaries and lists; and everything else is dictionary/RLE or delta encoded, uncompressed,
# because after sorting zstd finds little left there (<10%) for 20-40% more encoding time).
ZSTD_COLUMNS = (
    "srcaddr",
    "dstaddr",
    "pkt_srcaddr",
    "pkt_dstaddr",
    "interface_id",
    "instance_id",
    "eni_instance_id",
    "eni_name",
    "eni_security_group_ids",
    "peer_interface_id",
    "peer_instance_id",
    "source_object",
)
# Integers of many values: delta encoding, cheaper than a dictionary and as small; small
# enumerations (protocol, flags, path) and the second-resolution times take a dictionary.
DELTA_COLUMNS = ("srcport", "dstport", "packets", "bytes")
# Compacted files (a location's whole day, sorted): start/end take delta encoding (a day has
# ~86k distinct seconds: a dictionary costs ~9 bytes a row, delta ~3); ports, packets and bytes
# are plain + zstd (25-40% smaller than delta there).
COMPACTED_DELTA_COLUMNS = ("start", "end")
COMPACTED_PLAIN_COLUMNS = ("srcport", "dstport", "packets", "bytes")
# Statistics only where readers prune on them (time range, account, action; not the ENI: each
# row group spans every ENI of its rows, so its min/max prunes nothing); elsewhere
# they cost more than they give.
STATISTICS_COLUMNS = ("start", "end", "account_id", "log_status", "action")
# Which encoding new files get: "compact" (above) or "v0", the encoding before the table
# (one row group per parse batch, unsorted, addresses and integers uncompressed), kept so that
# bench/bench_flowlogs.py measures both in one run.
ENCODING = "compact"


def _leaves(field: pa.Field) -> list[tuple[str, pa.DataType]]:
    """(Parquet column path, Arrow leaf type) of a field: list values are `name.list.element`
    (ParquetWriter's default compliant nested names)."""
    t = field.type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        element = t.value_field.with_name("element")
        return [(f"{field.name}.list.{p}", lt) for p, lt in _leaves(element)]
    if pa.types.is_struct(t):
        return [(f"{field.name}.{p}", lt) for child in t for p, lt in _leaves(child)]
    return [(field.name, t)]


def column_options(
    schema: pa.Schema, compression: str | dict[str, str] | None, profile: str = "object"
) -> dict:
    """ParquetWriter options per column (see the constants above). `compression`, when given,
    is one codec for every column instead. `profile` "compacted" is for files written once a
    night that span a whole day (COMPACTED_*): their start/end are mostly distinct, so delta
    encoded, and everything is zstd compressed, CPU mattering less there."""
    if isinstance(compression, dict):
        return _column_options(ENCODING, schema, compression, profile)
    # Cached: the same few schemas come back for every object (~1 ms each to rebuild).
    return dict(_cached_column_options(ENCODING, schema, compression, profile))


@functools.lru_cache(maxsize=64)
def _cached_column_options(
    encoding_name: str, schema: pa.Schema, compression: str | None, profile: str
) -> dict:
    return _column_options(encoding_name, schema, compression, profile)


def _column_options(
    encoding_name: str, schema: pa.Schema, compression: str | dict[str, str] | None, profile: str
) -> dict:
    if encoding_name == "v0":
        return _v0_column_options(schema, compression)
    leaves = [leaf for f in schema for leaf in _leaves(f)]

    def top(column: str) -> str:
        return column.split(".", 1)[0]

    compacted = profile == "compacted"
    delta_columns = COMPACTED_DELTA_COLUMNS if compacted else DELTA_COLUMNS
    delta = {
        c: "DELTA_BINARY_PACKED"
        for c, t in leaves
        if top(c) in delta_columns and (pa.types.is_integer(t) or pa.types.is_timestamp(t))
    }
    # Dictionary pages wherever values repeat: dictionary-typed columns (their Arrow dictionary
    # is written as it is, no hashing), list elements, small integers, times; not for plain
    # strings (addresses are mostly distinct: zstd on the sorted values is 3x smaller).
    plain = COMPACTED_PLAIN_COLUMNS if compacted else ()
    dictionary = [
        c for c, t in leaves if c not in delta and top(c) not in plain and not pa.types.is_string(t)
    ]
    if compression is None:
        compression = {
            c: ("zstd" if compacted or top(c) in ZSTD_COLUMNS else "none") for c, _ in leaves
        }
    return dict(
        compression=compression,
        compression_level=(
            {c: ZSTD_LEVEL for c, codec in compression.items() if codec == "zstd"}
            if isinstance(compression, dict)
            else (ZSTD_LEVEL if compression == "zstd" else None)
        ),
        write_statistics=[c for c in STATISTICS_COLUMNS if c in schema.names],
        use_dictionary=dictionary,
        column_encoding=delta or None,
        # Values encoded per call (default 1,024): 7-10% less encoding CPU; pages may then
        # pass data_page_size by up to one such batch.
        write_batch_size=WRITE_BATCH_ROWS,
    )


_V0_DELTA = ("srcport", "dstport", "packets", "bytes", "protocol", "tcp_flags", "traffic_path")
_V0_STATISTICS = ("start", "end", "account_id", "log_status", "action")


def _v0_column_options(schema: pa.Schema, compression: str | dict[str, str] | None) -> dict:
    """The encoding before the table (issue 11): snappy on dictionaries, nothing elsewhere."""
    leaves = [leaf for f in schema for leaf in _leaves(f)]
    delta = {
        c: "DELTA_BINARY_PACKED" for c, t in leaves if c in _V0_DELTA and pa.types.is_integer(t)
    }
    dictionary = [c for c, t in leaves if c not in delta and not pa.types.is_string(t)]
    if compression is None:
        compression = {c: "snappy" for c, t in leaves if pa.types.is_dictionary(t) or "." in c}
    return dict(
        compression=compression,
        write_statistics=[c for c in _V0_STATISTICS if c in schema.names],
        use_dictionary=dictionary,
        column_encoding=delta or None,
    )


def sorted_row_groups(
    batches: Iterable[pa.RecordBatch], rows: int = ROW_GROUP_ROWS
) -> Iterator[pa.RecordBatch]:
    """Regroup parsed batches into batches of about `rows` rows (one Parquet row group each),
    each sorted by SORT_COLUMNS (the columns present).

    The parser gives each ~8 MB chunk its own string dictionaries; a group's are unified first
    (a few thousand values), so the sort keys are small integers: the ENI's rank in its sorted
    dictionary, the direction's, and the start second. Nulls sort first.
    """
    for group in regroup(batches, rows):
        yield sorted_group(group)


def regroup(batches: Iterable[pa.RecordBatch], rows: int = ROW_GROUP_ROWS) -> Iterator[pa.Table]:
    """Parsed batches gathered into tables of about `rows` rows with unified dictionaries. The
    chunks are not concatenated: the sort's gather reads them where they are (a take from a
    chunked table costs half of a concatenation followed by a take)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield _group(pending)
            pending, count = [], 0
    if pending:
        yield _group(pending)


def _group(batches: list[pa.RecordBatch]) -> pa.Table:
    table = pa.Table.from_batches(batches)
    return table if len(batches) == 1 else table.unify_dictionaries()


def as_batch(data: pa.RecordBatch | pa.Table) -> pa.RecordBatch:
    """One RecordBatch of a table's rows (zero-copy for a table of one chunk per column)."""
    if isinstance(data, pa.RecordBatch):
        return data
    # A column of one chunk (what a table's take gives) as it is: combine_chunks copies even
    # that (39 ms a 262k-row group in a fresh process's profile, ~1 ms warm).
    return pa.RecordBatch.from_arrays(
        [c.chunk(0) if c.num_chunks == 1 else c.combine_chunks() for c in data.columns],
        schema=data.schema,
    )


def one_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A column as one array. A chunked dictionary column must have one dictionary (a table
    from regroup): only its indices are concatenated."""
    if not isinstance(column, pa.ChunkedArray):
        return column
    if column.num_chunks == 1:
        return column.chunk(0)
    if pa.types.is_dictionary(column.type) and column.num_chunks:
        indices = pa.chunked_array([c.indices for c in column.chunks]).combine_chunks()
        return pa.DictionaryArray.from_arrays(indices, column.chunk(0).dictionary)
    return column.combine_chunks()


def sort_order(
    batch: pa.RecordBatch | pa.Table, columns: Iterable[str], positions: np.ndarray | None = None
) -> np.ndarray:
    """The order sorting `batch` (or only its rows at `positions`: then indices into
    positions) by `columns` (those present)."""
    keys = [sort_key(batch.column(c)) for c in columns if c in batch.schema.names]
    if positions is not None:
        keys = [k[positions] for k in keys]
    if not keys:
        return np.arange(batch.num_rows if positions is None else len(positions))
    return lex_order(keys)


def sorted_group(batch: pa.RecordBatch | pa.Table) -> pa.RecordBatch:
    """The rows of `batch` (a table of unified dictionaries, see regroup) sorted by
    SORT_COLUMNS, as one batch: a single gather."""
    return as_batch(batch.take(pa.array(sort_order(batch, SORT_COLUMNS), pa.int64())))


def lex_order(keys: list[np.ndarray]) -> np.ndarray:
    """Row order sorting by keys[0], then keys[1], ... (ties keep their order).

    The usual keys (ENI and direction ranks, start seconds of a few minutes) are small: they
    are packed into 16-bit keys and radix sorted (numpy's stable sort of 16-bit integers), one
    pass per packed key from the last, 4x faster than an argsort of one combined int64 key;
    wider keys take that argsort when they fit 62 bits together, else a lexsort."""
    spans = [(int(k.min()), int(k.max())) if len(k) else (0, 0) for k in keys]
    packed = _pack16(keys, spans)
    if packed is not None:
        order = np.argsort(packed[-1], kind="stable")
        for key in reversed(packed[:-1]):
            order = order[np.argsort(key[order], kind="stable")]
        return order
    combined = np.zeros(len(keys[0]), np.int64)
    bits = 0
    for key, (low, high) in zip(reversed(keys), reversed(spans), strict=True):
        width = max(high - low, 0).bit_length()
        if bits + width > 62:
            return np.lexsort(keys[::-1])
        combined |= (key - low) << bits
        bits += width
    return np.argsort(combined, kind="stable")


def _pack16(keys: list[np.ndarray], spans: list[tuple[int, int]]) -> list[np.ndarray] | None:
    """The keys as few uint16 keys of the same order (neighbours combined while their value
    ranges multiply to at most 2**16), or None when one key alone is wider."""
    packed: list[np.ndarray] = []
    current: np.ndarray | None = None
    size = 1
    for key, (low, high) in zip(keys, spans, strict=True):
        span = high - low + 1
        if span > 1 << 16:
            return None
        if current is not None and size * span <= 1 << 16:
            current = current * span + (key - low)
            size *= span
        else:
            if current is not None:
                packed.append(current.astype(np.uint16))
            current, size = key - low, span
    assert current is not None
    packed.append(current.astype(np.uint16))
    return packed


def sort_key(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A column as int64 sort keys (order of its values, nulls first). A chunked dictionary
    column must have one dictionary (see regroup)."""
    column = one_array(column)
    if pa.types.is_dictionary(column.type):
        dictionary = column.dictionary
        # Rank of each dictionary value among them (0 for null: first).
        rank = np.zeros(len(dictionary) + 1, np.int64)
        order = pc.sort_indices(dictionary).to_numpy()
        rank[order + 1] = np.arange(1, len(dictionary) + 1)
        indices = pc.fill_null(column.indices, -1).to_numpy(zero_copy_only=False)
        return rank[indices.astype(np.int64) + 1]
    if pa.types.is_timestamp(column.type):
        column = column.view(pa.int64())
    if pa.types.is_integer(column.type):
        return pc.fill_null(column.cast(pa.int64()), np.iinfo(np.int64).min).to_numpy()
    encoded = pc.dictionary_encode(column)
    return sort_key(encoded)
