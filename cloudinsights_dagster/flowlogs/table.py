"""The enriched flow records as one table that SQL engines query: Hive-style partitions, one file
per S3 object while a day is open, a few large files per location once it is compacted.

Layout (under the flow-logs output base, local or s3://)::

    flow_records/day=YYYY-MM-DD/location=<account>-<region>/<integration>-<object>-<hash>.parquet
    flow_records/day=YYYY-MM-DD/location=<account>-<region>/compacted-<integration>-<hash>.parquet

`day` is the delivery day of the source object (the date in its S3 key, the ledger's day):
a file of day D also holds late records of D-1, so a query over the records of day D filters
`day IN (D, D+1) AND start in [D, D+1)` and still prunes every other partition. Engines read the
partitions from the paths (DuckDB `hive_partitioning`, Athena/Trino/Spark partition projection
or discovery); the files do not repeat them. Each row carries `source_object`
(`s3://bucket/key`), the object it came from.

Exactly once, before and after compaction. The ledger (`flowlog_objects.output_path`) says which
file holds each loaded object's rows:

* Processing writes the object's own file at its deterministic path (a reprocessed object
  replaces exactly that file).
* `compact_partition` merges a closed location-day's files into one sorted file, repoints every
  member object's ledger row to it in one transaction (compare-and-set on each row's previous
  path, so a concurrent reprocess aborts the compaction instead of being lost), then deletes
  the merged files. Re-running it is a no-op; a crash before the commit leaves an unreferenced
  compacted file that the next run overwrites (same name) or deletes.
* `object_output` (called when an object is about to be reprocessed) rewrites the compacted file
  that holds the object's rows without them, under a lock on the ledger rows of that file, and
  clears the object's `output_path`: its new own file then replaces them.

Limits, stated: a reprocess that then fails leaves the object without rows (its ledger row says
failed), where an uncompacted object keeps its previous file. Compaction deletes the merged
files right after its commit; an object claimed for reprocessing in that instant writes its new
file at the same path, which the deletion can race (closed days only make that rare). On SQLite
the lock is the database's write lock, held while a compacted file is rewritten.

Readers that list the folders see the swap in two steps (the compacted file appears, then the
merged files go): a query racing a compaction can count a location-day twice for that moment.
The README ("Flow-record table") says why this is plain Hive Parquet rather than Iceberg/Delta.

Dagster-free; `assets/compaction.py` schedules compaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TypeGuard, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudinsights_dagster.arrow_memory import use_pipeline_memory_pool
from cloudinsights_dagster.flowlogs import encoding, output, writer
from cloudinsights_dagster.flowlogs.ledger import Claimed
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import session_scope

TABLE_NAME = "flow_records"
COMPACTED_PREFIX = "compacted-"
# Rows per row group in compacted files: larger groups make fewer dictionary pages and longer
# runs; engines still split a file by row group.
COMPACTED_ROW_GROUP_ROWS = 1_048_576
_SUFFIXES = (".log.gz", ".log.parquet", ".gz", ".parquet")


def table_root(base: str) -> str:
    """The table's root folder under the flow-logs output base."""
    return posixpath.join(base.rstrip("/") or "/", TABLE_NAME)


def partition_dir(base: str, day: str, location_key: str) -> str:
    return posixpath.join(
        table_root(base), f"day={day}", f"location={output.safe_segment(location_key)}"
    )


def object_file(
    base: str, day: str, location_key: str, integration_id: int, bucket: str, key: str
) -> str:
    """Deterministic path of one object's own file: reprocessing replaces exactly it."""
    name = key.rsplit("/", 1)[-1]
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    digest = hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:12]
    stem = output.safe_segment(name or "object")[:120]
    return posixpath.join(
        partition_dir(base, day, location_key), f"{integration_id}-{stem}-{digest}.parquet"
    )


def source_object(bucket: str, key: str) -> str:
    """The value of the `source_object` column for s3://bucket/key."""
    return f"s3://{bucket}/{key}"


def is_compacted(path: str | None) -> TypeGuard[str]:
    return path is not None and posixpath.basename(path).startswith(COMPACTED_PREFIX)


# ---------------------------------------------------------------------------------------------
# Reprocessing


def object_output(session: Session | None, base: str, claimed: Claimed) -> str:
    """Where a claimed object's records go, after taking its previous rows out of a compacted
    file if the ledger says they are in one (see the module docstring). The caller commits
    before writing the object's new file: the rewritten file's lock lasts until then. No
    session is needed (None) when the claim's output is not a compacted file."""
    path = object_file(
        base,
        claimed.day,
        claimed.location_key,
        claimed.integration_id,
        claimed.bucket,
        claimed.key,
    )
    if not is_compacted(claimed.output_path):
        return path  # the usual case: no query
    if session is None:
        raise ValueError(f"{claimed.output_path} is a compacted file: a session is needed")
    row = session.get(s.FlowLogObject, claimed.id)
    current = None if row is None else row.output_path
    if row is None or not is_compacted(current) or current == path:
        return path
    _lock_file_rows(session, current)
    _rewrite_without(current, {source_object(claimed.bucket, claimed.key)})
    row.output_path = None
    return path


