"""Benchmark: what the views cost per location-day, next to what processing the records costs.

Builds (deterministically) one location with a few hundred ENIs (bench_flowlogs' inventory and
record mix, every ENI of the location's account), its security groups and network ACLs in the
warehouse (a rule removed at noon, so change impacts and rule history are exercised), and one
day of flow-log objects (one per five-minute window by default, records spilling into the next
window like real deliveries). Then, in one run:

  process_object      parse + check + enrich + write of every object, without the views (CPU-s)
  with partials       the same objects with the views' PartialBuilder on the pipeline's batches;
                      partial CPU is the builder's own thread CPU, plus building and writing
  refresh (partials)  refresh_partition_views of the whole day from the partials: merge, reasons,
                      columnar Parquet, capped relational rows, change impacts (CPU-s and wall)
  refresh (one hour)  refresh_run_views of the last hour's objects (a run draining an hour)
  refresh (1 object)  refresh_run_views of the last object alone (a live run of one file)
  refresh (records)   the whole day again with the partials moved away: from the records

and the size of what a location-day adds: relational rows per view (capped), columnar rows and
bytes per view (full resolution). Objects are processed alternately with and without partials
so that load from elsewhere hits both alike. Prints a table, then the JSON report last.

Usage: python bench/bench_views.py [--enis 300] [--objects 288] [--records-per-object 20000]
       [--database-url URL] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import bench_flowlogs  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from cloudinsights_dagster.flowlogs.enrich import EniIndex  # noqa: E402
from cloudinsights_dagster.flowlogs.ledger import ObjectRef, upsert_object  # noqa: E402
from cloudinsights_dagster.flowlogs.writer import process_object  # noqa: E402
from cloudinsights_dagster.inventory.model import (  # noqa: E402
    ApiOutcome,
    CollectionResult,
    ResourceRecord,
)
from cloudinsights_dagster.inventory.store import (  # noqa: E402
    compute_pending_changes,
    record_snapshot,
)
from cloudinsights_dagster.registry import Registry  # noqa: E402
from cloudinsights_dagster.views import columnar  # noqa: E402
from cloudinsights_dagster.views.partials import PartialBuilder, partial_path  # noqa: E402
from cloudinsights_dagster.views.refresh import (  # noqa: E402
    refresh_partition_views,
    refresh_run_views,
)
from cloudinsights_dagster.warehouse import schema as s  # noqa: E402
from cloudinsights_dagster.warehouse.db import dispose_all, session_scope  # noqa: E402

ACCOUNT = bench_flowlogs.MONITORED_ACCOUNTS[0]
REGION = "us-east-1"
LOCATION = f"{ACCOUNT}-{REGION}"
DAY = "2026-01-01"
DAY_START = datetime(2026, 1, 1, tzinfo=UTC)
BUCKET = "flow-logs"
HEADER = " ".join(bench_flowlogs.BENCH_FORMAT)
VIEWS = ("entity_throughput", "rejected_traffic", "reject_reasons")


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def build_inventory(n_enis: int) -> pa.Table:
    table = bench_flowlogs.make_inventory(n_enis)
    owner = table.schema.get_field_index("owner_account_id")
    return table.set_column(owner, "owner_account_id", pa.array([ACCOUNT] * n_enis))


def inventory_records(table: pa.Table, without_rule: bool) -> list[ResourceRecord]:
    """The warehouse's view of the same inventory: ENIs, their groups, one ACL per subnet."""
    records = []
    groups = sorted({g for gs in table["security_group_ids"].to_pylist() for g in gs})
    for n, group in enumerate(groups):
        rules = [
            {"key": "tcp/22/10.0.0.0/8", "protocol": "tcp", "from_port": 22, "to_port": 22,
             "peer": "10.0.0.0/8"},
            {"key": f"tcp/5432/{groups[(n + 1) % len(groups)]}", "protocol": "tcp",
             "from_port": 5432, "to_port": 5432, "peer_type": "security_group",
             "peer": groups[(n + 1) % len(groups)]},
        ]  # fmt: skip
        if not (without_rule and n % 4 == 0):  # a quarter of the groups lose 443 at noon
            rules.append(
                {
                    "key": "tcp/443/0.0.0.0/0",
                    "protocol": "tcp",
                    "from_port": 443,
                    "to_port": 443,
                    "peer": "0.0.0.0/0",
                }  # fmt: skip
            )
        data = {
            "group_id": group,
            "vpc_id": None,
            "ip_permissions": rules,
            "ip_permissions_egress": [
                {"key": "all/0.0.0.0/0", "protocol": "all", "peer": "0.0.0.0/0"}
            ],
        }
        records.append(ResourceRecord("security_group", group, data))
    subnets = sorted(
        set(zip(table["subnet_id"].to_pylist(), table["vpc_id"].to_pylist(), strict=True))
    )
    for n, (subnet, vpc) in enumerate(subnets):
        entries = [
            {"key": f"{d}/100", "direction": d, "rule_number": 100, "rule_action": "allow",
             "protocol": "all", "cidr_block": "0.0.0.0/0"}
            for d in ("ingress", "egress")
        ]  # fmt: skip
        if n % 5 == 0:
            entries.append(
                {"key": "ingress/50", "direction": "ingress", "rule_number": 50,
                 "rule_action": "deny", "protocol": "all", "cidr_block": "100.0.0.0/6"}
            )  # fmt: skip
        acl = f"acl-{n:05d}"
        records.append(
            ResourceRecord(
                "network_acl",
                acl,
                {
                    "network_acl_id": acl,
                    "vpc_id": vpc,
                    "subnet_ids": [subnet],
                    "entries": entries,
                    "is_default": False,
                },
            )  # fmt: skip
        )
    for row in table.to_pylist():
        records.append(
            ResourceRecord(
                "network_interface",
                row["interface_id"],
                {
                    "interface_id": row["interface_id"],
                    "instance_id": row["instance_id"],
                    "subnet_id": row["subnet_id"],
                    "vpc_id": row["vpc_id"],
                    "owner_id": ACCOUNT,
                    "security_group_ids": row["security_group_ids"],
                    "private_ips": row["private_ips"],
                    "public_ips": row["public_ips"],
                    "availability_zone": row["availability_zone"],
                },
            )
        )
    return records


