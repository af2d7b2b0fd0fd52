"""The per-window views at full resolution, in the columnar table family next to the enriched
records: Hive-partitioned Parquet that engines prune by day, account group and location,

    <base>/views/<view>/day=D/account_group_id=G/location_key=L/part-HH.parquet

one file per hour of record time (HH, UTC) with the rows of its twelve windows, sorted by
window. A refresh rewrites the hours its windows fall in: the file's rows of other windows are
kept, those of the refreshed windows replaced, and the new file moved into place atomically, so
a file always holds whole windows and each window's rows once. Views: ``entity_throughput``
(THROUGHPUT_SCHEMA), ``rejected_traffic`` (REJECTED_SCHEMA), ``reject_reasons``
(REASONS_SCHEMA).
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from cloudinsights_dagster.flowlogs.writer import AtomicParquetWriter, resolve_filesystem

from .reasons import REASONS_SCHEMA
from .rejected import REJECTED_SCHEMA
from .throughput import THROUGHPUT_SCHEMA

VIEW_SCHEMAS: dict[str, pa.Schema] = {
    "entity_throughput": THROUGHPUT_SCHEMA,
    "rejected_traffic": REJECTED_SCHEMA,
    "reject_reasons": REASONS_SCHEMA,
}


@dataclass
class ColumnarWrite:
    files: int = 0
    rows: int = 0  # rows of the refreshed windows written
    bytes: int = 0  # size of the files written (whole hours)


def hour_path(base: str, view: str, group_id: int, location_key: str, hour: datetime) -> str:
    """The file holding `view`'s rows of the hour starting at `hour` (UTC)."""
    if view not in VIEW_SCHEMAS:
        raise ValueError(f"unknown view {view!r}: expected one of {sorted(VIEW_SCHEMAS)}")
    return posixpath.join(
        base.rstrip("/"),
        "views",
        view,
        f"day={hour:%Y-%m-%d}",
        f"account_group_id={group_id}",
        f"location_key={location_key}",
        f"part-{hour:%H}.parquet",
    )


def _hours(windows: Iterable[datetime]) -> dict[datetime, set[int]]:
    """Hour start -> epoch seconds of the windows in it."""
    hours: dict[datetime, set[int]] = defaultdict(set)
    for w in windows:
        w = w.astimezone(UTC)
        hours[w.replace(minute=0, second=0, microsecond=0)].add(int(w.timestamp()))
    return hours


def _read(path: str, schema: pa.Schema) -> pa.Table | None:
    fs, inner = resolve_filesystem(path)
    if fs.get_file_info(inner).type == pafs.FileType.NotFound:
        return None
    return pq.ParquetFile(inner, filesystem=fs).read().cast(schema)


def _seconds(table: pa.Table) -> pa.ChunkedArray:
    return table["window_start"].cast(pa.int64())


def write_windows(
    base: str,
    view: str,
    group_id: int,
    location_key: str,
    rows: pa.Table,
    windows: Iterable[datetime],
) -> ColumnarWrite:
    """Replace the rows of `windows` in `view`'s files by `rows` (the view's rows of exactly
    those windows)."""
    schema = VIEW_SCHEMAS[view]
    rows = rows.select(schema.names).cast(schema)
    report = ColumnarWrite()
    for hour, seconds in sorted(_hours(windows).items()):
        path = hour_path(base, view, group_id, location_key, hour)
        wanted = pa.array(sorted(seconds), pa.int64())
        low, high = int(hour.timestamp()), int(hour.timestamp()) + 3600
        mine = rows.filter(
            pc.and_(pc.greater_equal(_seconds(rows), low), pc.less(_seconds(rows), high))
        )
        parts = [mine]
        existing = _read(path, schema)
        if existing is not None:
            parts.append(existing.filter(pc.invert(pc.is_in(_seconds(existing), wanted))))
        table = pa.concat_tables(parts)
        table = table.take(pc.sort_indices(_seconds(table)))  # stable: keeps each window's order
        if table.num_rows == 0:
            fs, inner = resolve_filesystem(path)
            if existing is not None:
                fs.delete_file(inner)
            continue
        writer = AtomicParquetWriter(path, schema)
        try:
            for batch in table.to_batches():
                writer.write_batch(batch)
        except BaseException:
            writer.abort()
            raise
        report.bytes += writer.commit()
        report.files += 1
        report.rows += mine.num_rows
    return report


def read_windows(
    base: str, view: str, group_id: int, location_key: str, windows: Iterable[datetime]
) -> pa.Table:
    """`view`'s rows of `windows` (empty when none were written)."""
    schema = VIEW_SCHEMAS[view]
    parts = []
    for hour, seconds in sorted(_hours(windows).items()):
        table = _read(hour_path(base, view, group_id, location_key, hour), schema)
        if table is not None:
            wanted = pa.array(sorted(seconds), pa.int64())
            parts.append(table.filter(pc.is_in(_seconds(table), wanted)))
    return pa.concat_tables(parts) if parts else schema.empty_table()


def read_view(base: str, view: str) -> pa.Table:
    """Every row of `view` with its partition columns (day, account_group_id, location_key)."""
    import pyarrow.dataset as pads

    fs, inner = resolve_filesystem(posixpath.join(base.rstrip("/"), "views", view))
    dataset = pads.dataset(inner, filesystem=fs, format="parquet", partitioning="hive")
    return dataset.to_table()