def _lock_file_rows(session: Session, path: str) -> None:
    """Serialize rewriters of one shared file: a no-op update takes the ledger rows' locks
    (row locks on PostgreSQL, the database write lock on SQLite) until the transaction ends."""
    session.execute(
        sa.update(s.FlowLogObject)
        .where(s.FlowLogObject.output_path == path)
        .values(output_path=s.FlowLogObject.output_path)
    )


def _rewrite_without(path: str, sources: set[str]) -> int:
    """Rewrite a file without the rows of `sources` (atomically); deletes it when no row is
    left. Returns the rows removed."""
    fs, inner = writer.resolve_filesystem(path)
    if fs.get_file_info(inner).type == pafs.FileType.NotFound:
        return 0
    table = pq.read_table(inner, filesystem=fs)
    drop = pc.is_in(table["source_object"].cast(pa.string()), pa.array(sorted(sources)))
    removed = int(pc.sum(drop).as_py() or 0)
    if removed == 0:
        return 0
    kept = table.filter(pc.invert(drop))
    if kept.num_rows == 0:
        fs.delete_file(inner)
        return removed
    _write(path, kept)
    return removed


def _write(path: str, table: pa.Table) -> int:
    out = writer.AtomicParquetWriter(path, table.schema, profile="compacted")
    try:
        for batch in table.to_batches(max_chunksize=COMPACTED_ROW_GROUP_ROWS):
            out.write_batch(batch)
    except BaseException:
        out.abort()
        raise
    return out.commit()


# ---------------------------------------------------------------------------------------------
# Compaction


@dataclass
class CompactionReport:
    day: str
    location_key: str
    integration_id: int
    objects: int = 0
    files_merged: int = 0
    rows: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    output: str | None = None
    skipped: str | None = None  # why nothing was done
    deleted: list[str] = field(default_factory=list)


class CompactionConflict(RuntimeError):
    """An object of the partition changed (reprocessed) while it was being compacted."""


def partitions_to_compact(session: Session, day: str) -> list[tuple[str, int]]:
    """(location, integration) pairs with loaded objects on `day`."""
    rows = session.execute(
        sa.select(s.FlowLogObject.location_key, s.FlowLogObject.integration_id)
        .where(
            s.FlowLogObject.day == day,
            s.FlowLogObject.status == "loaded",
            s.FlowLogObject.output_path.is_not(None),
        )
        .distinct()
        .order_by(s.FlowLogObject.location_key, s.FlowLogObject.integration_id)
    ).all()
    return [(r[0], r[1]) for r in rows]


def compact_day(database_url: str, base: str, day: str) -> list[CompactionReport]:
    """Compact every location-day partition of `day` (see compact_partition), each in
    transactions of its own."""
    # Its own transactions: each partition commits before its merged files are deleted.
    with session_scope(database_url) as session:
        found = partitions_to_compact(session, day)
    return [
        compact_partition(database_url, base, day, location, integration)
        for location, integration in found
    ]