def setup_warehouse(url: str, table: pa.Table) -> tuple[Registry, int]:
    registry = Registry(url)
    registry.add_inventory("bench", "inv", f"arn:aws:iam::{ACCOUNT}:role/inv", [REGION])
    flows = registry.add_flowlogs(
        "bench",
        "flows",
        f"arn:aws:iam::{ACCOUNT}:role/flows",
        [f"arn:aws:sns:{REGION}:{ACCOUNT}:flow-logs"],
    )
    types = ("security_group", "network_acl", "network_interface")
    outcomes = [ApiOutcome(t, f"ec2:{t}", "ok", None, 0) for t in types]
    with session_scope(url) as session:
        for moment, without in ((DAY_START - timedelta(hours=1), False),
                                (DAY_START + timedelta(hours=12), True)):  # fmt: skip
            result = CollectionResult(
                LOCATION, ACCOUNT, REGION, inventory_records(table, without), outcomes
            )
            record_snapshot(session, result, moment)
        compute_pending_changes(session, LOCATION)
    return registry, flows.id


def make_objects(folder: Path, inventory: pa.Table, n_objects: int, per_object: int) -> list:
    """One gzip object per five-minute window of the day (records over ten minutes)."""
    objects = []
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_objects):
        bench_flowlogs.BASE_TIME = int(DAY_START.timestamp()) + 300 * (i % 288)
        lines = bench_flowlogs.generate_records(inventory, per_object, seed=1000 + i)
        key = f"AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/2026/01/01/obj-{i:04d}.log.gz"
        path = folder / f"obj-{i:04d}.log.gz"
        bench_flowlogs.write_gzip_lines(path, HEADER, lines)
        objects.append((key, path))
    return objects


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--enis", type=int, default=300)
    ap.add_argument("--objects", type=int, default=288)
    ap.add_argument("--records-per-object", type=int, default=20000)
    ap.add_argument("--database-url", default=None, help="default: SQLite in a temp folder")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-views-"))
    try:
        return run(args, work)
    finally:
        dispose_all()
        shutil.rmtree(work, ignore_errors=True)


