"""Benchmark: the documented flow-record queries in DuckDB, on the table against the raw text.

One day of 200 locations' flow logs (scaled down so the whole bench takes a few minutes: by
default 200 locations x 12 objects x 1,500 records = 3.6M records, 40 ENIs per location; real
locations deliver ~288 objects a day each, so this is the file layout of a quiet day, or the
compacted layout of any day), generated deterministically, then in one run:

1. loaded through the real pipeline (ledger on SQLite, `object_output` + `process_object` per
   object, as flowlogs/process.py does): one file per object in flow_records/day=/location=/;
2. each documented query (flowlogs/queries.py) timed in DuckDB over
   * the raw gzip text (DuckDB's CSV reader over the same objects, chosen by their S3 path:
     the location's files, or every file of the day),
   * the table as loaded (one small file per object),
   * the table after compaction (compact_day: one file per location);
   with the files and bytes each read (DuckDB's EXPLAIN ANALYZE; the raw text is read whole).

Prints the JSON report, then a table; writes the JSON to --json-out (bench-out/bench_table.json).

Usage: python bench/bench_table.py [--locations 200] [--objects 12] [--records 1500]
       [--repeat 3] [--out-dir bench-out]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
# The helpers the tests and benches share (flowlog_samples) are not in the package.
sys.path.insert(0, str(ROOT / "tests" / "support"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flowlog_samples import CUSTOM_FORMAT  # noqa: E402

DAY = "2026-01-01"
DAY_START = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
REGION = "us-east-1"
BUCKET = "flow-logs"


def _account(n: int) -> str:
    return f"{100000000000 + 7919 * n:012d}"


def _s(values) -> pa.Array:
    arr = values if isinstance(values, pa.Array) else pa.array(values)
    return pc.fill_null(pc.cast(arr, pa.string()), "-")


def location_enis(n: int, enis: int) -> dict[str, np.ndarray]:
    """A location's ENIs: two VPCs, private addresses 10.<n>.x.y, an instance each."""
    i = np.arange(enis)
    return {
        "interface": np.array([f"eni-{n:04d}{k:05d}" for k in i], dtype=object),
        "ip": np.array([f"10.{n % 250}.{k // 200}.{k % 200 + 10}" for k in i], dtype=object),
        "vpc": np.array([f"vpc-{n:04d}{k % 2}" for k in i], dtype=object),
        "subnet": np.array([f"subnet-{n:04d}{k % 4}" for k in i], dtype=object),
        "instance": np.array([f"i-{n:04d}{k:05d}" for k in i], dtype=object),
    }


def inventory(locations: int, enis: int) -> pa.Table:
    cols: dict[str, list] = {c: [] for c in ("interface", "ip", "vpc", "subnet", "instance")}
    owners = []
    for n in range(locations):
        e = location_enis(n, enis)
        for c in cols:
            cols[c] += list(e[c])
        owners += [_account(n)] * enis
    count = len(owners)
    return pa.table(
        {
            "interface_id": cols["interface"],
            "instance_id": cols["instance"],
            "subnet_id": cols["subnet"],
            "vpc_id": cols["vpc"],
            "security_group_ids": [["sg-1", "sg-2"]] * count,
            "availability_zone": ["us-east-1a"] * count,
            "owner_account_id": owners,
            "name": [None] * count,
            "private_ips": [[ip] for ip in cols["ip"]],
            "public_ips": [[]] * count,
        }
    )


def object_lines(n: int, obj: int, objects: int, records: int, enis: int, seed: int) -> bytes:
    """One object's gzip-ready text (header + lines) for location n, object obj of the day."""
    rng = np.random.default_rng(seed)
    e = location_enis(n, enis)
    idx = np.minimum((rng.pareto(1.2, records) * enis / 10).astype(np.int64), enis - 1)
    window = 86_400 // objects
    start = DAY_START + obj * window + rng.integers(0, window, records)
    egress = rng.random(records) < 0.5
    peer_internal = e["ip"][rng.integers(0, enis, records)]
    peer_public = np.array(
        [f"{a}.{b}.{c}.{d}" for a, b, c, d in rng.integers(1, 250, (records, 4))], dtype=object
    )
    peer = np.where(rng.random(records) < 0.4, peer_internal, peer_public)
    own = e["ip"][idx]
    src, dst = np.where(egress, own, peer), np.where(egress, peer, own)
    server = np.array([443, 80, 22, 5432, 53])[rng.integers(0, 5, records)]
    ephemeral = rng.integers(32768, 65536, records)
    packets = (rng.lognormal(2.0, 1.5, records) + 1).astype(np.int64)
    action = np.where(rng.random(records) < 0.08, "REJECT", "ACCEPT")
    values = {
        "version": np.full(records, "5", dtype=object),
        "account-id": np.full(records, _account(n), dtype=object),
        "interface-id": e["interface"][idx],
        "srcaddr": src,
        "dstaddr": dst,
        "srcport": np.where(egress, ephemeral, server),
        "dstport": np.where(egress, server, ephemeral),
        "protocol": np.where(rng.random(records) < 0.9, 6, 17),
        "packets": packets,
        "bytes": packets * rng.integers(40, 1500, records),
        "start": start,
        "end": start + rng.integers(0, 60, records),
        "action": action,
        "log-status": np.full(records, "OK", dtype=object),
        "vpc-id": e["vpc"][idx],
        "subnet-id": e["subnet"][idx],
        "instance-id": e["instance"][idx],
        "tcp-flags": np.where(action == "REJECT", 2, 19),
        "type": np.full(records, "IPv4", dtype=object),
        "pkt-srcaddr": src,
        "pkt-dstaddr": dst,
        "flow-direction": np.where(egress, "egress", "ingress"),
        "traffic-path": pa.array(
            np.array([1, 1, 2, 2, 8])[rng.integers(0, 5, records)], mask=~egress
        ),
    }
    line = pc.binary_join_element_wise(*(_s(values[f]) for f in CUSTOM_FORMAT), " ")
    body = "\n".join([" ".join(CUSTOM_FORMAT), *line.to_pylist()]) + "\n"
    return body.encode()