def compact_partition(
    database_url: str, base: str, day: str, location_key: str, integration_id: int
) -> CompactionReport:
    """Merge one integration's files of a location-day into one sorted file, atomically for the
    ledger and idempotently (see the module docstring).

    Opens its own transactions: the merged files may only be deleted once the ledger's move to
    the compacted file is committed."""
    use_pipeline_memory_pool()
    report = CompactionReport(day, location_key, integration_id)
    with session_scope(database_url) as session:
        members = session.execute(
            sa.select(
                s.FlowLogObject.id,
                s.FlowLogObject.bucket,
                s.FlowLogObject.object_key,
                s.FlowLogObject.output_path,
            )
            .where(
                s.FlowLogObject.day == day,
                s.FlowLogObject.location_key == location_key,
                s.FlowLogObject.integration_id == integration_id,
                s.FlowLogObject.status == "loaded",
                s.FlowLogObject.output_path.is_not(None),
            )
            .order_by(s.FlowLogObject.id)
        ).all()
        report.objects = len(members)
        paths = sorted({m.output_path for m in members})
        if not members or (len(paths) == 1 and is_compacted(paths[0])):
            report.skipped = "nothing to compact" if not members else "already compacted"
            report.output = paths[0] if paths else None
        if report.skipped:
            report.deleted = _delete_orphans(session, base, day, location_key, integration_id)
            return report
        digest = hashlib.sha256(
            "\n".join(f"{m.id} {m.output_path}" for m in members).encode()
        ).hexdigest()[:16]
        target = posixpath.join(
            partition_dir(base, day, location_key),
            f"{COMPACTED_PREFIX}{integration_id}-{digest}.parquet",
        )
        # Compare-and-set every member's row first: it takes their locks for the rest of the
        # transaction, and a row that moved on (reprocessed, re-claimed) aborts everything.
        for m in members:
            updated = session.execute(
                sa.update(s.FlowLogObject)
                .where(
                    s.FlowLogObject.id == m.id,
                    s.FlowLogObject.output_path == m.output_path,
                    s.FlowLogObject.status == "loaded",
                )
                .values(output_path=target)
            )
            if cast(sa.CursorResult, updated).rowcount != 1:
                raise CompactionConflict(
                    f"s3://{m.bucket}/{m.object_key} changed during the compaction of "
                    f"{location_key} {day}; nothing was changed, run it again"
                )
        by_path: dict[str, set[str]] = defaultdict(set)
        for m in members:
            by_path[m.output_path].add(source_object(m.bucket, m.object_key))
        table, report.bytes_before = _read_members(by_path)
        report.files_merged = len(by_path)
        report.rows = table.num_rows
        report.bytes_after = _write(target, table)
        report.output = target
    # Committed: the ledger points at the compacted file. The merged files go now (a crash
    # here leaves them unreferenced: the next run deletes them as orphans).
    for path in by_path:
        if path != target:
            _delete(path)
            report.deleted.append(path)
    with session_scope(database_url) as session:  # after the commit: the ledger's new paths
        report.deleted += _delete_orphans(session, base, day, location_key, integration_id)
    return report


def _read_members(by_path: dict[str, set[str]]) -> tuple[pa.Table, int]:
    """Every member's rows, sorted like the files (encoding.SORT_COLUMNS): only the rows of the
    objects the ledger says each file holds (a compacted file's other rows are stale)."""
    tables, size = [], 0
    for path, sources in sorted(by_path.items()):
        fs, inner = writer.resolve_filesystem(path)
        info = fs.get_file_info(inner)
        if info.type == pafs.FileType.NotFound:
            continue  # an empty object writes an empty file; a lost one has nothing to keep
        size += int(info.size or 0)
        table = pq.read_table(inner, filesystem=fs)
        if "source_object" not in table.column_names:  # a file from before the column
            (only,) = sources
            table = table.append_column(
                writer.SOURCE_FIELD,
                pa.DictionaryArray.from_arrays(
                    pa.array([0] * table.num_rows, pa.int32()), pa.array([only])
                ),
            )
        elif len(sources) > 1 or is_compacted(path):
            keep = pc.is_in(table["source_object"].cast(pa.string()), pa.array(sorted(sources)))
            table = table.filter(keep)
        tables.append(table)
    if not tables:
        raise CompactionConflict("no file of the partition exists any more")
    merged = pa.concat_tables(tables, promote_options="permissive")
    if not merged.num_rows:
        return merged.combine_chunks(), size
    # Sorted straight from the files' chunks (one gather; dictionaries unified first).
    ordered = encoding.sorted_group(merged.unify_dictionaries())
    return pa.Table.from_batches([ordered]), size


def _delete(path: str) -> None:
    fs, inner = writer.resolve_filesystem(path)
    with contextlib.suppress(FileNotFoundError, OSError):
        fs.delete_file(inner)


def _delete_orphans(
    session: Session, base: str, day: str, location_key: str, integration_id: int
) -> list[str]:
    """Compacted files of the partition that no ledger row points at (left by a crash between
    writing and committing, or emptied by reprocessing). Objects' own files are never touched
    here: an object being processed for the first time has no ledger path yet."""
    folder = partition_dir(base, day, location_key)
    fs, inner = writer.resolve_filesystem(folder)
    prefix = f"{COMPACTED_PREFIX}{integration_id}-"
    candidates = [
        f.path
        for f in fs.get_file_info(pafs.FileSelector(inner, allow_not_found=True))
        if f.type == pafs.FileType.File
        and posixpath.basename(f.path).startswith(prefix)
        and f.path.endswith(".parquet")
    ]
    if not candidates:
        return []
    paths = session.scalars(
        sa.select(s.FlowLogObject.output_path).where(
            s.FlowLogObject.day == day,
            s.FlowLogObject.location_key == location_key,
            s.FlowLogObject.integration_id == integration_id,
            s.FlowLogObject.output_path.is_not(None),
        )
    ).all()
    referenced = {
        p[len("s3://") :] if p.startswith("s3://") else os.path.abspath(p) for p in paths if p
    }
    outer = {
        c: (f"s3://{c}" if folder.startswith("s3://") else c)
        for c in candidates
        if c not in referenced
    }
    for path in outer.values():
        _delete(path)
    return sorted(outer.values())
