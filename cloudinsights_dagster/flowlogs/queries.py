"""The documented example queries over the flow-record table (flowlogs/table.py), as SQL any
engine that reads Hive-partitioned Parquet runs; here, and in the tests and bench/bench_table.py,
DuckDB.

Each query is written once over a relation `{source}` with the flow-log columns (underscored
names, `start`/`end` as timestamps) and a `{partitions}` filter: on the table the filter names
the partitions (`day`, `location`) so the engine opens only their files; over the raw gzip text
(`raw_source`) the files are chosen by their S3 path instead and the filter is empty.

A query over the records of day D reads the partitions of D and D+1 (a file of day D+1 holds the
late records of D) and filters `start` to D.

    import duckdb
    from cloudinsights_dagster.flowlogs import queries
    con = duckdb.connect()
    rows = queries.run(con, queries.TOP_TALKERS, queries.table_source("/data/flows"),
                       day="2026-01-01", location="111111111111-us-east-1", vpc="vpc-0a1b...")

Dagster-free; duckdb is imported by the caller, not here.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from cloudinsights_dagster.flowlogs import fields as F
from cloudinsights_dagster.flowlogs.table import table_root


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    sql: str  # with {source} and {partitions}
    params: tuple[str, ...]  # besides day (always): the query's own parameters
    by_location: bool = True  # the partition filter names one location


TOP_TALKERS = Query(
    "top_talkers",
    "Top talkers of a VPC over a day: the (source, destination) address pairs that moved the "
    "most bytes, as recorded by the VPC's interfaces.",
    """
SELECT srcaddr, dstaddr, sum(bytes) AS bytes, sum(packets) AS packets, count(*) AS flows
FROM {source}
WHERE {partitions} vpc_id = $vpc AND start >= $day_start AND start < $day_end
  AND log_status = 'OK'
GROUP BY srcaddr, dstaddr
ORDER BY bytes DESC, srcaddr, dstaddr
LIMIT 10
""",
    ("vpc",),
)

REJECTED_TO_INSTANCE = Query(
    "rejected_to_instance",
    "Rejected flows to an instance over a day: inbound records its interfaces rejected, by "
    "source address, destination port and protocol.",
    """
SELECT srcaddr, dstport, protocol, count(*) AS flows, sum(packets) AS packets
FROM {source}
WHERE {partitions} instance_id = $instance AND action = 'REJECT' AND flow_direction = 'ingress'
  AND start >= $day_start AND start < $day_end
GROUP BY srcaddr, dstport, protocol
ORDER BY flows DESC, srcaddr, dstport, protocol
""",
    ("instance",),
)

BYTES_BY_TRAFFIC_PATH = Query(
    "bytes_by_traffic_path",
    "Bytes by traffic path over a day, every location: where outbound traffic leaves (1 "
    "same VPC, 2 internet or VPC endpoint gateway, 3 virtual private gateway, ... 8 AWS "
    "Transit Gateway; AWS's traffic-path field).",
    """
SELECT traffic_path, sum(bytes) AS bytes, count(*) AS flows
FROM {source}
WHERE {partitions} flow_direction = 'egress' AND log_status = 'OK'
  AND start >= $day_start AND start < $day_end
GROUP BY traffic_path
ORDER BY traffic_path NULLS LAST
""",
    (),
    by_location=False,
)

QUERIES: tuple[Query, ...] = (TOP_TALKERS, REJECTED_TO_INSTANCE, BYTES_BY_TRAFFIC_PATH)


@dataclass(frozen=True)
class Source:
    relation: str  # SQL relation
    partitioned: bool  # True: the table (filter by day/location); False: chosen files


def table_source(base: str, union_by_name: bool = False) -> Source:
    """The table under a flow-logs output base (local path or s3:// with DuckDB's httpfs).

    `union_by_name` when the flow logs have different formats (files with different columns):
    DuckDB then reads every file's footer, pruned partitions included (6x slower for a query of
    one location among 480 small files), where it otherwise reads only the first's schema."""
    pattern = posixpath.join(table_root(base), "*", "*", "*.parquet")
    union = "true" if union_by_name else "false"
    return Source(
        f"read_parquet('{_quote(pattern)}', hive_partitioning = true, union_by_name = {union})",
        True,
    )


