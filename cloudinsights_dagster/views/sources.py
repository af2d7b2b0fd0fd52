"""What a views refresh reads: the ledger's loaded objects of a location and span, their
records (each file once: a compacted file holds many objects) and their partial aggregates
(views/partials.py), one per object, built from the records where no valid partial exists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudinsights_dagster.flowlogs.table import is_compacted, source_object
from cloudinsights_dagster.views.partials import (
    SMALL_OBJECT_RECORDS,
    Partial,
    partial_of,
    partial_path,
    read_partial,
)
from cloudinsights_dagster.warehouse import schema as s

# The enriched columns the views read (throughput, rejected, reasons): reading only these
# halves what a refresh decodes.
VIEW_COLUMNS = (
    "account_id",
    "action",
    "bytes",
    "dstaddr",
    "dstport",
    "end",
    "eni_instance_id",
    "eni_owner_account_id",
    "eni_security_group_ids",
    "eni_subnet_id",
    "eni_vpc_id",
    "flow_direction",
    "instance_id",
    "interface_id",
    "log_status",
    "packets",
    "peer_instance_id",
    "peer_interface_id",
    "peer_is_external",
    "protocol",
    "srcaddr",
    "srcport",
    "start",
    "subnet_id",
    "tcp_flags",
    "traffic_path",
    "vpc_id",
)


@dataclass(frozen=True)
class LoadedObject:
    """A loaded object as the ledger knows it."""

    output_path: str
    integration_id: int
    bucket: str
    key: str
    records: int | None


def loaded_object(values: Sequence) -> LoadedObject:
    """An LoadedObject of a row of OBJECT_COLUMNS (the queries select loaded objects only, so the
    output path is set)."""
    output_path, integration_id, bucket, key, records = values
    return LoadedObject(str(output_path), int(integration_id), str(bucket), str(key), records)


OBJECT_COLUMNS = (
    s.FlowLogObject.output_path,
    s.FlowLogObject.integration_id,
    s.FlowLogObject.bucket,
    s.FlowLogObject.object_key,
    s.FlowLogObject.records_loaded,
)


def loaded_objects(
    session: Session,
    location_key: str,
    integration_ids: list[int],
    span: tuple[datetime, datetime],
    days: set[str],
) -> list[LoadedObject]:
    """Loaded outputs of the location whose records may fall in [span): by the records' own
    time span (an index range), or by day for objects recorded without one."""
    low, high = span
    by_span = sa.and_(
        s.FlowLogObject.first_start.is_not(None),
        s.FlowLogObject.first_start < high,
        s.FlowLogObject.last_end >= low,
    )
    by_day = sa.and_(s.FlowLogObject.first_start.is_(None), s.FlowLogObject.day.in_(sorted(days)))
    return [
        loaded_object(row)
        for row in session.execute(
            sa.select(*OBJECT_COLUMNS)
            .where(
                s.FlowLogObject.location_key == location_key,
                s.FlowLogObject.integration_id.in_(integration_ids),
                s.FlowLogObject.status == "loaded",
                s.FlowLogObject.output_path.is_not(None),
                sa.or_(by_span, by_day),
            )
            .order_by(s.FlowLogObject.output_path)
        )
    ]


def read_records(paths: list[str], columns: list[str] | None = None) -> pa.Table | None:
    if not paths:
        return None
    # Each file once: after compaction (flowlogs/table.py) many objects share one file.
    import pyarrow.dataset as pads  # here: it imports pandas (~0.2 CPU-s in every run process)

    dataset = pads.dataset(list(dict.fromkeys(paths)), format="parquet")
    if len(paths) > 1:
        # Files of flow logs of different formats have different optional columns (vpc_id,
        # subnet_id, instance_id, ...): read them all under the union of their schemas (a
        # column a file lacks is null there), not the first file's.
        schemas = [fragment.physical_schema for fragment in dataset.get_fragments()]
        if any(not schema.equals(schemas[0]) for schema in schemas[1:]):
            unified = pa.unify_schemas(schemas, promote_options="permissive")
            dataset = dataset.replace_schema(unified)
    if columns is not None:
        columns = [c for c in columns if c in dataset.schema.names]
    return dataset.to_table(columns=columns)


def contributing_days(windows: set[datetime]) -> set[str]:
    """Files of day D hold records of D and of late D-1: a window's records are in its own
    day's partition and the next one."""
    days: set[str] = set()
    for window in windows:
        d = window.date()
        days.update({d.isoformat(), (d + timedelta(days=1)).isoformat()})
    return days


