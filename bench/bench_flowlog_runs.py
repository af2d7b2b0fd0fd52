"""Benchmark: flow-log runs as users run them. A moto server, an SQLite warehouse, a Dagster
instance on disk; objects uploaded to S3, notified through SNS -> SQS, taken in by the real
`flowlog_queue_sensor`, then drained by `flowlog_job` runs, each in its own process (as Dagster's
run launcher starts them: interpreter, imports, code location, the run).

Figures (CPU seconds of the run process from getrusage, wall seconds beside them; medians of
--repeat runs, the objects reset to pending between repeats):

  import_only      a process that imports Dagster and the code location, and exits
  dagster_floor    the same, then a run of a one-op job that does nothing on the same instance:
                   what any Dagster run costs beyond the imports (instance, storage, events)
  run_1_tiny       a run of one 10-record object
  run_many_tiny    a run of --tiny objects of 10 records
  run_big          a run of --big objects of --records records each
  process_object   the same big objects through `process_object` in one process (downloaded
                   once, ENI index built once): the pipeline's own speed, measured in this run

  per_object_cost  (run_many_tiny - run_1_tiny) / (tiny - 1)
  run_fixed_cost   run_1_tiny - per_object_cost (imports included) and less import_only
  records_per_s    of run_big (CPU and wall) against process_object's, as a ratio

Prints the JSON report, then a table. Usage: python bench/bench_flowlog_runs.py [--repeat 3]
[--tiny 200] [--big 20] [--records 50000] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The helpers the tests and benches share (flowlog_samples) are not in the package.
sys.path.insert(0, str(ROOT / "tests" / "support"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import machine_speed  # noqa: E402  (bench/ is on the path from here)

ACCOUNT = "123456789012"  # moto's own account: SNS -> SQS is modelled within one account
REGION = "us-east-1"
LOCATION = f"{ACCOUNT}-{REGION}"
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

RUN_SCRIPT = textwrap.dedent(
    """
    import json, os, resource, sys, time
    started = time.perf_counter()
    import dagster as dg
    from cloudinsights_dagster.definitions import defs
    imported = time.perf_counter()
    profile_to = os.environ.get("BENCH_PROFILE_RUN")
    if profile_to:
        import cProfile
        profile = cProfile.Profile()
        profile.enable()
    steps = {}
    if sys.argv[1] == "dagster-floor":
        # Dagster's own cost of a run: the instance, run storage, events, a one-op job.
        @dg.op
        def noop():
            return None

        @dg.job
        def floor():
            noop()

        assert floor.execute_in_process(instance=dg.DagsterInstance.get()).success
    elif sys.argv[1] != "import-only":
        config = {"ops": {"flowlog_records": {"config": {"max_objects": 100000}}}}
        result = defs.resolve_job_def("flowlog_job").execute_in_process(
            instance=dg.DagsterInstance.get(), partition_key=sys.argv[1], run_config=config,
            tags={"cloudinsights/kind": "flowlogs"},
        )
        assert result.success
        steps = {
            e.step_key: e.event_specific_data.duration_ms / 1000
            for e in result.all_events
            if e.event_type_value == "STEP_SUCCESS"
        }
    if profile_to:
        profile.disable()
        profile.dump_stats(profile_to)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"cpu": usage.ru_utime + usage.ru_stime,
                      "wall": time.perf_counter() - started,
                      "import_wall": imported - started, "steps": steps}))
    """
)


_RUNS = itertools.count()


def _run_process(env: dict, day: str) -> dict:
    # BENCH_SAMPLE_WITH: a sampling profiler to run each run process under, "{n}" numbering
    # the runs, e.g. 'py-spy record -r 250 -f raw -o /tmp/spy-{n}.txt --' (every thread).
    wrap = os.environ.get("BENCH_SAMPLE_WITH", "").replace("{n}", str(next(_RUNS)))
    out = subprocess.run(
        [*shlex.split(wrap), sys.executable, "-c", RUN_SCRIPT, day],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    # The last JSON line: a wrapping profiler may print after it.
    return json.loads(next(x for x in reversed(out.stdout.splitlines()) if x.startswith("{")))


def _dagster_yaml(storage_url: str | None) -> str:
    """The instance of the bench: SQLite storage in DAGSTER_HOME (the default), or PostgreSQL
    (as deploy/dagster.yaml, which production uses) at `storage_url`."""
    text = "telemetry:\n  enabled: false\n"
    if storage_url:
        text += f"storage:\n  postgres:\n    postgres_url: {storage_url}\n"
    return text


@contextlib.contextmanager
def _postgres_database(admin_url: str):
    """A fresh database for the instance storage, dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"bench_dg_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def _world(work: Path, storage_url: str | None = None):

    import dagster as dg
    from moto_server import launch  # bench/: moto in its own process, thread-safe SQS

    server = contextlib.ExitStack()
    endpoint = server.enter_context(launch())
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
        "CLOUDINSIGHTS_DATABASE_URL": f"sqlite:///{work / 'warehouse.db'}",
        "CLOUDINSIGHTS_FLOWLOGS_OUTPUT": str(work / "flows"),
        "CLOUDINSIGHTS_FLOWLOGS_START_DATE": "2026-01-01",
        "DAGSTER_HOME": str(work / "dagster"),
    }
    (work / "dagster").mkdir()
    (work / "dagster" / "dagster.yaml").write_text(_dagster_yaml(storage_url))
    os.environ.update(env)

    from cloudinsights_dagster import aws, partitions
    from cloudinsights_dagster.assets.inventory import config_changes, inventory_snapshot
    from cloudinsights_dagster.demo.world import build_world
    from cloudinsights_dagster.flowlogs.queue import setup_queue
    from cloudinsights_dagster.flowlogs.subscriptions import subscribe_due_topics
    from cloudinsights_dagster.registry import Registry
    from cloudinsights_dagster.resources import FlowLogQueueResource, WarehouseResource
    from cloudinsights_dagster.run_time import SNAPSHOT_TIME_TAG

    registry = Registry(env["CLOUDINSIGHTS_DATABASE_URL"])
    role = f"arn:aws:iam::{ACCOUNT}:role/cloudinsights"
    session = aws.base_session(REGION)
    topic = aws.client(session, "sns").create_topic(Name="flow-logs")["TopicArn"]
    registry.add_inventory("bench", "inv", role, [REGION])
    registry.add_flowlogs("bench", "flows", role, [topic])
    world = build_world(
        aws.assumed_role_session(aws.RoleTarget(role, "x" * 20), REGION), ACCOUNT, REGION
    )
    queue = setup_queue(session, "collector", REGION, [topic])
    subscribe_due_topics(registry, session, queue.queue_arn, datetime.now(UTC))
    aws.client(session, "s3").put_bucket_notification_configuration(
        Bucket=world.flow_log_bucket,
        NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    resources = {
        "warehouse": WarehouseResource(),
        "flowlog_queue": FlowLogQueueResource(queue_url=queue.queue_url, region=REGION),
    }
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(partitions.locations.name, [LOCATION])
    assert dg.materialize(
        [inventory_snapshot, config_changes],
        instance=instance,
        resources=resources,
        partition_key=LOCATION,
        tags={SNAPSHOT_TIME_TAG: T0.isoformat()},
    ).success
    return server, env, registry, world, resources, instance


def _enis(world):
    from flowlog_samples import enis_from_ec2

    from cloudinsights_dagster import aws

    ec2 = aws.client(aws.base_session(REGION), "ec2")
    return enis_from_ec2(ec2, world.eni_ids)


def _upload_and_take_in(world, resources, instance, day_offset: int, count: int, records: int):
    """Upload `count` objects of a day (T0 + day_offset days) and take them in by the sensor."""
    import dagster as dg
    from flowlog_samples import flow_log_gzip, object_key, sample_records

    from cloudinsights_dagster import aws
    from cloudinsights_dagster.definitions import defs
    from cloudinsights_dagster.sensors.flowlogs import flowlog_queue_sensor

    s3 = aws.client(aws.base_session(REGION), "s3")
    enis = _enis(world)
    start = int(T0.timestamp()) + 86400 * day_offset + 600
    bodies = []
    base_rows = sample_records(ACCOUNT, enis, start, records, seed=day_offset)
    body = flow_log_gzip(base_rows)
    for i in range(count):
        key = object_key(ACCOUNT, REGION, world.flow_log_id, start + i, suffix=f"b{i}")
        s3.put_object(Bucket=world.flow_log_bucket, Key=key, Body=body)
        bodies.append(body)
    taken = 0
    for _ in range(20):
        with dg.build_sensor_context(
            instance=instance,
            instance_ref=instance.get_ref(),
            resources=resources,
            definitions=defs,
        ) as ctx:
            flowlog_queue_sensor.evaluate_tick(ctx)
        taken = _pending(day_offset)
        if taken >= count:
            break
    assert taken == count, f"sensor took in {taken} of {count} objects"
    return bodies


def _day(offset: int) -> str:
    return (T0.date().fromordinal(T0.date().toordinal() + offset)).isoformat()


def _pending(day_offset: int) -> int:
    import sqlalchemy as sa

    from cloudinsights_dagster.settings import load_settings
    from cloudinsights_dagster.warehouse import schema as s
    from cloudinsights_dagster.warehouse.db import session_scope

    with session_scope(load_settings().database_url) as session:
        return session.scalar(
            sa.select(sa.func.count()).where(
                s.FlowLogObject.day == _day(day_offset), s.FlowLogObject.status == "pending"
            )
        )


def _reset(day: str) -> None:
    import sqlalchemy as sa

    from cloudinsights_dagster.settings import load_settings
    from cloudinsights_dagster.warehouse import schema as s
    from cloudinsights_dagster.warehouse.db import session_scope

    with session_scope(load_settings().database_url) as session:
        session.execute(
            sa.update(s.FlowLogObject)
            .where(s.FlowLogObject.day == day)
            .values(status="pending", claimed_by_run=None, lease_expires_at=None, attempts=0)
        )


def _timed_runs(env, day, repeat) -> list[dict]:
    figures = []
    for _ in range(repeat):
        _reset(day)
        figures.append(_run_process({**os.environ, **env}, day))
    return figures


def _process_object_baseline(registry, bodies, day: str, work: Path) -> dict:
    """The big objects through process_object in this process: the pipeline's own speed."""
    from cloudinsights_dagster.flowlogs.process import EnrichmentIndexes
    from cloudinsights_dagster.flowlogs.writer import process_object

    index = EnrichmentIndexes(registry, day).index("bench", REGION)
    records = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i, body in enumerate(bodies):
        result = process_object(body, str(work / "baseline" / f"{i}.parquet"), index, ())
        records += result.records_loaded
    return {
        "cpu": time.process_time() - cpu0,
        "wall": time.perf_counter() - wall0,
        "records": records,
    }


def _drain_in_process(registry, day: str, work: Path, workers: int) -> dict:
    """`drain_day` on the big objects in this process, without Dagster or the views: the run
    loop's own speed (claims, GETs from moto, processing, ledger), `workers` objects at a time."""
    from cloudinsights_dagster.flowlogs.process import drain_day

    _reset(day)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    report = drain_day(registry, day, str(work / f"drain-{workers}"), "bench", workers=workers)
    assert report.objects["loaded"] == report.claims, report.objects
    return {"cpu": time.process_time() - cpu0, "wall": time.perf_counter() - wall0}


def _median(figures: list[dict], key: str) -> float:
    return statistics.median(f[key] for f in figures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tiny", type=int, default=200)
    parser.add_argument("--big", type=int, default=20)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--dagster-storage",
        default="sqlite",
        help="the instance's storage: sqlite (in DAGSTER_HOME) or a PostgreSQL admin URL, e.g. "
        "postgresql+psycopg2://root@127.0.0.1:5432/test, in which a fresh database is made and dropped "
        "(deploy/dagster.yaml's storage)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="also cProfile one run of 1 tiny object and one of the big objects (main thread, "
        "after the imports) into this folder: run_1_tiny.prof, run_many_tiny.prof, run_big.prof",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as tmp:
        work = Path(tmp)
        storage = contextlib.ExitStack()
        storage_url = None
        if args.dagster_storage != "sqlite":
            storage_url = storage.enter_context(_postgres_database(args.dagster_storage))
        server, env, registry, world, resources, instance = _world(work, storage_url)
        server.push(storage)  # the database goes after moto
        try:
            print("uploading and taking in objects ...", file=sys.stderr)
            _upload_and_take_in(world, resources, instance, 0, 1, 10)
            _upload_and_take_in(world, resources, instance, 1, args.tiny, 10)
            bodies = _upload_and_take_in(world, resources, instance, 2, args.big, args.records)
            full_env = {**os.environ, **env}
            print("timing runs ...", file=sys.stderr)
            # Interleaved repeats: machine noise falls on every figure alike.
            imports, floors, one, many, big, baseline = [], [], [], [], [], []
            drains: dict[int, list[dict]] = {1: [], 2: []}
            for _ in range(args.repeat):
                imports.append(_run_process(full_env, "import-only"))
                floors.append(_run_process(full_env, "dagster-floor"))
                one += _timed_runs(env, _day(0), 1)
                many += _timed_runs(env, _day(1), 1)
                big += _timed_runs(env, _day(2), 1)
                baseline.append(_process_object_baseline(registry, bodies, _day(2), work))
                for workers, figures in drains.items():
                    figures.append(_drain_in_process(registry, _day(2), work, workers))
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                for name, day in (
                    ("run_1_tiny", _day(0)),
                    ("run_many_tiny", _day(1)),
                    ("run_big", _day(2)),
                ):
                    _reset(day)
                    target = args.profile / f"{name}.prof"
                    _run_process({**full_env, "BENCH_PROFILE_RUN": str(target)}, day)
                    print(f"profile of {name} in {target}", file=sys.stderr)
        finally:
            server.close()
    per_object = (_median(many, "cpu") - _median(one, "cpu")) / (args.tiny - 1)
    per_object_wall = (_median(many, "wall") - _median(one, "wall")) / (args.tiny - 1)
    fixed = _median(one, "cpu") - per_object
    records = args.big * args.records
    run_rps_wall = records / (_median(big, "wall") - _median(one, "wall") + per_object_wall)
    base_rps_wall = records / _median(baseline, "wall")
    run_rps_cpu = records / (_median(big, "cpu") - fixed)
    # The flowlog_records step alone (its wall time as Dagster records it), less the same step
    # of the 1-object run: the run loop's records/s without the views refresh that follows it.
    step_one = statistics.median(f["steps"].get("flowlog_records", 0) for f in one)
    step_big = statistics.median(f["steps"].get("flowlog_records", 0) for f in big)
    step_rps_wall = records / (step_big - step_one + per_object_wall)
    base_rps_cpu = records / _median(baseline, "cpu")
    report = {
        "import_only": {"cpu_s": _median(imports, "cpu"), "wall_s": _median(imports, "wall")},
        "dagster_floor_run": {
            "cpu_s": _median(floors, "cpu"),
            "wall_s": _median(floors, "wall"),
            "cpu_s_beyond_imports": _median(floors, "cpu") - _median(imports, "cpu"),
        },
        "run_1_tiny": {"cpu_s": _median(one, "cpu"), "wall_s": _median(one, "wall")},
        f"run_{args.tiny}_tiny": {"cpu_s": _median(many, "cpu"), "wall_s": _median(many, "wall")},
        f"run_{args.big}x{args.records}": {
            "cpu_s": _median(big, "cpu"),
            "wall_s": _median(big, "wall"),
        },
        "process_object_same_objects": {
            "cpu_s": _median(baseline, "cpu"),
            "wall_s": _median(baseline, "wall"),
        },
        "drain_day_in_process": {
            f"workers_{w}": {
                "cpu_s": _median(f, "cpu"),
                "wall_s": _median(f, "wall"),
                "ratio_wall_vs_process_object": _median(baseline, "wall") / _median(f, "wall"),
                "ratio_cpu_vs_process_object": _median(baseline, "cpu") / _median(f, "cpu"),
            }
            for w, f in drains.items()
        },
        "per_object_cost": {"cpu_ms": per_object * 1000, "wall_ms": per_object_wall * 1000},
        "run_fixed_cost": {
            "cpu_s": fixed,
            "cpu_s_beyond_imports": fixed - _median(imports, "cpu"),
        },
        "records_per_s": {
            "run_wall_less_fixed": run_rps_wall,
            "process_object_wall": base_rps_wall,
            "ratio_wall": run_rps_wall / base_rps_wall,
            "run_cpu_less_fixed": run_rps_cpu,
            "process_object_cpu": base_rps_cpu,
            "ratio_cpu": run_rps_cpu / base_rps_cpu,
            "flowlog_records_step_wall": step_rps_wall,
            "ratio_wall_flowlog_records_step": step_rps_wall / base_rps_wall,
        },
        "steps_wall_s": {
            f"{name}.{step}": statistics.median(f["steps"].get(step, 0) for f in figures)
            for name, figures in (("run_1_tiny", one), (f"run_{args.big}x{args.records}", big))
            for step in ("flowlog_records", "traffic_views")
        },
        "targets": {
            "run_fixed_cost_cpu_s_le_2": fixed <= 2.0,
            "per_object_ms_le_20": per_object * 1000 <= 20,
            "records_per_s_ratio_ge_0_7": run_rps_wall / base_rps_wall >= 0.7,
        },
        "repeat": args.repeat,
        "dagster_storage": "sqlite" if args.dagster_storage == "sqlite" else "postgres",
        "load_average": os.getloadavg(),
        "machine": machine_speed(),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json_out:
        args.json_out.write_text(text)
    print()
    for name, values in report.items():
        if isinstance(values, dict):
            cells = ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()
            )
            print(f"{name:<32} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
