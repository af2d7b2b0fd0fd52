"""Benchmark: real inventory runs, each in a process of its own, as a run launcher starts them.

A moto server (bench/moto_server.py, its own process) holds one network of ~170 resources per
location: accounts reached through AssumeRole, several regions each. The locations are
registered in a SQLite warehouse and run with the code location's `inventory_job` (its own
in-process executor, the partition-range tags the schedule sets) on a real DagsterInstance.
Every location first gets its baseline snapshot (one run over all of them, not measured); the
measured runs are steady-state ticks, as every tick after the first is.

  import_only        a process that imports Dagster and the code location, and exits
  dagster_floor      the same, then a run of three trivial assets on the same instance: what
                     any three-asset run costs here before it does any work
  run_1, run_N       a process running one inventory run of 1 / N locations
  per_location       (run_N - run_1) / (N - 1): the marginal cost of a location in a run
  fixed              run_1 - per_location: what a run costs whatever its size (imports
                     included), and the same less import_only
  aws_requests, assume_role: per location, from the run's tags (cloudinsights/aws_requests...)
  locations_per_core_tick: how many locations one core snapshots in a 5-minute tick, in runs of
                     50 locations (the schedule's size): 300 / (per_location + fixed / 50)

CPU seconds of the run process (getrusage, user + system), wall seconds beside them; medians of
--repeat. --profile writes a cProfile of one N-location run (top functions by own time) to
bench-out/inventory_profile.txt. Prints a table, then the JSON report last.

Usage: python bench/bench_inventory_runs.py [--accounts 5] [--regions 4] [--repeat 3]
       [--json-out bench-out/inventory_runs.json] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import machine_speed  # noqa: E402  (bench/ is on the path from here)

REGIONS = ("us-east-1", "eu-west-1", "eu-central-1", "ap-south-1", "us-west-2", "sa-east-1")
T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
TICK_SECONDS = 300
RUN_SIZE = 50  # locations per run, as schedules/inventory.py chunks them

RUN_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, time
    def cpu():
        u = resource.getrusage(resource.RUSAGE_SELF)
        return u.ru_utime + u.ru_stime
    started = time.perf_counter()
    import dagster as dg
    from cloudinsights_dagster.definitions import defs
    import_cpu, import_wall = cpu(), time.perf_counter() - started
    out = {"import_cpu": import_cpu, "import_wall": import_wall}
    if sys.argv[1] == "floor":
        # Dagster's own floor: a run of three trivial assets, in-process, on the same instance.
        @dg.asset
        def floor_a(): return dg.MaterializeResult(metadata={"n": 1})
        @dg.asset(deps=[floor_a])
        def floor_b(): return dg.MaterializeResult(metadata={"n": 1})
        @dg.asset(deps=[floor_b])
        def floor_c(): return dg.MaterializeResult(metadata={"n": 1})
        floor = dg.Definitions(assets=[floor_a, floor_b, floor_c], jobs=[dg.define_asset_job(
            "floor", executor_def=dg.in_process_executor)])
        assert floor.resolve_job_def("floor").execute_in_process(
            instance=dg.DagsterInstance.get()).success
    elif sys.argv[1] != "import-only":
        first, last, at, profile = sys.argv[1:5]
        from cloudinsights_dagster.run_time import SNAPSHOT_TIME_TAG
        tags = {"dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last, SNAPSHOT_TIME_TAG: at}
        instance = dg.DagsterInstance.get()
        def run():
            return defs.resolve_job_def("inventory_job").execute_in_process(
                instance=instance, tags=tags)
        if profile != "-":
            import cProfile, pstats, io
            prof = cProfile.Profile()
            result = prof.runcall(run)
            stream = io.StringIO()
            pstats.Stats(prof, stream=stream).sort_stats("tottime").print_stats(45)
            pstats.Stats(prof, stream=stream).sort_stats("cumulative").print_stats(45)
            open(profile, "w").write(stream.getvalue())
        else:
            result = run()
        assert result.success
        run_tags = instance.get_run_by_id(result.run_id).tags
        out["tags"] = {k: v for k, v in run_tags.items() if k.startswith("cloudinsights/")}
    out["cpu"], out["wall"] = cpu(), time.perf_counter() - started
    print(json.dumps(out))
    """
)


def _process(env: dict, *args: str, wrap: list[str] | None = None) -> dict:
    done = subprocess.run(
        [*(wrap or []), sys.executable, "-c", RUN_SCRIPT, *args],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-4000:])
    # The last JSON line: a wrapping profiler may print after it.
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def _median(rows: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in rows), 3)


