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

Paths, filesystems and the atomic writer are in `output`; the encoding is in `encoding`. No
Dagster here; the assets call these functions.
"""

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from cloudinsights_dagster.arrow_memory import use_pipeline_memory_pool

from . import encoding
from .encoding import SORT_COLUMNS, sort_order, sorted_row_groups
from .output import AtomicParquetWriter, output_path, read_output, resolve_filesystem, s3_filesystem
from .parse import FlowLogReader, Source, open_flow_log

__all__ = [
    "SORT_COLUMNS",
    "AtomicParquetWriter",
    "ProcessResult",
    "output_path",
    "process_object",
    "read_output",
    "resolve_filesystem",
    "run_pipeline",
    "s3_filesystem",
    "sort_order",
    "sorted_row_groups",
    "write_parsed",
]

_QUEUE_DEPTH = 3  # items between stages: ~8 MB parse batches (v0)
# Sorted row groups are ~8x larger: one waiting per stage keeps every stage busy and the peak
# memory near the v0 pipeline's.
_GROUP_QUEUE_DEPTH = 1


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
    depth = _QUEUE_DEPTH if encoding.ENCODING == "v0" else _GROUP_QUEUE_DEPTH
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
        enriched = enrich_batch(
            batch, index, sort_by=() if encoding.ENCODING == "v0" else SORT_COLUMNS
        )
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
    return _run(reader, enrich, schema, result, stats, filesystem, started, encoding.regroup)


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
    use_pipeline_memory_pool()  # before the first buffers: see arrow_memory
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
        batches = reader if encoding.ENCODING == "v0" else (grouping or sorted_row_groups)(reader)
        result.bytes_written = run_pipeline(batches, transform, writer)
    result.records_read = reader.records_read
    result.records_loaded = writer.rows
    result.records_nodata, result.records_skipdata = stats.nodata, stats.skipdata
    result.first_start, result.last_end = _ts(stats.min_start), _ts(stats.max_end)
    result.seconds = time.perf_counter() - started
    return result
