"""Rejected traffic per five-minute window (table ``rejected_traffic``).

Rejected flow records (``action`` REJECT, with measures) of each window, grouped by source and
destination address, destination port and protocol, with their flows, packets and bytes and
the resource they were aimed at:

* an ``ingress`` record was rejected on its way into the record's own ENI: the destination is
  that ENI (``interface_id``), its instance and its security groups as enriched at the record's
  time; the source is the peer (``peer_interface_id`` when a monitored ENI holds the source
  address) and ``source_external`` says whether no monitored ENI holds it (``peer_is_external``);
* an ``egress`` record was rejected on its way out of the record's ENI: the destination is the
  peer ENI when the enrichment resolved the destination address (``peer_interface_id``,
  ``peer_instance_id``), with the security groups that ENI had in the same window (from its own
  records, else from the `security_groups` mapping given, e.g. the current inventory); the
  source is the record's ENI, so ``source_external`` is false.

Rows are sorted by window, then by impact: bytes, flows and packets descending (ties broken by
the keys, so the order is deterministic); ``impact_rank`` numbers them from 1 in each window.
Like throughput, the figures are sums: :func:`merge_rejected` of the aggregates of disjoint
record sets equals the aggregate of their union.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .throughput import (
    TIMESTAMP,
    as_timestamps,
    column_or_nulls,
    encode,
    floor_window,
    lookup,
    seconds_array,
    traffic_mask,
    window_mask,
)

REJECTED_KEYS: tuple[str, ...] = (
    "window_start",
    "srcaddr",
    "dstaddr",
    "dstport",
    "protocol",
    "destination_interface_id",
    "destination_instance_id",
    "destination_security_group_ids",
    "source_interface_id",
    "source_external",
)
REJECTED_MEASURES: tuple[str, ...] = ("flows", "packets", "bytes")
REJECTED_SCHEMA = pa.schema(
    [
        pa.field("window_start", TIMESTAMP, nullable=False),
        pa.field("srcaddr", pa.string()),
        pa.field("dstaddr", pa.string()),
        pa.field("dstport", pa.int32()),
        pa.field("protocol", pa.int32()),
        pa.field("flows", pa.int64(), nullable=False),
        pa.field("packets", pa.int64(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
        pa.field("destination_interface_id", pa.string()),
        pa.field("destination_instance_id", pa.string()),
        pa.field("destination_security_group_ids", pa.list_(pa.string())),
        pa.field("source_interface_id", pa.string()),
        pa.field("source_external", pa.bool_()),
        pa.field("impact_rank", pa.int64(), nullable=False),
    ]
)
_SG_KEY = "destination_security_group_key"  # the SG list joined with "," (grouping key)
_GROUP_KEYS = [k if k != "destination_security_group_ids" else _SG_KEY for k in REJECTED_KEYS]
# The record columns the view reads.
_RECORD_COLUMNS = (
    "srcaddr",
    "dstaddr",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "interface_id",
    "eni_instance_id",
    "eni_security_group_ids",
    "peer_interface_id",
    "peer_instance_id",
    "peer_is_external",
)


def empty_rejected() -> pa.Table:
    return REJECTED_SCHEMA.empty_table()


def _strings(column) -> pa.ChunkedArray:
    if column.type == pa.string():
        return column
    return column.cast(pa.string())


def _sg_key(lists) -> pa.ChunkedArray:
    """list<string or dictionary> -> "sg-1,sg-2" ("" for an empty list, null for null)."""
    if not pa.types.is_list(lists.type) and not pa.types.is_large_list(lists.type):
        return _strings(lists)
    return pc.binary_join(lists.cast(pa.list_(pa.string())), ",")


def aggregate_rejected(
    records: pa.Table,
    windows: Iterable[datetime | str] | None = None,
    security_groups: Mapping[str, Iterable[str]] | None = None,
) -> pa.Table:
    """Enriched flow records -> REJECTED_SCHEMA rows (see the module doc).

    `windows`: only records of these windows count. `security_groups`: interface id -> its
    security group ids, for destination ENIs of egress rejects that have no records of their
    own in the window (e.g. from the inventory).
    """
    if records.num_rows == 0:
        return empty_rejected()
    seconds, _ = seconds_array(records["start"])
    seconds = floor_window(seconds)
    a_codes, a_values = encode(column_or_nulls(records, "action"))
    d_codes, d_values = encode(column_or_nulls(records, "flow_direction"))
    direction = lookup(d_codes, d_values, {"ingress": 0, "egress": 1})
    mask = traffic_mask(records) & (lookup(a_codes, a_values, {"REJECT": 1}) == 1)
    mask &= direction >= 0
    if windows is not None:
        mask &= window_mask(seconds, windows)
    if not mask.any():
        return empty_rejected()
    rows = pa.array(np.flatnonzero(mask))
    rejected = records.select([c for c in _RECORD_COLUMNS if c in records.column_names]).take(rows)
    egress = pa.array(direction[mask] == 1)

    def col(name: str, type_: pa.DataType | None = None):
        return column_or_nulls(rejected, name, type_)

    null_sg = pa.nulls(rejected.num_rows, pa.string())
    table = pa.table(
        {
            "window_start": pa.array(seconds[mask], pa.int64()).cast(TIMESTAMP),
            "srcaddr": _strings(col("srcaddr")),
            "dstaddr": _strings(col("dstaddr")),
            "dstport": col("dstport", pa.int32()).cast(pa.int32()),
            "protocol": col("protocol", pa.int32()).cast(pa.int32()),
            "destination_interface_id": pc.if_else(
                egress, _strings(col("peer_interface_id")), _strings(col("interface_id"))
            ),
            "destination_instance_id": pc.if_else(
                egress, _strings(col("peer_instance_id")), _strings(col("eni_instance_id"))
            ),
            _SG_KEY: pc.if_else(
                egress,
                null_sg,
                _sg_key(col("eni_security_group_ids", pa.list_(pa.string()))),
            ),
            "source_interface_id": pc.if_else(
                egress, _strings(col("interface_id")), _strings(col("peer_interface_id"))
            ),
            "source_external": pc.if_else(
                egress, pa.scalar(False), col("peer_is_external", pa.bool_()).cast(pa.bool_())
            ),
            "egress": egress,
            "flows": pa.array(np.ones(rejected.num_rows, np.int64)),
            "packets": pc.fill_null(col("packets", pa.int64()).cast(pa.int64()), 0),
            "bytes": pc.fill_null(col("bytes", pa.int64()).cast(pa.int64()), 0),
        }
    )
    grouped = _group(table, extra_keys=["egress"])
    filled = _fill_egress_security_groups(grouped, records, seconds, security_groups)
    if filled is grouped:  # no egress reject to a known ENI: the keys are final
        return _finish(grouped.drop_columns(["egress"]))
    # An egress and an ingress reject of the same flow may now share a key: sum them.
    return _finish(_group(filled.drop_columns(["egress"])))


def _group(table: pa.Table, extra_keys: Iterable[str] = ()) -> pa.Table:
    """Sum the measures per key (null keys are keys too)."""
    keys = [*_GROUP_KEYS, *extra_keys]
    grouped = table.group_by(keys, use_threads=False).aggregate(
        [(m, "sum") for m in REJECTED_MEASURES]
    )
    return grouped.rename_columns([*keys, *REJECTED_MEASURES])


def _fill_egress_security_groups(
    grouped: pa.Table,
    records: pa.Table,
    seconds: np.ndarray,
    security_groups: Mapping[str, Iterable[str]] | None,
) -> pa.Table:
    """The security groups of the destination ENI of egress rejects: those the ENI's own records
    of the same window carry, else its latest in the records, else `security_groups`."""
    egress = np.asarray(grouped["egress"].to_numpy(), bool)
    destinations = grouped["destination_interface_id"]
    wanted = egress & np.asarray(pc.is_valid(destinations).to_numpy(), bool)
    if not wanted.any():
        return grouped
    peer_ids = sorted(set(pc.filter(destinations, pa.array(wanted)).to_pylist()))
    by_window: dict[tuple[int, str], str] = {}
    latest: dict[str, tuple[int, str]] = {}
    if "eni_security_group_ids" in records.column_names:
        codes, values = encode(records["interface_id"])
        peers = set(peer_ids)
        lut = np.array([v in peers for v in values.to_pylist()] + [False])
        own = np.flatnonzero(lut[codes])
        if len(own):
            own_records = records.select(["interface_id", "eni_security_group_ids"]).take(
                pa.array(own)
            )
            seen = (
                pa.table(
                    {
                        "w": pa.array(seconds[own], pa.int64()),
                        "eni": _strings(own_records["interface_id"]),
                        "sg": _sg_key(own_records["eni_security_group_ids"]),
                    }
                )
                .group_by(["w", "eni", "sg"], use_threads=False)
                .aggregate([])
            )
            for w, eni, sg in sorted(
                zip(*(seen[c].to_pylist() for c in ("w", "eni", "sg")), strict=True),
                key=lambda r: (r[0], r[1], r[2] is None, r[2] or ""),
            ):
                if sg is None:
                    continue
                by_window.setdefault((w, eni), sg)
                latest[eni] = (w, sg)
    fallback = {eni: ",".join(sorted(groups)) for eni, groups in (security_groups or {}).items()}
    windows = grouped["window_start"].cast(pa.int64()).to_pylist()
    keys = grouped[_SG_KEY].to_pylist()
    eni_ids = destinations.to_pylist()
    for i in np.flatnonzero(wanted):
        eni = eni_ids[i]
        sg = by_window.get((windows[i], eni))
        if sg is None:
            sg = latest[eni][1] if eni in latest else fallback.get(eni)
        keys[i] = sg
    return grouped.set_column(
        grouped.schema.get_field_index(_SG_KEY), _SG_KEY, pa.array(keys, pa.string())
    )


def _finish(grouped: pa.Table) -> pa.Table:
    """Grouped rows -> REJECTED_SCHEMA: SG lists, impact order, rank per window."""
    if grouped.num_rows == 0:
        return empty_rejected()
    order = pc.sort_indices(
        grouped,
        sort_keys=[
            ("window_start", "ascending"),
            ("bytes", "descending"),
            ("flows", "descending"),
            ("packets", "descending"),
            *((k, "ascending") for k in _GROUP_KEYS if k != "window_start"),
        ],
    )
    grouped = grouped.take(order)
    windows = np.asarray(grouped["window_start"].cast(pa.int64()).to_numpy(), np.int64)
    starts = np.r_[True, windows[1:] != windows[:-1]]
    first_of_window = np.maximum.accumulate(np.where(starts, np.arange(len(windows)), 0))
    rank = np.arange(len(windows)) - first_of_window + 1
    columns = {
        name: grouped[name] for name in REJECTED_SCHEMA.names if name in grouped.column_names
    }
    columns["destination_security_group_ids"] = _sg_lists(grouped[_SG_KEY])
    columns["impact_rank"] = pa.array(rank, pa.int64())
    return pa.table(
        {f.name: columns[f.name].cast(f.type) for f in REJECTED_SCHEMA}, schema=REJECTED_SCHEMA
    )


def _sg_lists(keys) -> pa.Array:
    """ "sg-1,sg-2" keys -> list<string> (one Python conversion per distinct key)."""
    encoded = pc.dictionary_encode(keys).combine_chunks()
    distinct = [
        None if k is None else ([] if k == "" else k.split(","))
        for k in encoded.dictionary.to_pylist()
    ]
    return pa.array(distinct, pa.list_(pa.string())).take(encoded.indices)


def merge_rejected(parts: Iterable[pa.Table | None]) -> pa.Table:
    """Sum several rejected-traffic tables (aggregates of disjoint record sets) into one: the
    aggregate of the union, re-sorted and re-ranked."""
    tables = [p for p in parts if p is not None and p.num_rows]
    if not tables:
        return empty_rejected()
    columns: dict[str, list] = {}
    for table in tables:
        for f in REJECTED_SCHEMA:
            if f.name == "impact_rank":
                continue
            column = table[f.name]
            if f.name == "window_start":
                column = as_timestamps(column)
            elif f.name == "destination_security_group_ids":
                column = _sg_key(column)
            elif pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
            else:
                column = column.cast(f.type)
            name = _SG_KEY if f.name == "destination_security_group_ids" else f.name
            columns.setdefault(name, []).extend(column.chunks)
    table = pa.table({name: pa.chunked_array(chunks) for name, chunks in columns.items()})
    return _finish(_group(table))
