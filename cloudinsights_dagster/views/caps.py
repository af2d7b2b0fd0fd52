"""What the relational warehouse keeps of the per-window views: the top rows of each window and
one "rest" row (per what must still add up) summing the remainder, so that the rows a location
adds per day are bounded whatever its number of ENIs, and every total still adds up. The full
resolution lives in the columnar views (views/columnar.py).

Per account group, location and five-minute window:

* entity_throughput: per entity type, the TOP_ENTITIES entities with the most bytes (all their
  direction x action rows) and one REST row per direction x action: at most
  5 types x (5 + 1) x 4 = 120 rows;
* rejected_traffic: the TOP_REJECTED rows of highest impact (impact_rank 1..10) and one REST row
  (``srcaddr`` = REST, impact_rank 11): at most 11 rows;
* reject_reasons: the TOP_REASONS rows with the most flows and one REST row per reason
  (``interface_id`` = REST, ``detail`` says how many rows it sums): at most 20 + 4 = 24 rows.

So at most 155 rows per window, 44,640 per location-day (288 windows).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .reasons import REASONS_SCHEMA, sort_reasons
from .rejected import REJECTED_SCHEMA
from .throughput import THROUGHPUT_KEYS, THROUGHPUT_SCHEMA

REST = "(rest)"
TOP_ENTITIES = 5
TOP_REJECTED = 10
TOP_REASONS = 20
ROWS_PER_WINDOW = 5 * (TOP_ENTITIES + 1) * 4 + (TOP_REJECTED + 1) + (TOP_REASONS + 4)


def _rank_within(windows: pa.ChunkedArray | pa.Array, *more: pa.ChunkedArray) -> np.ndarray:
    """1-based position of each row within its run of equal keys (rows sorted by them)."""
    columns = [np.asarray(pc.cast(c, pa.int64()).to_numpy(), np.int64) for c in (windows,)]
    for c in more:
        codes = pc.dictionary_encode(c)
        codes = codes.combine_chunks() if isinstance(codes, pa.ChunkedArray) else codes
        columns.append(np.asarray(codes.indices.to_numpy(), np.int64))
    n = len(columns[0])
    if n == 0:
        return np.zeros(0, np.int64)
    new = np.zeros(n, bool)
    new[0] = True
    for c in columns:
        new[1:] |= c[1:] != c[:-1]
    first = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    return np.arange(n) - first + 1


def cap_throughput(table: pa.Table, top: int = TOP_ENTITIES) -> pa.Table:
    """THROUGHPUT_SCHEMA rows -> the top `top` entities per (window, type) and REST rows."""
    if table.num_rows == 0:
        return table
    totals = (
        table.group_by(["window_start", "entity_type", "entity_id"], use_threads=False)
        .aggregate([("bytes", "sum"), ("flows", "sum")])
        .sort_by(
            [
                ("window_start", "ascending"),
                ("entity_type", "ascending"),
                ("bytes_sum", "descending"),
                ("flows_sum", "descending"),
                ("entity_id", "ascending"),
            ]
        )
    )
    rank = _rank_within(totals["window_start"], totals["entity_type"])
    if rank.max() <= top:
        return table
    keys = ["window_start", "entity_type", "entity_id"]
    kept = totals.filter(pa.array(rank <= top)).select(keys)
    head = table.join(kept, keys=keys, join_type="left semi", use_threads=False)
    rest = (
        table.join(kept, keys=keys, join_type="left anti", use_threads=False)
        .group_by(["window_start", "entity_type", "direction", "action"], use_threads=False)
        .aggregate([(m, "sum") for m in ("bytes", "packets", "flows")])
    )
    rest = pa.table(
        {
            "window_start": rest["window_start"],
            "entity_type": rest["entity_type"],
            "entity_id": pa.array([REST] * rest.num_rows, pa.string()),
            "direction": rest["direction"],
            "action": rest["action"],
            "bytes": rest["bytes_sum"],
            "packets": rest["packets_sum"],
            "flows": rest["flows_sum"],
        }
    )
    merged = pa.concat_tables(
        [head.select(THROUGHPUT_SCHEMA.names).cast(THROUGHPUT_SCHEMA), rest.cast(THROUGHPUT_SCHEMA)]
    )
    return merged.sort_by([(k, "ascending") for k in THROUGHPUT_KEYS]).cast(THROUGHPUT_SCHEMA)


def cap_rejected(table: pa.Table, top: int = TOP_REJECTED) -> pa.Table:
    """REJECTED_SCHEMA rows (ranked per window) -> impact ranks 1..top and one REST row."""
    if table.num_rows == 0 or pc.max(table["impact_rank"]).as_py() <= top:
        return table
    over = pc.greater(table["impact_rank"], top)
    rest = (
        table.filter(over)
        .group_by(["window_start"], use_threads=False)
        .aggregate([(m, "sum") for m in ("flows", "packets", "bytes")])
    )
    n = rest.num_rows
    columns = {f.name: pa.nulls(n, f.type) for f in REJECTED_SCHEMA}
    columns.update(
        window_start=rest["window_start"],
        srcaddr=pa.array([REST] * n, pa.string()),
        flows=rest["flows_sum"],
        packets=rest["packets_sum"],
        bytes=rest["bytes_sum"],
        destination_security_group_ids=pa.array([[]] * n, pa.list_(pa.string())),
        impact_rank=pa.array([top + 1] * n, pa.int64()),
    )
    rest = pa.table(columns, schema=REJECTED_SCHEMA)
    merged = pa.concat_tables([table.filter(pc.invert(over)), rest])
    return merged.sort_by([("window_start", "ascending"), ("impact_rank", "ascending")])


def cap_reasons(table: pa.Table, top: int = TOP_REASONS) -> pa.Table:
    """REASONS_SCHEMA rows (sorted, most flows first per window) -> the top `top` rows per
    window and one REST row per reason."""
    if table.num_rows == 0:
        return table
    rank = _rank_within(table["window_start"])
    if rank.max() <= top:
        return table
    over = pa.array(rank > top)
    rest = (
        table.filter(over)
        .group_by(["window_start", "reason"], use_threads=False)
        .aggregate([("flows", "sum"), ("packets", "sum"), ("bytes", "sum"), ("flows", "count")])
    )
    n = rest.num_rows
    columns = {f.name: pa.nulls(n, f.type) for f in REASONS_SCHEMA}
    columns.update(
        window_start=rest["window_start"],
        interface_id=pa.array([REST] * n, pa.string()),
        reason=rest["reason"],
        detail=pa.array([f"the other {c} rows" for c in rest["flows_count"].to_pylist()]),
        flows=rest["flows_sum"],
        packets=rest["packets_sum"],
        bytes=rest["bytes_sum"],
    )
    rest = pa.table(columns, schema=REASONS_SCHEMA)
    return sort_reasons(pa.concat_tables([table.filter(pc.invert(over)), rest]))