def raw_source(files: Sequence[str], field_names: Sequence[str]) -> Source:
    """Raw flow-log gzip text files of one format (`field_names`: the header's hyphenated
    names), read by DuckDB's CSV reader: '-' is null, `start`/`end` become timestamps."""
    columns = ", ".join(f"'{F.to_column(n)}': '{_duck_type(n)}'" for n in field_names)
    listed = ", ".join(f"'{_quote(f)}'" for f in files)
    relation = (
        '(SELECT * REPLACE (to_timestamp("start") AS "start", to_timestamp("end") AS "end") '
        f"FROM read_csv([{listed}], delim = ' ', header = true, nullstr = '-', "
        f"compression = 'gzip', columns = {{{columns}}}))"
    )
    return Source(relation, False)


def render(query: Query, source: Source) -> str:
    partitions = ""
    if source.partitioned:
        partitions = "day IN ($day, $next_day) AND "
        if query.by_location:
            partitions += "location = $location AND "
    return query.sql.format(source=source.relation, partitions=partitions)


def parameters(query: Query, source: Source, day: str | date, **values) -> dict:
    """The query's named parameters for a day (and its own, e.g. vpc=..., location=...)."""
    first = date.fromisoformat(day) if isinstance(day, str) else day
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    params: dict[str, object] = {"day_start": start, "day_end": start + timedelta(days=1)}
    if source.partitioned:
        params.update(day=first, next_day=first + timedelta(days=1))
        if query.by_location:
            params["location"] = values["location"]
    for name in query.params:
        params[name] = values[name]
    return params


def run(connection, query: Query, source: Source, day: str | date, **values) -> list[tuple]:
    """Run a query on a DuckDB connection; rows as tuples."""
    return connection.execute(
        render(query, source), parameters(query, source, day, **values)
    ).fetchall()


@dataclass(frozen=True)
class ScanStats:
    """What DuckDB's profile (EXPLAIN ANALYZE) says a query read."""

    files_read: int | None  # files opened
    files_total: int | None  # files the glob matched (before partition pruning)
    bytes_read: float | None  # "Data Read" of the summary
    seconds: float | None  # "Total Time"


_UNITS = {
    "bytes": 1,
    "B": 1,
    "KB": 1e3,
    "kB": 1e3,
    "MB": 1e6,
    "GB": 1e9,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
}


def explain(connection, query: Query, source: Source, day: str | date, **values) -> ScanStats:
    """Run the query under EXPLAIN ANALYZE and read the files and bytes it scanned."""
    (_, text), *_ = connection.execute(
        "EXPLAIN ANALYZE " + render(query, source), parameters(query, source, day, **values)
    ).fetchall()
    read = [int(m) for m in re.findall(r"Total Files Read: (\d+)", text)]
    scanning = re.findall(r"Scanning Files: (\d+)/(\d+)", text)
    data = re.search(r"Data Read:\s*([\d.]+)\s*([A-Za-z]+)", text)
    took = re.search(r"Total Time:\s*([\d.]+)s", text)
    return ScanStats(
        sum(read) if read else None,
        sum(int(total) for _, total in scanning) if scanning else None,
        float(data.group(1)) * _UNITS.get(data.group(2), 1) if data else None,
        float(took.group(1)) if took else None,
    )


def _duck_type(field_name: str) -> str:
    t = F.arrow_type_for(field_name)
    if pa.types.is_int64(t) or pa.types.is_timestamp(t):
        return "BIGINT"
    if pa.types.is_integer(t):
        return "INTEGER"
    return "VARCHAR"


def _quote(text: str) -> str:
    return text.replace("'", "''")
