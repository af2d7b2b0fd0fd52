"""Rejected flows grouped by what their reason depends on (ENI, inventory segment, direction,
protocol, port, peer, window): additive, so per-object groups merge exactly (views/partials.py)
and only distinct combinations are explained."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .vectorized import (
    column_or_nulls,
    encode,
    exact_sums,
    floor_window,
    key_codes,
    lookup,
    ranked,
    seconds_array,
    traffic_mask,
    unique_rows,
    window_mask,
)

_INF = np.iinfo(np.int64).max


def _strings(column) -> pa.ChunkedArray | pa.Array:
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column if column.type == pa.string() else column.cast(pa.string())


# Rejected flows grouped by what their reason depends on (the partial aggregate of the view):
# window, ENI, direction, protocol, port, peer (address and ENI), whether the flow looks like a
# response and its response port; the first and last record start of the group tell whether a
# version change of the ENI's rules falls inside it.


REJECT_GROUPS_SCHEMA = pa.schema(
    [
        pa.field("window_start", pa.int64(), nullable=False),
        pa.field("first_start", pa.int64(), nullable=False),
        pa.field("last_start", pa.int64(), nullable=False),
        pa.field("interface_id", pa.string()),
        pa.field("direction", pa.int8(), nullable=False),  # 0 ingress, 1 egress
        pa.field("protocol", pa.int64(), nullable=False),  # -2: none
        pa.field("dstport", pa.int64(), nullable=False),  # -1: none
        pa.field("peer_address", pa.string()),
        pa.field("peer_interface_id", pa.string()),
        pa.field("response", pa.bool_(), nullable=False),
        pa.field("response_port", pa.int64(), nullable=False),  # -1: not a response
        pa.field("flows", pa.int64(), nullable=False),
        pa.field("packets", pa.int64(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
    ]
)
_GROUP_KEY_NAMES = (
    "window_start",
    "interface_id",
    "direction",
    "protocol",
    "dstport",
    "peer_address",
    "peer_interface_id",
    "response",
    "response_port",
)


@dataclass
class RejectGroups:
    """Rejected-flow groups as numpy arrays; strings as codes (-1 null) into value lists."""

    window: np.ndarray
    first: np.ndarray
    last: np.ndarray
    eni: np.ndarray
    eni_values: list
    direction: np.ndarray
    proto: np.ndarray
    dstport: np.ndarray
    addr: np.ndarray
    addr_values: list
    peer: np.ndarray
    peer_values: list
    response: np.ndarray
    resp_port: np.ndarray
    flows: np.ndarray
    packets: np.ndarray
    bytes: np.ndarray


def group_records(
    records: pa.Table, windows: Iterable[datetime | str] | None, exact: bool
) -> RejectGroups | None:
    """The rejected flow records (REJECT, with measures and a direction) grouped by what their
    reason depends on; `exact`: one group per record (first = last start: reasons of records)."""
    if records.num_rows == 0:
        return None
    seconds, _ = seconds_array(records["start"])
    a_codes, a_values = encode(column_or_nulls(records, "action"))
    d_codes, d_values = encode(column_or_nulls(records, "flow_direction"))
    direction = lookup(d_codes, d_values, {"ingress": 0, "egress": 1})
    mask = traffic_mask(records) & (lookup(a_codes, a_values, {"REJECT": 1}) == 1)
    mask &= direction >= 0
    if windows is not None:
        mask &= window_mask(floor_window(seconds), windows)
    if not mask.any():
        return None
    rows = np.flatnonzero(mask)
    rec = records if len(rows) == records.num_rows else records.take(pa.array(rows))
    t = seconds[rows]
    direction = direction[rows]
    egress = direction == 1

    def ints(name: str, fill: int) -> np.ndarray:
        col = column_or_nulls(rec, name, pa.int64()).cast(pa.int64())
        return np.asarray(pc.fill_null(col, fill).to_numpy(), np.int64)

    proto = ints("protocol", -2)
    dstport = ints("dstport", -1)
    srcport = ints("srcport", -1)
    flags = ints("tcp_flags", -1)
    src = _strings(column_or_nulls(rec, "srcaddr", pa.string()))
    dst = _strings(column_or_nulls(rec, "dstaddr", pa.string()))
    # Codes into distinct values (chunks of several files repeat values in their dictionaries).
    addr_codes, addr_values = ranked(*encode(pc.if_else(pa.array(egress), dst, src)))
    eni_codes, eni_values = ranked(*encode(column_or_nulls(rec, "interface_id", pa.string())))
    peer_codes, peer_values = ranked(
        *encode(column_or_nulls(rec, "peer_interface_id", pa.string()))
    )
    # A response: SYN-ACK seen, or (no SYN at all) from a service port to an ephemeral one.
    syn_ack = (flags >= 0) & ((flags & 18) == 18)
    no_syn = (flags < 0) | ((flags & 2) == 0)
    response = (proto == 6) & syn_ack | (
        no_syn & (srcport >= 0) & (srcport < 1024) & (dstport >= 1024)
    )
    resp_port = np.where(response, srcport, -1)
    window = floor_window(t)
    if exact:  # each record its own group: _explain sums them per output row anyway
        return RejectGroups(
            window=window,
            first=t,
            last=t,
            eni=eni_codes,
            eni_values=eni_values.to_pylist(),
            direction=direction,
            proto=proto,
            dstport=dstport,
            addr=addr_codes,
            addr_values=addr_values.to_pylist(),
            peer=peer_codes,
            peer_values=peer_values.to_pylist(),
            response=response,
            resp_port=resp_port,
            flows=np.ones(len(t), np.int64),
            packets=ints("packets", 0),
            bytes=ints("bytes", 0),
        )
    first, inverse = unique_rows(
        [
            window,
            eni_codes,
            direction,
            proto,
            dstport,
            addr_codes,
            peer_codes,
            response.astype(np.int64),
            resp_port,
        ]
    )
    n = len(first)
    low = np.full(n, _INF, np.int64)
    np.minimum.at(low, inverse, t)
    high = np.full(n, -_INF, np.int64)
    np.maximum.at(high, inverse, t)
    return RejectGroups(
        window=window[first],
        first=low,
        last=high,
        eni=eni_codes[first],
        eni_values=eni_values.to_pylist(),
        direction=direction[first],
        proto=proto[first],
        dstport=dstport[first],
        addr=addr_codes[first],
        addr_values=addr_values.to_pylist(),
        peer=peer_codes[first],
        peer_values=peer_values.to_pylist(),
        response=response[first],
        resp_port=resp_port[first],
        flows=np.bincount(inverse, minlength=n).astype(np.int64),
        packets=exact_sums(inverse, ints("packets", 0), n),
        bytes=exact_sums(inverse, ints("bytes", 0), n),
    )


def reject_groups(records: pa.Table, windows: Iterable[datetime | str] | None = None) -> pa.Table:
    """Enriched flow records -> their rejected flows as REJECT_GROUPS_SCHEMA rows: the partial
    aggregate of reject_reasons (additive: see merge_reject_groups, explain_groups)."""
    groups = group_records(records, windows, exact=False)
    if groups is None:
        return REJECT_GROUPS_SCHEMA.empty_table()
    return _groups_table(groups)


def _groups_table(g: RejectGroups) -> pa.Table:
    def strings(codes: np.ndarray, values: list) -> pa.Array:
        return pa.array(values + [None], pa.string()).take(
            pa.array(last_is_null(codes, len(values)))
        )

    return pa.table(
        {
            "window_start": pa.array(g.window, pa.int64()),
            "first_start": pa.array(g.first, pa.int64()),
            "last_start": pa.array(g.last, pa.int64()),
            "interface_id": strings(g.eni, g.eni_values),
            "direction": pa.array(g.direction, pa.int8()),
            "protocol": pa.array(g.proto, pa.int64()),
            "dstport": pa.array(g.dstport, pa.int64()),
            "peer_address": strings(g.addr, g.addr_values),
            "peer_interface_id": strings(g.peer, g.peer_values),
            "response": pa.array(g.response, pa.bool_()),
            "response_port": pa.array(g.resp_port, pa.int64()),
            "flows": pa.array(g.flows, pa.int64()),
            "packets": pa.array(g.packets, pa.int64()),
            "bytes": pa.array(g.bytes, pa.int64()),
        },
        schema=REJECT_GROUPS_SCHEMA,
    )


def merge_reject_groups(parts: Iterable[pa.Table | None]) -> pa.Table:
    """Several REJECT_GROUPS_SCHEMA tables (of disjoint record sets) -> the groups of their
    union: measures summed, first and last starts widened."""
    tables = [p.cast(REJECT_GROUPS_SCHEMA) for p in parts if p is not None and p.num_rows]
    if not tables:
        return REJECT_GROUPS_SCHEMA.empty_table()
    if len(tables) == 1:
        return tables[0]
    table = pa.concat_tables(tables)
    # Grouped on integer codes of the keys (a hash group-by on these string keys is ~3x slower).
    first, inverse = unique_rows([key_codes(table[k]) for k in _GROUP_KEY_NAMES])
    n = len(first)
    t = {k: np.asarray(table[k].to_numpy(), np.int64) for k in ("first_start", "last_start")}
    low = np.full(n, _INF, np.int64)
    np.minimum.at(low, inverse, t["first_start"])
    high = np.full(n, -_INF, np.int64)
    np.maximum.at(high, inverse, t["last_start"])
    grouped = table.select(list(_GROUP_KEY_NAMES)).take(pa.array(first))
    grouped = grouped.append_column("first_start", pa.array(low)).append_column(
        "last_start", pa.array(high)
    )
    for m in ("flows", "packets", "bytes"):
        values = np.asarray(table[m].to_numpy(), np.int64)
        grouped = grouped.append_column(m, pa.array(exact_sums(inverse, values, n)))
    return grouped.select(REJECT_GROUPS_SCHEMA.names).cast(REJECT_GROUPS_SCHEMA)


def groups_from_table(table: pa.Table) -> RejectGroups:
    def num(name: str) -> np.ndarray:
        return np.asarray(table[name].to_numpy(), np.int64)

    def codes(name: str) -> tuple[np.ndarray, list]:
        c, values = ranked(*encode(table[name]))  # code order = string order
        return c, values.to_pylist()

    eni, eni_values = codes("interface_id")
    addr, addr_values = codes("peer_address")
    peer, peer_values = codes("peer_interface_id")
    return RejectGroups(
        window=num("window_start"),
        first=num("first_start"),
        last=num("last_start"),
        eni=eni,
        eni_values=eni_values,
        direction=num("direction"),
        proto=num("protocol"),
        dstport=num("dstport"),
        addr=addr,
        addr_values=addr_values,
        peer=peer,
        peer_values=peer_values,
        response=np.asarray(table["response"].to_numpy(), bool),
        resp_port=num("response_port"),
        flows=num("flows"),
        packets=num("packets"),
        bytes=num("bytes"),
    )


def last_is_null(codes: np.ndarray, null_index: int) -> np.ndarray:
    """Codes with nulls (-1) pointing at `null_index` (a None appended to the values)."""
    return np.where(codes < 0, null_index, codes)
