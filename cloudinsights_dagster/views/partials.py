"""Per-object partial aggregates of the views, built while the flow-log pipeline writes the
object's records, so that refreshing the views merges a few small tables per object instead of
re-reading its records.

The views are sums, so the aggregate of a set of objects is the merge of their partials:

* ``throughput``: aggregate_throughput of the object's records (entity x window x direction x
  action, with flows, bytes and packets);
* ``rejected`` and ``security_groups_seen``: rejected_partial of the records (rejected rows by
  the view's keys, and the security groups each ENI's records carried per window, which fill in
  the destination groups of egress rejects across objects);
* ``reject_groups``: the rejected flows grouped by what their reason depends on (ENI,
  direction, protocol, port, peer, response port, window), with their first and last start.

One file per object of SMALL_OBJECT_RECORDS or more (smaller ones cost more to summarize than
to read again; a refresh reads their records together). Arrow IPC: one row whose columns are
the parts as IPC streams, at a path
keyed by the object (integration, bucket, key) under ``<base>/views/_partials/``: reprocessing an
object replaces its partial, so each object counts once. The file names the output and the
record count it was built with; a refresh uses it only when both match the ledger, and reads the
records otherwise (outputs written before partials existed, a partial that failed to write).
"""

from __future__ import annotations

import contextlib
import posixpath
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from cloudinsights_dagster.flowlogs.writer import output_path, resolve_filesystem

from .reasons import REJECT_GROUPS_SCHEMA, merge_reject_groups, reject_groups
from .rejected import (
    SECURITY_GROUPS_SEEN_SCHEMA,
    merge_rejected_grouped,
    merge_security_groups_seen,
    rejected_grouped,
    rejected_records,
    security_groups_seen,
)
from .throughput import THROUGHPUT_SCHEMA, aggregate_throughput, merge_throughput
from .vectorized import floor_window, seconds_array

PARTIALS_FOLDER = "views/_partials"
FORMAT = "cloudinsights-views-partial/1"
_PARTS = ("windows", "throughput", "rejected", "security_groups_seen", "reject_groups")
# The pipeline writes no partial for an object with fewer records (PartialBuilder's
# skip_below): a refresh reads such objects' records, all of a span's at once (sources.py).
# Measured (2-core box): a partial costs 16-25 ms to build and write, then ~1.5 ms per refresh
# that reads it; reading a small object's records costs a refresh 5.5 ms (10 records) to 8 ms
# (2,000): the partial pays off only for objects read by more than ~3 refreshes.
SMALL_OBJECT_RECORDS = 2_000
WINDOWS_SCHEMA = pa.schema([pa.field("window_start", pa.int64(), nullable=False)])


def partial_path(base: str, integration_id: int, bucket: str, key: str) -> str:
    """Where the partial of s3://bucket/key as loaded by an integration lives under `base`."""
    path = output_path(
        f"{base.rstrip('/')}/{PARTIALS_FOLDER}/integration={integration_id}", bucket, key
    )
    return path.removesuffix(".parquet") + ".arrow"


@dataclass
class Partial:
    """The partial aggregates of one object (or of any set of records); `windows`: the
    windows (epoch seconds) its records fall in, i.e. the windows it touches."""

    windows: pa.Table
    throughput: pa.Table
    rejected: pa.Table
    security_groups_seen: pa.Table
    reject_groups: pa.Table
    output_path: str | None = None
    records: int = 0