def _tag(rows: list[dict], name: str) -> float | None:
    values = [int(r["tags"][name]) for r in rows if name in r.get("tags", {})]
    return statistics.median(values) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=5)
    parser.add_argument("--regions", type=int, default=4, choices=range(1, len(REGIONS) + 1))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--sample-with",
        help="a sampling profiler command to run the profiled runs under, e.g. "
        "'py-spy record -f raw -o bench-out/inventory.txt --' (every thread, native code too)",
    )
    args = parser.parse_args()

    from moto_server import launch  # bench/: moto in a process of its own

    work = Path(tempfile.mkdtemp(prefix="bench-inventory-"))
    (work / "dagster").mkdir()
    (work / "dagster" / "dagster.yaml").write_text(
        (ROOT / "deploy" / "dagster-local.yaml").read_text()
    )
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "CLOUDINSIGHTS_HOME": str(work / "ci"),
        "CLOUDINSIGHTS_DATABASE_URL": f"sqlite:///{work / 'warehouse.db'}",
        "CLOUDINSIGHTS_FLOWLOGS_START_DATE": "2026-01-01",
        "DAGSTER_HOME": str(work / "dagster"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("AWS_PROFILE", None)
    stack = contextlib.ExitStack()
    try:
        env["AWS_ENDPOINT_URL"] = stack.enter_context(launch())
        os.environ.update(env)
        import dagster as dg

        from cloudinsights_dagster import aws, partitions
        from cloudinsights_dagster.demo.world import build_world
        from cloudinsights_dagster.registry import Registry

        registry = Registry(env["CLOUDINSIGHTS_DATABASE_URL"])
        regions = list(REGIONS[: args.regions])
        n_locations = args.accounts * len(regions)
        print(f"building {n_locations} worlds on moto", file=sys.stderr)
        resources = 0
        for n in range(args.accounts):
            account = f"{100000000000 + 7919 * (n + 1):012d}"
            role = f"arn:aws:iam::{account}:role/cloudinsights-inventory"
            registry.add_inventory("bench", f"inv-{n}", role, regions)
            target = aws.RoleTarget(role, registry.external_id("bench"))
            for m, region in enumerate(regions):
                world = build_world(
                    aws.assumed_role_session(target, region),
                    account,
                    region,
                    10 + len(regions) * n + m,
                )
                resources += len(world.instance_ids)
        keys = [loc.key for loc in registry.locations()]
        with dg.DagsterInstance.get() as instance:
            instance.add_dynamic_partitions(partitions.locations.name, keys)

        ticks = iter(T0 + timedelta(minutes=5 * i) for i in range(10_000))

        def run(first: str, last: str, profile: str = "-", wrap=None) -> dict:
            return _process(env, first, last, next(ticks).isoformat(), profile, wrap=wrap)

        print("baseline tick over every location (not measured)", file=sys.stderr)
        run(keys[0], keys[-1])
        imports, floors, one, many = [], [], [], []
        for i in range(args.repeat):
            print(f"repeat {i + 1}/{args.repeat}", file=sys.stderr)
            imports.append(_process(env, "import-only"))
            floors.append(_process(env, "floor"))
            one.append(run(keys[0], keys[0]))
            many.append(run(keys[0], keys[-1]))
        profile_path = None
        if args.profile:
            out_dir = ROOT / "bench-out"
            out_dir.mkdir(exist_ok=True)
            profile_path = out_dir / "inventory_profile.txt"
            run(keys[0], keys[-1], str(profile_path))
        if args.sample_with:
            import shlex

            run(keys[0], keys[0], wrap=[*shlex.split(args.sample_with.replace("{n}", "1"))])
            run(keys[0], keys[-1], wrap=[*shlex.split(args.sample_with.replace("{n}", "all"))])
    finally:
        stack.close()
        shutil.rmtree(work, ignore_errors=True)

    n = n_locations
    per_loc_cpu = (_median(many, "cpu") - _median(one, "cpu")) / (n - 1)
    per_loc_wall = (_median(many, "wall") - _median(one, "wall")) / (n - 1)
    fixed_cpu = _median(one, "cpu") - per_loc_cpu
    fixed_wall = _median(one, "wall") - per_loc_wall
    import_cpu = _median(imports, "cpu")
    requests = _tag(many, "cloudinsights/aws_requests")
    assumes = _tag(many, "cloudinsights/assume_role_calls")
    throttles = _tag(many, "cloudinsights/aws_throttles")
    per_tick = TICK_SECONDS / (per_loc_cpu + fixed_cpu / RUN_SIZE)
    report = {
        "benchmark": "inventory_runs",
        "locations": n,
        "accounts": args.accounts,
        "regions": len(regions),
        "repeat": args.repeat,
        "load_average": os.getloadavg(),
        "machine": machine_speed(),
        "import_only": {"cpu_s": import_cpu, "wall_s": _median(imports, "wall")},
        "dagster_floor": {"cpu_s": _median(floors, "cpu"), "wall_s": _median(floors, "wall")},
        "run_1": {"cpu_s": _median(one, "cpu"), "wall_s": _median(one, "wall")},
        f"run_{n}": {"cpu_s": _median(many, "cpu"), "wall_s": _median(many, "wall")},
        "per_location": {"cpu_s": round(per_loc_cpu, 4), "wall_s": round(per_loc_wall, 4)},
        "fixed": {
            "cpu_s": round(fixed_cpu, 3),
            "wall_s": round(fixed_wall, 3),
            "cpu_s_beyond_imports": round(fixed_cpu - import_cpu, 3),
            "target_cpu_s": 2.0,
        },
        "aws_requests_per_location": requests / n if requests is not None else None,
        "assume_role_per_location": assumes / n if assumes is not None else None,
        "aws_throttles": throttles,
        "locations_per_core_tick": round(per_tick),
        "profile": str(profile_path) if profile_path else None,
    }
    rows = [
        ("process that only imports", report["import_only"]),
        ("the same + a run of 3 trivial assets (Dagster's floor)", report["dagster_floor"]),
        ("run of 1 location", report["run_1"]),
        (f"run of {n} locations", report[f"run_{n}"]),
        ("per location", report["per_location"]),
        ("run fixed cost", report["fixed"]),
    ]
    print("| figure | CPU-s | wall s |")
    print("| --- | --- | --- |")
    for name, fig in rows:
        print(f"| {name} | {fig['cpu_s']} | {fig['wall_s']} |")
    print(f"| fixed cost beyond the imports | {report['fixed']['cpu_s_beyond_imports']} | |")
    print(f"| AWS requests per location | {report['aws_requests_per_location']} | |")
    print(f"| AssumeRole per location | {report['assume_role_per_location']} | |")
    print(f"| locations per core per 5-minute tick | {report['locations_per_core_tick']} | |")
    text = json.dumps(report, indent=2)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
