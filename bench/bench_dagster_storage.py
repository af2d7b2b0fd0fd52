"""Benchmark: Dagster storage added per location per inventory tick.

Builds a world per location on a moto server on 127.0.0.1 (several account ids reached through
AssumeRole, several regions each), registers them, then runs the real `inventory_job` of the
code location (its own executor, partition-range tags as the schedule sets them) on a real
DagsterInstance: a temporary DAGSTER_HOME with deploy/dagster-local.yaml (SQLite storage, local
compute logs). Two ticks:
the first is every location's baseline, the second the steady state (one change in one
location). For each tick it counts what the runs added:

  event_bytes     sum of the serialized event-log entries (`instance.all_logs(run_id)`), what a
                  PostgreSQL `event_logs` table stores per row (its indexes come on top)
  compute_bytes   the compute-log files (stdout/stderr captured per step or per run)
  sqlite_bytes    growth of the SQLite files under $DAGSTER_HOME (page-granular)

and the same divided by the locations of the tick. Prints a table, then the JSON report last.

Usage: python bench/bench_dagster_storage.py [--accounts 6] [--regions 4] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REGIONS = ("us-east-1", "eu-west-1", "eu-central-1", "ap-south-1", "us-west-2", "sa-east-1")
T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
TARGET_BYTES_PER_LOCATION = 10_000


def _inventory_job():
    from cloudinsights_dagster.definitions import defs

    return defs.resolve_job_def("inventory_job")


def _tree_bytes(folder: Path, suffixes: tuple[str, ...]) -> int:
    return sum(
        p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name.endswith(suffixes)
    )


def _run_tick(instance, keys: list[str], at: datetime, per_run: int) -> dict:
    import dagster as dg
    from dagster._serdes import serialize_value

    from cloudinsights_dagster.run_time import SNAPSHOT_TIME_TAG
    from cloudinsights_dagster.schedules.inventory import chunk_runs

    storage = Path(instance.root_directory) / "storage"
    compute_before = _tree_bytes(storage, (".out", ".err", ".complete"))
    sqlite_before = _tree_bytes(Path(instance.root_directory), (".db",))
    started = time.perf_counter()
    runs, events, event_bytes, by_type, by_asset, dumped = [], 0, 0, {}, {}, set()
    for request in chunk_runs(keys, per_run, at.isoformat()):
        tags = {**request.tags, SNAPSHOT_TIME_TAG: at.isoformat()}
        with dg.execute_job(dg.reconstructable(_inventory_job), instance, tags=tags) as result:
            if not result.success:
                raise SystemExit(f"inventory run {result.run_id} failed")
            runs.append(result.run_id)
        for entry in instance.all_logs(result.run_id):
            size = len(serialize_value(entry))
            events += 1
            event_bytes += size
            kind = entry.dagster_event.event_type_value if entry.dagster_event else "log"
            by_type[kind] = by_type.get(kind, 0) + size
            if os.environ.get("BENCH_DUMP_EVENTS") and kind not in dumped:
                dumped.add(kind)
                print(f"--- {kind} ({size} B)\n{serialize_value(entry)}", file=sys.stderr)
            if entry.dagster_event and entry.dagster_event.asset_key:
                asset = f"{kind} {entry.dagster_event.asset_key.to_user_string()}"
                by_asset[asset] = by_asset.get(asset, 0) + size
    seconds = time.perf_counter() - started
    compute = _tree_bytes(storage, (".out", ".err", ".complete")) - compute_before
    sqlite = _tree_bytes(Path(instance.root_directory), (".db",)) - sqlite_before
    n = len(keys)
    return {
        "locations": n,
        "runs": len(runs),
        "seconds": round(seconds, 2),
        "events": events,
        "event_bytes": event_bytes,
        "compute_bytes": compute,
        "sqlite_bytes": sqlite,
        "event_bytes_per_location": round(event_bytes / n),
        "compute_bytes_per_location": round(compute / n),
        "total_bytes_per_location": round((event_bytes + compute) / n),
        "event_bytes_by_type": dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
        "event_bytes_by_asset": dict(sorted(by_asset.items(), key=lambda kv: -kv[1])),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=6)
    parser.add_argument("--regions", type=int, default=4, choices=range(1, len(REGIONS) + 1))
    parser.add_argument("--per-run", type=int, default=50, help="locations per run")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-dagster-storage-"))
    home = work / "dagster"
    home.mkdir()
    # The project's local instance settings (SQLite storage, local compute logs, INFO console).
    (home / "dagster.yaml").write_text((ROOT / "deploy" / "dagster-local.yaml").read_text())
    os.environ.update(
        DAGSTER_HOME=str(home),
        CLOUDINSIGHTS_HOME=str(work / "ci"),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    os.environ.pop("CLOUDINSIGHTS_DATABASE_URL", None)
    os.environ.pop("AWS_PROFILE", None)

    from moto.server import ThreadedMotoServer

    # moto's request log would land in the in-process run's compute log: not the product's bytes.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    try:
        import dagster as dg

        from cloudinsights_dagster import aws, partitions
        from cloudinsights_dagster.demo.world import build_world
        from cloudinsights_dagster.registry import Registry
        from cloudinsights_dagster.settings import load_settings

        registry = Registry(load_settings().database_url)
        regions = list(REGIONS[: args.regions])
        first_world = None
        print(f"building {args.accounts * len(regions)} worlds on moto", file=sys.stderr)
        for n in range(args.accounts):
            account = f"{100000000000 + 7919 * (n + 1):012d}"
            role = f"arn:aws:iam::{account}:role/cloudinsights-inventory"
            registry.add_inventory("bench", f"inv-{n}", role, regions)
            external_id = registry.external_id("bench")
            for m, region in enumerate(regions):
                session = aws.assumed_role_session(aws.RoleTarget(role, external_id), region)
                world = build_world(session, account, region, 10 + len(regions) * n + m)
                first_world = first_world or (session, world)
        keys = [loc.key for loc in registry.locations()]

        ticks = []
        with dg.DagsterInstance.get() as instance:
            instance.add_dynamic_partitions(partitions.locations.name, keys)
            print("tick 1 (baselines)", file=sys.stderr)
            ticks.append({"tick": "baseline", **_run_tick(instance, keys, T0, args.per_run)})
            session, world = first_world
            ec2 = aws.client(session, "ec2", world.region)
            ec2.create_tags(Resources=[world.instance_ids[0]], Tags=[{"Key": "env", "Value": "x"}])
            print("tick 2 (steady state)", file=sys.stderr)
            at = T0 + timedelta(minutes=5)
            ticks.append({"tick": "steady", **_run_tick(instance, keys, at, args.per_run)})
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    header = ("tick", "locations", "runs", "seconds", "events", "event B/loc", "compute B/loc")
    print(" | ".join(header))
    for t in ticks:
        print(
            f"{t['tick']} | {t['locations']} | {t['runs']} | {t['seconds']} | {t['events']} | "
            f"{t['event_bytes_per_location']} | {t['compute_bytes_per_location']}"
        )
    steady = ticks[-1]
    report = {
        "benchmark": "dagster_storage",
        "accounts": args.accounts,
        "regions": len(regions),
        "locations_per_run": args.per_run,
        "target_bytes_per_location": TARGET_BYTES_PER_LOCATION,
        "steady_total_bytes_per_location": steady["total_bytes_per_location"],
        "meets_target": steady["total_bytes_per_location"] <= TARGET_BYTES_PER_LOCATION,
        "ticks": ticks,
    }
    text = json.dumps(report, indent=2)
    if args.json_out:
        args.json_out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
