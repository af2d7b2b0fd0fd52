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

from .vectorized import (
    TIMESTAMP,
    as_timestamps,
    column_or_nulls,
    encode,
    epoch_seconds,
    exact_sums,
    floor_window,
    key_codes,
    lookup,
    seconds_array,
    traffic_mask,
    unique_rows,
    window_mask,
    window_start,
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


# The security groups each ENI's own records carried per window ("sg-1,sg-2" keys): what
# fills in the destination security groups of egress rejects to that ENI.
SECURITY_GROUPS_SEEN_SCHEMA = pa.schema(
    [
        pa.field("window_start", pa.int64(), nullable=False),
        pa.field("interface_id", pa.string()),
        pa.field(_SG_KEY, pa.string()),
    ]
)


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
    grouped, seen = rejected_partial(records, windows)
    return finish_rejected([grouped], [seen], security_groups=security_groups)


def rejected_partial(
    records: pa.Table, windows: Iterable[datetime | str] | None = None
) -> tuple[pa.Table, pa.Table]:
    """The additive parts of rejected_traffic for a set of records: (rejected rows grouped by
    the view's keys and whether they are egress, the destination security groups of egress
    rows still unknown; the security groups the records' ENIs carried per window). The view of
    several record sets is finish_rejected of their parts."""
    return rejected_grouped(records, windows), security_groups_seen(records)


def rejected_records(records: pa.Table) -> pa.Table:
    """The records the rejected views count: REJECT, with measures and a direction."""
    if records.num_rows == 0:
        return records
    a_codes, a_values = encode(column_or_nulls(records, "action"))
    d_codes, d_values = encode(column_or_nulls(records, "flow_direction"))
    mask = traffic_mask(records) & (lookup(a_codes, a_values, {"REJECT": 1}) == 1)
    mask &= lookup(d_codes, d_values, {"ingress": 0, "egress": 1}) >= 0
    return records.filter(pa.array(mask))


def rejected_grouped(
    records: pa.Table, windows: Iterable[datetime | str] | None = None
) -> pa.Table:
    """The grouped part of rejected_partial."""
    if records.num_rows == 0:
        return _empty_grouped()
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
        return _empty_grouped()
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
    return _group(table, extra_keys=["egress"])


def _empty_grouped() -> pa.Table:
    fields = {f.name: f.type for f in REJECTED_SCHEMA}
    fields[_SG_KEY] = pa.string()
    names = [*_GROUP_KEYS, "egress", *REJECTED_MEASURES]
    types = [fields[n] if n != "egress" else pa.bool_() for n in names]
    return pa.schema(list(zip(names, types, strict=True))).empty_table()


def security_groups_seen(records: pa.Table) -> pa.Table:
    """Distinct (window, ENI, security-group key) of every record (whatever its action)."""
    if records.num_rows == 0 or "eni_security_group_ids" not in records.column_names:
        return SECURITY_GROUPS_SEEN_SCHEMA.empty_table()
    seconds, _ = seconds_array(records["start"])
    seen = pa.table(
        {
            "window_start": pa.array(floor_window(seconds), pa.int64()),
            "interface_id": _strings(column_or_nulls(records, "interface_id")),
            _SG_KEY: _sg_key(records["eni_security_group_ids"]),
        }
    )
    return merge_security_groups_seen([seen])


def merge_security_groups_seen(parts: Iterable[pa.Table]) -> pa.Table:
    """Several security-groups-seen tables -> their distinct rows."""
    tables = [p.cast(SECURITY_GROUPS_SEEN_SCHEMA) for p in parts if p.num_rows]
    if not tables:
        return SECURITY_GROUPS_SEEN_SCHEMA.empty_table()
    return (
        pa.concat_tables(tables)
        .group_by(SECURITY_GROUPS_SEEN_SCHEMA.names, use_threads=False)
        .aggregate([])
        .select(SECURITY_GROUPS_SEEN_SCHEMA.names)
        .cast(SECURITY_GROUPS_SEEN_SCHEMA)
    )


def merge_rejected_grouped(parts: Iterable[pa.Table]) -> pa.Table:
    """Several grouped parts of rejected_partial -> one (measures summed per key)."""
    tables = [p for p in parts if p.num_rows]
    if not tables:
        return _empty_grouped()
    if len(tables) == 1:
        return tables[0]
    return _group(pa.concat_tables(tables), ["egress"])


def finish_rejected(
    grouped: Iterable[pa.Table],
    seen: Iterable[pa.Table],
    windows: Iterable[datetime | str] | None = None,
    security_groups: Mapping[str, Iterable[str]] | None = None,
) -> pa.Table:
    """The parts of rejected_partial of several record sets -> their REJECTED_SCHEMA rows,
    equal to aggregate_rejected of the union of the records. `windows`: only these count."""
    tables = [g for g in grouped if g.num_rows]
    if windows is not None:
        wanted = pa.array(sorted({epoch_seconds(window_start(w)) for w in windows}), pa.int64())
        tables = [t.filter(pc.is_in(t["window_start"].cast(pa.int64()), wanted)) for t in tables]
        tables = [t for t in tables if t.num_rows]
    if not tables:
        return empty_rejected()
    table = merge_rejected_grouped(tables)
    filled = _fill_egress_security_groups(
        table, merge_security_groups_seen(list(seen)), security_groups
    )
    if filled is table:  # no egress reject to a known ENI: the keys are final
        return _finish(table.drop_columns(["egress"]))
    # An egress and an ingress reject of the same flow may now share a key: sum them.
    return _finish(_group(filled.drop_columns(["egress"])))


def _group(table: pa.Table, extra_keys: Iterable[str] = ()) -> pa.Table:
    """Sum the measures per key (null keys are keys too), on integer codes of the keys: a hash
    group-by on a dozen string keys costs ten times more."""
    keys = [*_GROUP_KEYS, *extra_keys]
    if table.num_rows == 0:
        return table.select([*keys, *REJECTED_MEASURES])
    first, inverse = unique_rows([key_codes(table[k]) for k in keys])
    grouped = table.select(keys).take(pa.array(first))
    for m in REJECTED_MEASURES:
        values = np.asarray(pc.fill_null(table[m], 0).to_numpy(), np.int64)
        grouped = grouped.append_column(m, pa.array(exact_sums(inverse, values, len(first))))
    return grouped


def _fill_egress_security_groups(
    grouped: pa.Table,
    seen: pa.Table,
    security_groups: Mapping[str, Iterable[str]] | None,
) -> pa.Table:
    """The security groups of the destination ENI of egress rejects: those the ENI's own records
    of the same window carry, else its latest in the records, else `security_groups`."""
    egress = np.asarray(grouped["egress"].to_numpy(), bool)
    destinations = grouped["destination_interface_id"]
    wanted = egress & np.asarray(pc.is_valid(destinations).to_numpy(), bool)
    if not wanted.any():
        return grouped
    peers = pa.array(sorted(set(pc.filter(destinations, pa.array(wanted)).to_pylist())))
    by_window: dict[tuple[int, str], str] = {}
    latest: dict[str, tuple[int, str]] = {}
    own = seen.filter(pc.and_(pc.is_in(seen["interface_id"], peers), pc.is_valid(seen[_SG_KEY])))
    if own.num_rows:
        own = own.sort_by(
            [("window_start", "ascending"), ("interface_id", "ascending"), (_SG_KEY, "ascending")]
        )
        for w, eni, sg in zip(
            *(own[c].to_pylist() for c in ("window_start", "interface_id", _SG_KEY)), strict=True
        ):
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