def run(args, work: Path) -> int:
    url = args.database_url or f"sqlite:///{work / 'warehouse.db'}"
    base = str(work / "flows")
    t = time.perf_counter()
    inventory = build_inventory(args.enis)
    registry, integration_id = setup_warehouse(url, inventory)
    objects = make_objects(work / "src", inventory, args.objects, args.records_per_object)
    print(f"built the world in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    index = EniIndex(inventory, [ACCOUNT])

    plain_cpu = with_cpu = partial_cpu = 0.0
    records = 0
    run_id = "bench-last-hour"
    for i, (key, path) in enumerate(objects):
        body = path.read_bytes()
        out = f"{base}/integration={integration_id}/{BUCKET}/{key.removesuffix('.log.gz')}.parquet"
        order = (False, True) if i % 2 == 0 else (True, False)
        for with_views in order:
            before = cpu()
            if with_views:
                builder = PartialBuilder()
                result = process_object(body, out, index, (), on_batch=builder.add)
                assert builder.write_or_remove(partial_path(base, integration_id, BUCKET, key), out)
                with_cpu += cpu() - before
                partial_cpu += builder.cpu_seconds
            else:
                result = process_object(body, out, index, ())
                plain_cpu += cpu() - before
        records += result.records_loaded
        with session_scope(url) as session:
            upsert_object(
                session,
                ObjectRef(integration_id, BUCKET, key, f"e{i}", len(body), LOCATION, DAY),
                "notification",
                status="loaded",
            )
            row = session.scalar(
                sa.select(s.FlowLogObject).where(s.FlowLogObject.object_key == key)
            )
            row.output_path = out
            row.records_loaded = result.records_loaded
            row.first_start, row.last_end = result.first_start, result.last_end
            if i >= len(objects) - 12:
                row.claimed_by_run = run_id

    def timed(fn):
        started_cpu, started = cpu(), time.perf_counter()
        reports = fn()
        return reports, cpu() - started_cpu, time.perf_counter() - started

    now = datetime.now(UTC)
    day_reports, day_cpu, day_wall = timed(
        lambda: refresh_partition_views(url, LOCATION, DAY, now, views_base=base)
    )
    hour_reports, hour_cpu, hour_wall = timed(
        lambda: refresh_run_views(url, run_id, now, views_base=base)
    )
    with session_scope(url) as session:  # a live run of one object
        session.execute(
            sa.update(s.FlowLogObject)
            .where(s.FlowLogObject.object_key == objects[-1][0])
            .values(claimed_by_run="bench-last-object")
        )
    _, object_cpu, object_wall = timed(
        lambda: refresh_run_views(url, "bench-last-object", now, views_base=base)
    )
    with session_scope(url) as session:
        relational = {
            model.__tablename__: session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (s.EntityThroughput, s.RejectedTraffic, s.RejectReason)
        }
    columnar_rows = {v: columnar.read_view(base, v).num_rows for v in VIEWS}
    columnar_bytes = {v: folder_size(Path(base) / "views" / v) for v in VIEWS}
    partial_bytes = folder_size(Path(base) / "views" / "_partials")
    reasons = columnar.read_view(base, "reject_reasons")
    explained = pc.sum(reasons["flows"]).as_py()

    shutil.move(str(Path(base) / "views" / "_partials"), str(work / "partials-away"))
    record_reports, record_cpu, record_wall = timed(
        lambda: refresh_partition_views(url, LOCATION, DAY, now, views_base=base)
    )
    assert all(r.partials_used == 0 for r in record_reports)
    assert day_reports[0].partials_used == day_reports[0].objects == len(objects)
    per_million = 1e6 / records
    day = day_reports[0]
    report = {
        "benchmark": "views",
        "enis": args.enis,
        "objects": len(objects),
        "records": records,
        "load_average": os.getloadavg()[0],
        "process_object_cpu_s_per_1m": round(plain_cpu * per_million, 3),
        "process_object_with_partials_cpu_s_per_1m": round(with_cpu * per_million, 3),
        "partials_cpu_s_per_1m": round(partial_cpu * per_million, 3),
        "refresh_day_cpu_s": round(day_cpu, 3),
        "refresh_day_wall_s": round(day_wall, 3),
        "refresh_day_cpu_s_per_1m": round(day_cpu * per_million, 3),
        "refresh_last_hour_cpu_s": round(hour_cpu, 3),
        "refresh_last_hour_wall_s": round(hour_wall, 3),
        "refresh_one_object_run_cpu_s": round(object_cpu, 3),
        "refresh_one_object_run_wall_s": round(object_wall, 3),
        "refresh_day_from_records_cpu_s": round(record_cpu, 3),
        "refresh_day_from_records_wall_s": round(record_wall, 3),
        "views_cpu_fraction_of_process_object": round((partial_cpu + day_cpu) / plain_cpu, 3),
        "partials_cpu_fraction_of_process_object": round(partial_cpu / plain_cpu, 3),
        "refresh_windows": day.windows,
        "change_impacts": day.impacts,
        "rejected_flows_explained": explained,
        "relational_rows_per_location_day": relational,
        "relational_rows_total": sum(relational.values()),
        "columnar_rows_per_location_day": columnar_rows,
        "columnar_bytes_per_location_day": columnar_bytes,
        "partial_bytes_per_location_day": partial_bytes,
        "hour_refresh_windows": hour_reports[0].windows if hour_reports else 0,
    }
    rows = [
        ("process_object (no views)", f"{report['process_object_cpu_s_per_1m']:.2f} CPU-s/1M"),
        ("partial building + write", f"{report['partials_cpu_s_per_1m']:.2f} CPU-s/1M"),
        ("refresh day (partials)", f"{day_cpu:.2f} CPU-s, {day_wall:.2f} s wall"),
        ("refresh last hour (12 obj)", f"{hour_cpu:.2f} CPU-s, {hour_wall:.2f} s wall"),
        ("refresh one object's run", f"{object_cpu:.2f} CPU-s, {object_wall:.2f} s wall"),
        ("refresh day (records)", f"{record_cpu:.2f} CPU-s, {record_wall:.2f} s wall"),
        ("views / process_object", f"{report['views_cpu_fraction_of_process_object']:.2f}x"),
        ("relational rows / loc-day", str(report["relational_rows_total"])),
    ]
    rows += [
        (f"  columnar {v}", f"{columnar_rows[v]} rows, {columnar_bytes[v] / 1e6:.2f} MB")
        for v in VIEWS
    ]
    rows.append(("  partials", f"{partial_bytes / 1e6:.2f} MB"))
    print(
        f"{records} records, {len(objects)} objects, {args.enis} ENIs, load {os.getloadavg()[0]:.2f}"
    )
    for name, value in rows:
        print(f"{name:<30}{value:>36}")
    text = json.dumps(report, indent=2)
    out = Path(args.json_out) if args.json_out else ROOT / "bench-out" / "bench_views.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
