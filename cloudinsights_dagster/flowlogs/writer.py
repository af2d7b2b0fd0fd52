"""Parquet output of flow records, one file per source object, and the processing pipeline.

* `output_path(base, bucket, key)`: a deterministic location per S3 object (local folder or
  `s3://`), so re-processing an object replaces exactly its rows.
* Files are written to a temporary name next to the target and renamed (moved) when complete: a
  reader never sees a half-written file and a failure leaves the previous output untouched.
* `process_object(...)`: parse + mandatory-field check + enrichment + write of one object as a
  four-stage pipeline: decompression (the parser's own thread), parsing (the caller's thread),
  enrichment and Parquet encoding (one thread each), so both cores stay busy; memory stays flat
  because ~8 MB chunks stream through short queues.
* `write_parsed(...)`: the same without enrichment (the CLI's `flowlogs parse`).

No Dagster here; the assets call these functions.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .parse import FlowLogReader, Source, open_flow_log

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
_QUEUE_DEPTH = 3  # items between stages: ~8 MB parse batches (v0)
# Sorted row groups are ~8x larger: one waiting per stage keeps every stage busy and the peak
# memory near the v0 pipeline's.
_GROUP_QUEUE_DEPTH = 1
_KNOWN_SUFFIXES = (".log.gz", ".log.parquet")


# ---------------------------------------------------------------------------------------------
# Locations


def output_path(base: str, bucket: str, key: str) -> str:
    """Deterministic output location of the enriched records of s3://bucket/key.

    `base/bucket/<key without its .log.gz/.log.parquet suffix>.parquet`; the S3 layout (account,
    region, day) is kept so a day's files share a folder. Characters unsafe in paths are
    percent-encoded, and `.`/`..` segments cannot escape the base.
    """
    stem = key
    for suffix in _KNOWN_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    segments = [_safe_segment(s) for s in stem.split("/") if s != ""]
    if not segments:
        segments = ["_"]
    return posixpath.join(base.rstrip("/") or "/", _safe_segment(bucket), *segments) + ".parquet"


def _safe_segment(segment: str) -> str:
    encoded = quote(segment, safe="=-_.,+@~")
    if encoded in (".", ".."):
        encoded = encoded.replace(".", "%2E")
    return encoded


def resolve_filesystem(
    path: str, filesystem: pafs.FileSystem | None = None
) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for a local path or an s3:// URI.

    s3:// uses Arrow's S3 client with the standard AWS credential chain; AWS_ENDPOINT_URL (a moto
    server locally) and AWS_DEFAULT_REGION are honoured. Pass `filesystem` to use other
    credentials.
    """
    if path.startswith("s3://"):
        inner = path[len("s3://") :]
        if filesystem is not None:
            return filesystem, inner
        return s3_filesystem(), inner
    if filesystem is not None:
        return filesystem, path
    return pafs.LocalFileSystem(), os.path.abspath(path)


def s3_filesystem(**kwargs) -> pafs.S3FileSystem:
    """An Arrow S3 filesystem from the standard AWS configuration (endpoint override for moto)."""
    from cloudinsights_dagster import aws  # boto3: only for s3:// outputs

    endpoint = aws.endpoint_url()
    options = {
        "region": aws.default_region(),
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=5),
    }
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        options.update(endpoint_override=host or endpoint, scheme=scheme if host else "http")
    options.update(kwargs)
    return pafs.S3FileSystem(**options)


# ---------------------------------------------------------------------------------------------
# Atomic Parquet output


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


def _column_options(
    schema: pa.Schema, compression: str | dict[str, str] | None, profile: str = "object"
) -> dict:
    """ParquetWriter options per column (see the constants above). `compression`, when given,
    is one codec for every column instead. `profile` "compacted" is for files written once a
    night that span a whole day (COMPACTED_*): their start/end are mostly distinct, so delta
    encoded, and everything is zstd compressed, CPU mattering less there."""
    if ENCODING == "v0":
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
    for batch in regroup(batches, rows):
        yield _sorted_group([batch])


