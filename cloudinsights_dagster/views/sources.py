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


class Partials:
    """The partial of each object: its file when it matches the ledger, else built from its
    records (read once)."""

    def __init__(self, views_base: str | None):
        self.base = views_base
        self._cache: dict[tuple[str, str, str], Partial] = {}
        self.from_files = 0

    def get(self, obj: LoadedObject) -> Partial:
        # A compacted file (flowlogs/table.py) holds many objects' rows: one partial per object.
        cache_key = (obj.output_path, obj.bucket, obj.key)
        found = self._cache.get(cache_key)
        if found is not None:
            return found
        compacted = is_compacted(obj.output_path)
        partial = None
        if self.base is not None:
            partial = read_partial(partial_path(self.base, obj.integration_id, obj.bucket, obj.key))
            # Built at the object's last load, for its own file: compaction moves the rows, not
            # the figures, so a partial of a compacted object stays valid if its counts agree.
            if partial is not None and (
                (partial.output_path != obj.output_path and not compacted)
                or (obj.records is not None and partial.records != obj.records)
            ):
                partial = None  # built for another output: stale
        if partial is None:
            partial = partial_of(self._records_of(obj, compacted), obj.output_path)
        else:
            self.from_files += 1
        self._cache[cache_key] = partial
        return partial

    @staticmethod
    def _records_of(obj: LoadedObject, compacted: bool) -> pa.Table | None:
        if not compacted:
            return read_records([obj.output_path], list(VIEW_COLUMNS))
        records = read_records([obj.output_path], [*VIEW_COLUMNS, "source_object"])
        if records is None:
            return None
        mine = pc.equal(
            records["source_object"].cast(pa.string()), source_object(obj.bucket, obj.key)
        )
        return records.filter(mine).drop_columns(["source_object"])


def in_windows(table: pa.Table, windows: set[datetime]) -> pa.Table:
    wanted = pa.array(sorted(int(w.timestamp()) for w in windows), pa.int64())
    return table.filter(pc.is_in(table["window_start"].cast(pa.int64()), wanted))