class PartialBuilder:
    """Feeds on enriched batches (the pipeline's `on_batch`), builds the object's Partial.
    `cpu_seconds`: the thread CPU time spent in it (what the views cost the pipeline).

    `skip_below`: an object with fewer records gets no partial (why: SMALL_OBJECT_RECORDS);
    until the object reaches it, batches are only held."""

    def __init__(self, skip_below: int = 0) -> None:
        self.skip_below = skip_below
        self._held: list[pa.Table] = []
        self._windows: set[int] = set()
        self._throughput: list[pa.Table] = []
        self._rejected: list[pa.Table] = []
        self._seen: list[pa.Table] = []
        self._groups: list[pa.Table] = []
        self.records = 0
        self.cpu_seconds = 0.0

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        started = time.thread_time()
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        self.records += table.num_rows
        if self.records < self.skip_below:
            self._held.append(table)
        else:
            self._aggregate_held()
            self._aggregate(table)
        self.cpu_seconds += time.thread_time() - started

    @property
    def skipped(self) -> bool:
        """Whether the object is too small for a partial (see `skip_below`)."""
        return self.records < self.skip_below

    def _aggregate_held(self) -> None:
        held, self._held = self._held, []
        for table in held:
            self._aggregate(table)

    def _aggregate(self, table: pa.Table) -> None:
        if table.num_rows:
            seconds, valid = seconds_array(table["start"])
            self._windows.update(np.unique(floor_window(seconds[valid])).tolist())
        self._throughput.append(aggregate_throughput(table))
        self._seen.append(security_groups_seen(table))
        rejected = rejected_records(table)  # a few percent of the records: filtered once
        if rejected.num_rows:
            self._rejected.append(rejected_grouped(rejected))
            self._groups.append(reject_groups(rejected))

    def build(self, output: str | None = None) -> Partial:
        started = time.thread_time()
        self._aggregate_held()
        one = len(self._throughput) == 1  # one batch: its parts are final
        partial = Partial(
            windows=pa.table({"window_start": sorted(self._windows)}, schema=WINDOWS_SCHEMA),
            throughput=self._throughput[0] if one else merge_throughput(self._throughput),
            rejected=merge_rejected_grouped(self._rejected),
            security_groups_seen=self._seen[0] if one else merge_security_groups_seen(self._seen),
            reject_groups=merge_reject_groups(self._groups),
            output_path=output,
            records=self.records,
        )
        self.cpu_seconds += time.thread_time() - started
        return partial

    def write_or_remove(self, path: str, output: str) -> bool:
        """Build and write the partial of the object whose records went to `output`. When that
        fails, or the object is too small for one (`skipped`), any older partial at `path` is
        removed and False returned: the views then read the object's records, which gives the
        same figures."""
        started = time.thread_time()
        try:
            if self.skipped:
                _remove(path)
                return False
            write_partial(path, self.build(output))
            return True
        except Exception:  # noqa: BLE001 - the records remain the source of truth
            _remove(path)
            return False
        finally:
            self.cpu_seconds += time.thread_time() - started


def _remove(path: str) -> None:
    with contextlib.suppress(Exception):  # none there is the usual case
        fs, inner = resolve_filesystem(path)
        fs.delete_file(inner)


def partial_of(records: pa.Table, output: str | None = None) -> Partial:
    """The Partial of a table of enriched records (a refresh's fallback for old outputs)."""
    builder = PartialBuilder()
    if records.num_rows:
        builder.add(records)
    return builder.build(output)


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="lz4")  # 2.4x smaller; zstd: 4x, at 3x the CPU
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_ipc(data: pa.Buffer) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


def write_partial(path: str, partial: Partial) -> None:
    """Write `partial` at `path` (local or s3://), atomically: a temporary file moved into place."""
    table = pa.table(
        {name: pa.array([_ipc(getattr(partial, name))], pa.binary()) for name in _PARTS}
    ).replace_schema_metadata(
        {
            "format": FORMAT,
            "output_path": partial.output_path or "",
            "records": str(partial.records),
        }
    )
    fs, inner = resolve_filesystem(path)
    directory = posixpath.dirname(inner)
    if directory and not isinstance(fs, pafs.S3FileSystem):
        fs.create_dir(directory, recursive=True)
    tmp = posixpath.join(directory, f".{posixpath.basename(inner)}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with fs.open_output_stream(tmp) as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        fs.move(tmp, inner)
    except BaseException:
        with contextlib.suppress(Exception):
            fs.delete_file(tmp)
        raise


def read_partial(path: str) -> Partial | None:
    """The partial at `path`, or None when there is none (or it is not one)."""
    fs, inner = resolve_filesystem(path)
    try:
        with fs.open_input_file(inner) as source:
            table = pa.ipc.open_file(source).read_all()
    except (FileNotFoundError, pa.ArrowInvalid):
        return None
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    if meta.get("format") != FORMAT or set(_PARTS) - set(table.column_names):
        return None
    parts = {name: _from_ipc(table[name][0].as_buffer()) for name in _PARTS}
    return Partial(
        windows=parts["windows"].cast(WINDOWS_SCHEMA),
        throughput=parts["throughput"].cast(THROUGHPUT_SCHEMA),
        rejected=parts["rejected"],
        security_groups_seen=parts["security_groups_seen"].cast(SECURITY_GROUPS_SEEN_SCHEMA),
        reject_groups=parts["reject_groups"].cast(REJECT_GROUPS_SCHEMA),
        output_path=meta.get("output_path") or None,
        records=int(meta.get("records") or 0),
    )


def windows_of_partial(partial: Partial) -> set[datetime]:
    """The windows an object's records fall in, as aware UTC datetimes."""
    return {datetime.fromtimestamp(w, UTC) for w in partial.windows["window_start"].to_pylist()}