def generate(raw_dir: Path, locations: int, objects: int, records: int, enis: int) -> list:
    """The day's objects as gzip files laid out like S3 (AWSLogs/<account>/vpcflowlogs/...)."""
    import gzip

    from flowlog_samples import object_key

    made = []
    for n in range(locations):
        for obj in range(objects):
            delivered = DAY_START + (obj + 1) * (86_400 // objects) - 60
            key = object_key(_account(n), REGION, "fl-1", delivered, suffix=f"{obj:03d}")
            path = raw_dir / key
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                text = object_lines(n, obj, objects, records, enis, seed=n * 1000 + obj)
                path.write_bytes(gzip.compress(text, compresslevel=6, mtime=0))
            made.append((f"{_account(n)}-{REGION}", key, path))
    return made


def load(url: str, base: str, objects: list, index) -> dict:
    """Every object through the ledger and the pipeline, as flowlogs/process.py does."""
    from cloudinsights_dagster.flowlogs.ledger import (
        ObjectRef,
        claim_objects,
        finish_object,
        upsert_objects,
    )
    from cloudinsights_dagster.flowlogs.table import object_output, source_object
    from cloudinsights_dagster.flowlogs.writer import process_object
    from cloudinsights_dagster.registry import Registry
    from cloudinsights_dagster.warehouse.db import session_scope

    registry = Registry(url)
    registry.add_inventory("g1", "inv", f"arn:aws:iam::{_account(0)}:role/i", [REGION])
    integration = registry.add_flowlogs(
        "g1",
        "flows",
        f"arn:aws:iam::{_account(0)}:role/f",
        [f"arn:aws:sns:{REGION}:{_account(0)}:flow-logs"],
    ).id
    paths = {key: path for _, key, path in objects}
    with session_scope(url) as session:
        upsert_objects(
            session,
            [
                ObjectRef(integration, BUCKET, key, "e", path.stat().st_size, loc, DAY)
                for loc, key, path in objects
            ],
            "notification",
        )
    records = 0
    cpu, started = time.process_time(), time.perf_counter()
    while True:
        now = datetime.now(UTC)
        with session_scope(url) as session:
            claimed = claim_objects(session, DAY, "bench", now, max_objects=200)
        if not claimed:
            break
        for c in claimed:
            with session_scope(url) as session:
                out = object_output(session, base, c)
            result = process_object(
                paths[c.key].read_bytes(), out, index, (), name=source_object(c.bucket, c.key)
            )
            records += result.records_loaded
            with session_scope(url) as session:
                finish_object(session, c.id, "bench", "loaded", now, result=result)
    seconds = time.perf_counter() - started
    return {
        "records": records,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(time.process_time() - cpu, 3),
        "records_per_s": round(records / seconds),
    }


def _size(root: Path, pattern: str) -> tuple[int, int]:
    files = [p for p in root.rglob(pattern) if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def time_queries(sources: dict, cases: list, repeat: int) -> list[dict]:
    import duckdb

    from cloudinsights_dagster.flowlogs import queries

    rows = []
    for query, values, raw_files in cases:
        answers = {}
        for source_name, source in sources.items():
            if source is None:
                source = queries.raw_source([str(p) for p in raw_files], CUSTOM_FORMAT)
            con = duckdb.connect()
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                answer = queries.run(con, query, source, DAY, **values)
                times.append(time.perf_counter() - started)
            answers[source_name] = answer
            scan = queries.explain(con, query, source, DAY, **values)
            con.close()
            raw = not source.partitioned
            rows.append(
                {
                    "query": query.name,
                    "source": source_name,
                    "median_seconds": round(statistics.median(times), 4),
                    "runs_seconds": [round(t, 4) for t in times],
                    "files_read": len(raw_files) if raw else scan.files_read,
                    # Without a "Scanning Files: k/n" line DuckDB pruned nothing: it read all.
                    "files_total": len(raw_files) if raw else (scan.files_total or scan.files_read),
                    # The raw text is read whole: its compressed size (DuckDB's profile reports
                    # it for Parquet only).
                    "bytes_read": (
                        sum(p.stat().st_size for p in raw_files) if raw else scan.bytes_read
                    ),
                    "rows": len(answer),
                }
            )
        first = next(iter(answers.values()))
        if any(a != first for a in answers.values()):
            raise AssertionError(f"{query.name}: the sources disagree")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--locations", type=int, default=200)
    parser.add_argument("--objects", type=int, default=12, help="objects per location")
    parser.add_argument("--records", type=int, default=1500, help="records per object")
    parser.add_argument("--enis", type=int, default=40, help="ENIs per location")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out-dir", default=str(ROOT / "bench-out"))
    parser.add_argument("--json-out", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the table and warehouse")
    args = parser.parse_args(argv)

    from cloudinsights_dagster.flowlogs import queries
    from cloudinsights_dagster.flowlogs.enrich import EniIndex
    from cloudinsights_dagster.flowlogs.table import compact_day, table_root

    out_dir = Path(args.out_dir)
    tag = f"{args.locations}x{args.objects}x{args.records}"
    raw_dir = out_dir / f"table-raw-{tag}"
    work = out_dir / f"table-work-{tag}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"generating {raw_dir} ...", file=sys.stderr)
    objects = generate(raw_dir, args.locations, args.objects, args.records, args.enis)
    raw_bytes = sum(p.stat().st_size for _, _, p in objects)
    inv = inventory(args.locations, args.enis)
    index = EniIndex(inv, [_account(n) for n in range(args.locations)])
    url = f"sqlite:///{work / 'warehouse.db'}"
    base = str(work / "flows")
    print("loading ...", file=sys.stderr)
    loaded = load(url, base, objects, index)
    root = Path(table_root(base))
    small_files, small_bytes = _size(root, "*.parquet")
    snapshot = work / "flows-per-object"
    shutil.copytree(base, snapshot)  # the table as loaded, for the queries
    print("compacting ...", file=sys.stderr)
    started, cpu = time.perf_counter(), time.process_time()
    compact_day(url, base, DAY)
    compaction = {
        "seconds": round(time.perf_counter() - started, 3),
        "cpu_seconds": round(time.process_time() - cpu, 3),
    }
    compact_files, compact_bytes = _size(root, "*.parquet")

    location = f"{_account(7)}-{REGION}"
    e = location_enis(7, args.enis)
    of_location = [p for loc, _, p in objects if loc == location]
    all_files = [p for _, _, p in objects]
    cases = [
        (queries.TOP_TALKERS, {"location": location, "vpc": e["vpc"][0]}, of_location),
        (
            queries.REJECTED_TO_INSTANCE,
            {"location": location, "instance": e["instance"][0]},
            of_location,
        ),
        (queries.BYTES_BY_TRAFFIC_PATH, {}, all_files),
    ]
    sources = {
        "raw gzip text": None,
        "table, one file per object": queries.table_source(str(snapshot)),
        "table, compacted": queries.table_source(base),
    }
    print("querying ...", file=sys.stderr)
    results = time_queries(sources, cases, args.repeat)
    report = {
        "day": DAY,
        "locations": args.locations,
        "objects": len(objects),
        "records": loaded["records"],
        "enis_per_location": args.enis,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "raw_gzip_bytes": raw_bytes,
        "load": loaded,
        "table_per_object": {"files": small_files, "bytes": small_bytes},
        "table_compacted": {"files": compact_files, "bytes": compact_bytes, **compaction},
        "bytes_vs_raw_gzip": {
            "per_object": round(small_bytes / raw_bytes, 3),
            "compacted": round(compact_bytes / raw_bytes, 3),
        },
        "queries": results,
    }
    text = json.dumps(report, indent=2, default=str)
    print(text)
    json_out = Path(args.json_out) if args.json_out else out_dir / "bench_table.json"
    json_out.write_text(text)
    print()
    print(_table(report))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _table(report: dict) -> str:
    lines = [
        f"{report['records']:,} records, {report['objects']:,} objects, "
        f"{report['locations']} locations, one day; raw gzip {report['raw_gzip_bytes'] / 1e6:.1f}"
        f" MB; table {report['table_per_object']['bytes'] / 1e6:.1f} MB in "
        f"{report['table_per_object']['files']} files, compacted "
        f"{report['table_compacted']['bytes'] / 1e6:.1f} MB in "
        f"{report['table_compacted']['files']} files "
        f"({report['table_compacted']['seconds']:.1f} s); load "
        f"{report['load']['records_per_s']:,} records/s",
        f"{'query':22s} {'source':28s} {'median s':>9s} {'files read':>12s} {'MB read':>9s}",
    ]
    for r in report["queries"]:
        files = f"{r['files_read']}/{r['files_total']}"
        mb = "-" if r["bytes_read"] is None else f"{r['bytes_read'] / 1e6:.2f}"
        lines.append(
            f"{r['query']:22s} {r['source']:28s} {r['median_seconds']:9.3f} {files:>12s} {mb:>9s}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