_Key = tuple[str, str, str]


class Partials:
    """Partials whose merge gives the views of a set of objects (the views are sums): an
    object's own partial when its file matches the ledger; else, for a large object, one built
    from its records; and one for all the small objects without a file (partials.
    SMALL_OBJECT_RECORDS), built from their records read together. Each file is read once."""

    def __init__(self, views_base: str | None):
        self.base = views_base
        self._own: dict[_Key, Partial | None] = {}
        self._pooled: list[tuple[frozenset[_Key], Partial]] = []
        self.from_files = 0

    def of_objects(self, objects: Sequence[LoadedObject]) -> list[Partial]:
        parts: list[Partial] = []
        small: dict[_Key, LoadedObject] = {}
        for obj in objects:
            key = (obj.output_path, obj.bucket, obj.key)
            if key not in self._own:
                self._own[key] = self._partial_of(obj)
            own = self._own[key]
            if own is None:
                small[key] = obj
            else:
                parts.append(own)
        for keys, pooled in self._pooled:  # small objects pooled by an earlier call
            if keys <= small.keys():
                parts.append(pooled)
                for key in keys:
                    del small[key]
        if small:
            pooled = partial_of(_records_of(list(small.values())))
            self._pooled.append((frozenset(small), pooled))
            parts.append(pooled)
        return parts

    def _partial_of(self, obj: LoadedObject) -> Partial | None:
        """The object's own partial, or None for a small object without a valid file."""
        compacted = is_compacted(obj.output_path)
        if self.base is not None:
            partial = read_partial(partial_path(self.base, obj.integration_id, obj.bucket, obj.key))
            # Built at the object's last load, for its own file: compaction moves the rows, not
            # the figures, so a partial of a compacted object stays valid if its counts agree.
            if partial is not None and (
                (partial.output_path != obj.output_path and not compacted)
                or (obj.records is not None and partial.records != obj.records)
            ):
                partial = None  # built for another output: stale
            if partial is not None:
                self.from_files += 1
                return partial
        if obj.records is not None and obj.records < SMALL_OBJECT_RECORDS:
            return None
        return partial_of(_records_of([obj]), obj.output_path)


def _records_of(objects: list[LoadedObject]) -> pa.Table:
    """The records of `objects` (the view columns), each file read once: an own file whole, a
    compacted file (flowlogs/table.py, many objects' rows) filtered to these objects' rows."""
    own = [o.output_path for o in objects if not is_compacted(o.output_path)]
    wanted: dict[str, set[str]] = {}
    for obj in objects:
        if is_compacted(obj.output_path):
            wanted.setdefault(obj.output_path, set()).add(source_object(obj.bucket, obj.key))
    tables = [read_records(own, list(VIEW_COLUMNS))] if own else []
    for path, sources in sorted(wanted.items()):
        records = read_records([path], [*VIEW_COLUMNS, "source_object"])
        assert records is not None  # one path: a table
        mine = pc.is_in(
            records["source_object"].cast(pa.string()), pa.array(sorted(sources), pa.string())
        )
        tables.append(records.filter(mine).drop_columns(["source_object"]))
    found = [t for t in tables if t is not None]
    return found[0] if len(found) == 1 else pa.concat_tables(found, promote_options="permissive")


def in_windows(table: pa.Table, windows: set[datetime]) -> pa.Table:
    wanted = pa.array(sorted(int(w.timestamp()) for w in windows), pa.int64())
    return table.filter(pc.is_in(table["window_start"].cast(pa.int64()), wanted))