def regroup(
    batches: Iterable[pa.RecordBatch], rows: int = ROW_GROUP_ROWS
) -> Iterator[pa.RecordBatch]:
    """Parsed batches concatenated into batches of about `rows` rows, dictionaries unified."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield _concat(pending)
            pending, count = [], 0
    if pending:
        yield _concat(pending)


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    table = pa.Table.from_batches(batches).unify_dictionaries().combine_chunks()
    return table.to_batches(max_chunksize=table.num_rows)[0]


def sort_order(
    batch: pa.RecordBatch, columns: Iterable[str], positions: np.ndarray | None = None
) -> np.ndarray:
    """The order sorting `batch` (or only its rows at `positions`: then indices into
    positions) by `columns` (those present)."""
    keys = [_sort_key(batch.column(c)) for c in columns if c in batch.schema.names]
    if positions is not None:
        keys = [k[positions] for k in keys]
    if not keys:
        return np.arange(batch.num_rows if positions is None else len(positions))
    return _order(keys)


def _sorted_group(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    batch = _concat(batches)
    return batch.take(pa.array(sort_order(batch, SORT_COLUMNS), pa.int64()))


def _order(keys: list[np.ndarray]) -> np.ndarray:
    """Row order sorting by keys[0], then keys[1], ...: one argsort of a combined int64 key when
    the keys' ranges fit in 62 bits (the usual case: 10x faster than a lexsort), else lexsort."""
    combined = np.zeros(len(keys[0]), np.int64)
    bits = 0
    for key in reversed(keys):
        low, high = int(key.min()), int(key.max())
        width = max(high - low, 0).bit_length()
        if bits + width > 62:
            return np.lexsort(keys[::-1])
        combined |= (key - low) << bits
        bits += width
    return np.argsort(combined)


def _sort_key(column: pa.Array) -> np.ndarray:
    """A column as int64 sort keys (order of its values, nulls first)."""
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
    return _sort_key(encoded)


class AtomicParquetWriter:
    """A ParquetWriter on a temporary file that becomes `path` on commit(), or vanishes on
    abort(). Local paths are renamed; on S3 the temporary object is moved (copy + delete)."""

    def __init__(
        self,
        path: str,
        schema: pa.Schema,
        *,
        filesystem: pafs.FileSystem | None = None,
        compression: str | None = None,
        compression_level: int | None = None,
        profile: str = "object",
    ):
        self.fs, self.path = resolve_filesystem(path, filesystem)
        directory = posixpath.dirname(self.path)
        if directory and not isinstance(self.fs, pafs.S3FileSystem):  # S3 needs no folders
            self.fs.create_dir(directory, recursive=True)
        name = posixpath.basename(self.path)
        self.tmp_path = posixpath.join(directory, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
        self._sink = self.fs.open_output_stream(self.tmp_path)
        try:
            options = _column_options(schema, compression, profile)
            if compression_level is not None:
                options["compression_level"] = compression_level
            self._writer = pq.ParquetWriter(self._sink, schema, **options)
        except BaseException:
            with contextlib.suppress(Exception):
                self._sink.close()
                self.fs.delete_file(self.tmp_path)
            raise
        self.rows = 0
        self._done = False

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def commit(self) -> int:
        """Finish the file and move it into place; returns its size in bytes."""
        self._writer.close()
        self._sink.close()
        self._done = True
        self.fs.move(self.tmp_path, self.path)
        info = self.fs.get_file_info(self.path)
        return int(info.size or 0)

    def abort(self) -> None:
        """Drop the temporary file (best effort: the caller is already handling an error)."""
        if self._done:
            return
        self._done = True
        for cleanup in (
            self._writer.close,
            self._sink.close,
            lambda: self.fs.delete_file(self.tmp_path),
        ):
            with contextlib.suppress(Exception):
                cleanup()


# ---------------------------------------------------------------------------------------------
# Pipeline


@dataclass
class ProcessResult:
    """What processing one object did (for the ledger, the run metadata and the status)."""

    source: str | None
    out_path: str
    kind: str
    fields: list[str]
    records_read: int = 0
    records_loaded: int = 0
    records_filtered: int = 0
    filtered_by_account: dict[str, int] = field(default_factory=dict)
    records_without_inventory: int = 0
    records_external_peer: int = 0
    records_nodata: int = 0
    records_skipdata: int = 0
    first_start: datetime | None = None
    last_end: datetime | None = None
    bytes_written: int = 0
    seconds: float = 0.0


class _Stats:
    def __init__(self) -> None:
        self.min_start: int | None = None
        self.max_end: int | None = None
        self.nodata = 0
        self.skipdata = 0

    def update(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        names = batch.schema.names
        if "start" in names:
            low = pc.min(batch.column("start").view(pa.int64())).as_py()
            if low is not None:
                self.min_start = low if self.min_start is None else min(self.min_start, low)
        if "end" in names:
            high = pc.max(batch.column("end").view(pa.int64())).as_py()
            if high is not None:
                self.max_end = high if self.max_end is None else max(self.max_end, high)
        if "log_status" in names:
            status = batch.column("log_status")
            if pa.types.is_dictionary(status.type):
                counts = pc.value_counts(status.indices)
                values = status.dictionary.to_pylist()
                for item in counts.to_pylist():
                    if item["values"] is None:
                        continue
                    self._count(values[item["values"]], item["counts"])
            else:
                for item in pc.value_counts(status).to_pylist():
                    self._count(item["values"], item["counts"])

    def _count(self, value: str | None, count: int) -> None:
        if value == "NODATA":
            self.nodata += count
        elif value == "SKIPDATA":
            self.skipdata += count


def _ts(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


_DONE = object()


def run_pipeline(
    batches: Iterable[pa.RecordBatch],
    transform: Callable[[pa.RecordBatch], pa.RecordBatch] | None,
    writer: AtomicParquetWriter,
) -> int:
    """Stream batches through `transform` into the writer, one thread per stage.

    The caller's thread pulls batches (for gzip text: parsing, while the parser's own thread
    decompresses), a second thread transforms them (enrichment), a third Parquet-encodes them;
    short queues between the stages keep memory flat and every stage busy. Commits the writer
    when everything went through and returns the file's size; on any error aborts it (nothing
    is written) and re-raises the first error.
    """
    stages = [transform, writer.write_batch] if transform is not None else [writer.write_batch]
    depth = _QUEUE_DEPTH if ENCODING == "v0" else _GROUP_QUEUE_DEPTH
    queues: list[queue.Queue] = [queue.Queue(maxsize=depth) for _ in stages]
    failure: list[BaseException] = []
    stop = threading.Event()

    def run_stage(index: int) -> None:
        inbox = queues[index]
        outbox = queues[index + 1] if index + 1 < len(stages) else None
        fn = stages[index]
        try:
            while (item := inbox.get()) is not _DONE:
                if stop.is_set():
                    continue  # keep draining so no one blocks on a full queue
                result = fn(item)
                if outbox is not None:
                    outbox.put(result)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the caller's thread
            failure.append(exc)
            stop.set()
            while inbox.get() is not _DONE:
                pass
        finally:
            if outbox is not None:
                outbox.put(_DONE)

    threads = [
        threading.Thread(target=run_stage, args=(i,), name=f"flowlog-stage-{i}", daemon=True)
        for i in range(len(stages))
    ]
    for thread in threads:
        thread.start()
    try:
        for batch in batches:
            if stop.is_set():
                break
            queues[0].put(batch)
    except BaseException:
        stop.set()
        raise
    finally:
        queues[0].put(_DONE)
        for thread in threads:
            thread.join()
        if failure or stop.is_set():
            writer.abort()
    if failure:
        raise failure[0]
    return writer.commit()


def process_object(
    stream: Source | FlowLogReader,
    out_path: str,
    eni_table,
    monitored_accounts: Iterable[str],
    *,
    name: str | None = None,
    filesystem: pafs.FileSystem | None = None,
    block_size: int | None = None,
    on_batch: Callable[[pa.RecordBatch], None] | None = None,
) -> ProcessResult:
    """Parse, check, enrich and write one flow-log object: one Parquet file at `out_path`.

    `stream`: a path, bytes, an Arrow file or a binary file object (see parse.open_flow_log),
    or an already opened FlowLogReader. `eni_table`: the ENI inventory (a pyarrow Table, see
    enrich.INVENTORY_COLUMNS) or a prepared `enrich.EniIndex` (build one per inventory and reuse
    it across objects; `monitored_accounts` is then taken from it). `name` (e.g.
    s3://bucket/key) appears in errors. `on_batch` sees every enriched batch (in the enrichment
    thread), e.g. to check the records as they are written. Raises FlowLogFormatError / FlowLogCorruptError before
    anything is written, and then leaves any previous output at `out_path` as it was.
    """
    from .enrich import ENRICHED_SCHEMA, EniIndex, enrich_batch

    started = time.perf_counter()
    reader = _reader(stream, name, block_size)
    index = (
        eni_table if isinstance(eni_table, EniIndex) else EniIndex(eni_table, monitored_accounts)
    )
    result = _result(reader, out_path)
    stats = _Stats()

    source = pa.array([name or (stream if isinstance(stream, str) else "")], pa.string())

    def enrich(batch: pa.RecordBatch) -> pa.RecordBatch:
        enriched = enrich_batch(batch, index, sort_by=() if ENCODING == "v0" else SORT_COLUMNS)
        enriched.batch = _with_source(enriched.batch, source)
        result.records_filtered += enriched.records_filtered
        for account, count in enriched.filtered_by_account.items():
            result.filtered_by_account[account] = result.filtered_by_account.get(account, 0) + count
        result.records_without_inventory += enriched.records_without_inventory
        result.records_external_peer += enriched.records_external_peer
        stats.update(enriched.batch)
        if on_batch is not None:
            on_batch(enriched.batch)
        return enriched.batch

    schema = pa.schema(list(reader.schema) + list(ENRICHED_SCHEMA) + [SOURCE_FIELD])
    # Enrichment sorts (with its filter, in one gather): the parse stage only regroups.
    return _run(reader, enrich, schema, result, stats, filesystem, started, regroup)


# The object (s3://bucket/key) each record came from: a reprocessed object replaces exactly its
# rows, also in a compacted file that holds many objects' rows (flowlogs/table.py).
SOURCE_FIELD = pa.field("source_object", pa.dictionary(pa.int32(), pa.string()))


def _with_source(batch: pa.RecordBatch, source: pa.Array) -> pa.RecordBatch:
    indices = pa.array(np.zeros(batch.num_rows, np.int32))
    return batch.append_column(SOURCE_FIELD, pa.DictionaryArray.from_arrays(indices, source))


def write_parsed(
    stream: Source | FlowLogReader,
    out_path: str,
    *,
    name: str | None = None,
    filesystem: pafs.FileSystem | None = None,
    block_size: int | None = None,
) -> ProcessResult:
    """Parse one flow-log file (mandatory fields checked) and write its typed table, without
    enrichment, as Parquet at `out_path` (the CLI's `flowlogs parse`)."""
    started = time.perf_counter()
    reader = _reader(stream, name, block_size)
    result = _result(reader, out_path)
    stats = _Stats()

    def count(batch: pa.RecordBatch) -> pa.RecordBatch:
        stats.update(batch)
        return batch

    return _run(reader, count, reader.schema, result, stats, filesystem, started)


def _reader(stream: Source | FlowLogReader, name: str | None, block_size: int | None):
    if isinstance(stream, FlowLogReader):
        return stream
    if block_size is None:
        return open_flow_log(stream, name=name)
    return open_flow_log(stream, name=name, block_size=block_size)


def _result(reader: FlowLogReader, out_path: str) -> ProcessResult:
    return ProcessResult(
        source=reader.name, out_path=out_path, kind=reader.kind, fields=list(reader.fields)
    )


def _run(
    reader, transform, schema, result, stats, filesystem, started, grouping=None
) -> ProcessResult:
    with reader:
        writer = AtomicParquetWriter(result.out_path, schema, filesystem=filesystem)
        batches = reader if ENCODING == "v0" else (grouping or sorted_row_groups)(reader)
        result.bytes_written = run_pipeline(batches, transform, writer)
    result.records_read = reader.records_read
    result.records_loaded = writer.rows
    result.records_nodata, result.records_skipdata = stats.nodata, stats.skipdata
    result.first_start, result.last_end = _ts(stats.min_start), _ts(stats.max_end)
    result.seconds = time.perf_counter() - started
    return result


def read_output(path: str, filesystem: pafs.FileSystem | None = None) -> pa.Table:
    """Read one output file back (helper for tests and tools)."""
    fs, inner = resolve_filesystem(path, filesystem)
    return pq.read_table(inner, filesystem=fs)
