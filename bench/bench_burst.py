"""Benchmark: a burst of flow-log objects through the real sensor and real runs, end to end.

A moto server (bench/moto_server.py: its own process, thread-safe constant-time SQS), an SQLite
warehouse and a Dagster instance on disk. An uploader process puts --objects objects into the
flow-log bucket as fast as it can (S3 ObjectCreated -> SNS -> SQS, as AWS delivers them), with
--duplicates of them notified a second time (a copy of the notification sent to the queue, as
SQS's at-least-once delivery does) and --bad of them not flow logs at all (they must fail,
alone and visibly). Meanwhile this process evaluates `flowlog_queue_sensor` every --tick-seconds
(its own minimum interval by default) and launches the runs it requests, each in its own
process (interpreter, imports, code location, `flowlog_job` on the requested partition with
the requested config and tags), at most --slots at a time, as the queued run coordinator does;
requests not launched by the next tick are replaced by that tick's (the sensor recomputes them
from the backlog, which includes their objects).

Asserted at the end: loss 0 (every good object loaded, every bad one failed), duplicate rows 0
(one output per loaded object holding exactly its records; no other output file). Reported:
p50/p95/max latency from an object's upload to its rows committed (the ledger's processed_at),
the burst's wall time, runs, sensor ticks, and the CPU of runs and ticks.

Then a calibration, in the same bench run, on another day: a run of 1 tiny object (the run's
fixed cost) and a run of one location's 5 minutes, --files objects of --records records. From
these, the number of locations one machine of --cores cores sustains at that rate:

  per 5 minutes, L locations need  R x fixed + L x (location_run - fixed) + 10 L x msg_cpu
  CPU-seconds, where fixed = the 1-object run's CPU, location_run = the location run's CPU,
  msg_cpu = the sensor's CPU per notification (burst ticks' CPU / messages), R = runs per 5
  minutes = max(300 / the sensor's interval, ceil(files x L / objects per run)). With cores x 300 CPU-s
  available: L = (cores x 300 - R x fixed) / (location_run - fixed + files x msg_cpu).

Prints a table, then the JSON report (also written to --json-out). Usage:
python bench/bench_burst.py [--objects 10000] [--records 200] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
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
# The burst is of May 2026; the flow-log days are fixed when the code location loads.
os.environ.setdefault("CLOUDINSIGHTS_FLOWLOGS_START_DATE", "2026-01-01")

import bench_flowlog_runs as runs_bench  # noqa: E402 - the same world as bench-scale

ACCOUNT, REGION = runs_bench.ACCOUNT, runs_bench.REGION
BURST_DAY, CALIBRATION_DAY, TINY_DAY = 0, 3, 4  # offsets from runs_bench.T0

RUN_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, time
    started = time.perf_counter()
    import dagster as dg
    from cloudinsights_dagster.definitions import defs
    request = json.loads(sys.argv[1])
    result = defs.resolve_job_def("flowlog_job").execute_in_process(
        instance=dg.DagsterInstance.get(), partition_key=request["partition_key"],
        run_config=request["run_config"], tags=request["tags"],
    )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"ok": result.success, "cpu": usage.ru_utime + usage.ru_stime,
                      "wall": time.perf_counter() - started}))
    """
)

UPLOAD_SCRIPT = textwrap.dedent(
    """
    import json, sys, time, boto3
    from concurrent.futures import ThreadPoolExecutor
    from botocore.config import Config
    spec = json.load(open(sys.argv[1]))
    config = Config(max_pool_connections=16, retries={"max_attempts": 5, "mode": "standard"})
    s3 = boto3.client("s3", config=config)
    sqs = boto3.client("sqs", config=config)
    bodies = [open(p, "rb").read() for p in spec["bodies"]]
    bad = b"this is not a flow log, and not gzip either"

    def envelope(key, etag, size):
        event = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
            "awsRegion": spec["region"], "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": spec["bucket"]},
                   "object": {"key": key, "size": size, "eTag": etag}}}]}
        return json.dumps({"Type": "Notification", "TopicArn": spec["topic"],
                           "Message": json.dumps(event)})

    def put(i):
        key = spec["keys"][i]
        body = bad if i in spec["bad"] else bodies[i % len(bodies)]
        etag = s3.put_object(Bucket=spec["bucket"], Key=key, Body=body)["ETag"].strip('"')
        uploaded = time.time()
        if i in spec["duplicates"]:  # at-least-once delivery: the same event once more
            sqs.send_message(QueueUrl=spec["queue_url"], MessageBody=envelope(key, etag, len(body)))
        return {"key": key, "uploaded": uploaded, "bad": i in spec["bad"]}

    spec["bad"], spec["duplicates"] = set(spec["bad"]), set(spec["duplicates"])
    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(put, range(len(spec["keys"]))))
    json.dump(done, open(spec["out"], "w"))
    """
)


def _launch_run(env: dict, request) -> subprocess.Popen:
    payload = json.dumps(
        {
            "partition_key": request.partition_key,
            "run_config": request.run_config,
            "tags": dict(request.tags),
        }
    )
    return subprocess.Popen(
        [sys.executable, "-c", RUN_SCRIPT, payload],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"run process failed:\n{err[-3000:]}")
    figures = json.loads(out.strip().splitlines()[-1])
    if not figures["ok"]:
        raise RuntimeError(f"run failed:\n{err[-3000:]}")
    return figures


def _tick(instance, resources) -> tuple[list, float, float]:
    import dagster as dg

    from cloudinsights_dagster.definitions import defs
    from cloudinsights_dagster.sensors.flowlogs import flowlog_queue_sensor

    cpu0, wall0 = time.process_time(), time.perf_counter()
    with dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), resources=resources, definitions=defs
    ) as ctx:
        result = flowlog_queue_sensor.evaluate_tick(ctx)
    return list(result.run_requests or []), time.process_time() - cpu0, time.perf_counter() - wall0


def _ledger(day: str) -> list:
    import sqlalchemy as sa

    from cloudinsights_dagster.settings import load_settings
    from cloudinsights_dagster.warehouse import schema as s
    from cloudinsights_dagster.warehouse.db import session_scope

    with session_scope(load_settings().database_url) as session:
        return session.execute(
            sa.select(
                s.FlowLogObject.object_key,
                s.FlowLogObject.status,
                s.FlowLogObject.processed_at,
                s.FlowLogObject.output_path,
                s.FlowLogObject.records_loaded,
            ).where(s.FlowLogObject.day == day)
        ).all()


def _bodies(world, work: Path, count: int, records: int, day_offset: int) -> list[Path]:
    from flowlog_samples import flow_log_gzip, sample_records

    enis = runs_bench._enis(world)
    start = int(runs_bench.T0.timestamp()) + 86400 * day_offset + 600
    paths = []
    for n in range(count):
        path = work / f"body-{day_offset}-{n}.log.gz"
        path.write_bytes(flow_log_gzip(sample_records(ACCOUNT, enis, start, records, seed=n)))
        paths.append(path)
    return paths


def _keys(world, count: int, day_offset: int, tag: str) -> list[str]:
    from flowlog_samples import object_key

    start = int(runs_bench.T0.timestamp()) + 86400 * day_offset + 600
    return [
        object_key(ACCOUNT, REGION, world.flow_log_id, start + i % 80_000, suffix=f"{tag}{i:06d}")
        for i in range(count)
    ]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def burst(args, work: Path, env: dict, world, resources, instance, queue_url, topic) -> dict:
    """Upload the burst, tick the sensor and run what it requests until every object is done."""
    import pyarrow.parquet as pq

    day = runs_bench._day(BURST_DAY)
    bodies = _bodies(world, work, 20, args.records, BURST_DAY)
    records_per_body = args.records
    keys = _keys(world, args.objects, BURST_DAY, "u")
    every_bad = max(1, round(1 / args.bad)) if args.bad > 0 else 0
    every_dup = max(1, round(1 / args.duplicates)) if args.duplicates > 0 else 0
    bad = [i for i in range(args.objects) if every_bad and i % every_bad == every_bad // 2]
    dups = [i for i in range(args.objects) if every_dup and i % every_dup == 1]
    spec = {
        "bucket": world.flow_log_bucket,
        "region": REGION,
        "topic": topic,
        "queue_url": queue_url,
        "keys": keys,
        "bodies": [str(p) for p in bodies],
        "bad": bad,
        "duplicates": dups,
        "out": str(work / "uploads.json"),
    }
    full_env = {**os.environ, **env}
    print(f"burst: {args.objects} objects, {len(dups)} notified twice, {len(bad)} bad", flush=True)
    started = time.perf_counter()
    (work / "upload-spec.json").write_text(json.dumps(spec))
    uploader = subprocess.Popen(
        [sys.executable, "-c", UPLOAD_SCRIPT, str(work / "upload-spec.json")], env=full_env
    )
    slots: list[subprocess.Popen] = []
    pending: list = []
    run_figures: list[dict] = []
    ticks: list[dict] = []
    next_tick = time.perf_counter()
    deadline = started + args.timeout
    done_statuses = {"loaded", "failed", "filtered"}
    while True:
        for proc in [p for p in slots if p.poll() is not None]:
            slots.remove(proc)
            run_figures.append(_finish(proc))
        now = time.perf_counter()
        if now >= next_tick:
            requests, cpu, wall = _tick(instance, resources)
            ticks.append({"cpu_s": cpu, "wall_s": wall, "requests": len(requests)})
            pending = requests  # the sensor's requests replace those not launched yet
            next_tick = time.perf_counter() + args.tick_seconds
            rows = _ledger(day)
            finished = sum(1 for r in rows if r.status in done_statuses)
            print(
                f"  {now - started:6.1f} s: tick {wall:.2f} s, {len(requests)} run(s) requested, "
                f"{len(slots)} running, {finished}/{args.objects} objects done",
                flush=True,
            )
            if uploader.poll() is not None and finished >= args.objects and not slots:
                break
        while pending and len(slots) < args.slots:
            slots.append(_launch_run(full_env, pending.pop(0)))
        if time.perf_counter() > deadline:
            raise RuntimeError(f"burst not done after {args.timeout} s")
        time.sleep(0.2)
    wall = time.perf_counter() - started
    if uploader.wait() != 0:
        raise RuntimeError("the uploader failed")
    uploads = {u["key"]: u for u in json.loads((work / "uploads.json").read_text())}
    rows = {r.object_key: r for r in _ledger(day)}

    def status(key: str) -> str | None:
        return rows[key].status if key in rows else None

    lost = [k for k, u in uploads.items() if not u["bad"] and status(k) != "loaded"]
    bad_not_failed = [k for k, u in uploads.items() if u["bad"] and status(k) != "failed"]
    duplicate_rows = missing_rows = 0
    latencies = []
    outputs = set()
    for key, upload in uploads.items():
        row = rows.get(key)
        if row is None or row.status != "loaded":
            continue
        n = pq.ParquetFile(row.output_path).metadata.num_rows
        duplicate_rows += max(0, n - records_per_body)
        missing_rows += max(0, records_per_body - n)
        outputs.add(row.output_path)
        processed = row.processed_at
        if processed.tzinfo is None:
            processed = processed.replace(tzinfo=UTC)
        latencies.append(processed.timestamp() - upload["uploaded"])
    files = {str(p) for p in Path(env["CLOUDINSIGHTS_FLOWLOGS_OUTPUT"]).rglob("*.parquet")}
    burst_files = {f for f in files if f"/{day.replace('-', '/')}/" in f}
    stray_outputs = len(burst_files - outputs)
    messages = args.objects + len(dups) + 1  # + the bucket's s3:TestEvent
    tick_cpu = sum(t["cpu_s"] for t in ticks)
    return {
        "objects": args.objects,
        "records_per_object": args.records,
        "duplicate_notifications": len(dups),
        "bad_files": len(bad),
        "loss": len(lost),
        "bad_files_not_failed": len(bad_not_failed),
        "duplicate_rows": duplicate_rows,
        "missing_rows": missing_rows,
        "stray_outputs": stray_outputs,
        "latency_p50_s": statistics.median(latencies),
        "latency_p95_s": _percentile(latencies, 0.95),
        "latency_max_s": max(latencies),
        "wall_s": wall,
        "objects_per_s": args.objects / wall,
        "runs": len(run_figures),
        "run_cpu_s": sum(r["cpu"] for r in run_figures),
        "run_wall_s_median": statistics.median(r["wall"] for r in run_figures),
        "ticks": len(ticks),
        "tick_interval_s": args.tick_seconds,
        "tick_wall_s_max": max(t["wall_s"] for t in ticks),
        "tick_cpu_s_total": tick_cpu,
        "sensor_cpu_ms_per_message": 1000 * tick_cpu / messages,
        "slots": args.slots,
    }


def calibrate(args, work: Path, env: dict, world, resources, instance) -> dict:
    """A run of 1 tiny object and a run of one location's 5 minutes (--files x --location-records),
    each in its own process, after the sensor took their notifications in."""
    full_env = {**os.environ, **env}
    figures = {}
    for name, offset, count, records in (
        ("run_1_tiny", TINY_DAY, 1, 10),
        ("run_one_location_5_min", CALIBRATION_DAY, args.files, args.location_records),
    ):
        runs_bench._upload_and_take_in(world, resources, instance, offset, count, records)
        day = runs_bench._day(offset)
        request = type(
            "Request",
            (),
            {
                "partition_key": day,
                "run_config": {"ops": {"flowlog_records": {"config": {"max_objects": 1000}}}},
                "tags": {"cloudinsights/kind": "flowlogs"},
            },
        )
        results = []
        for _ in range(args.repeat):
            runs_bench._reset(day)
            results.append(_finish(_launch_run(full_env, request)))
        figures[name] = {
            "cpu_s": statistics.median(r["cpu"] for r in results),
            "wall_s": statistics.median(r["wall"] for r in results),
            "objects": count,
            "records_per_object": records,
        }
    return figures


def sustained_locations(burst_figures: dict, calibration: dict, args) -> dict:
    from cloudinsights_dagster.sensors.flowlogs import OBJECTS_PER_RUN, flowlog_queue_sensor

    fixed = calibration["run_1_tiny"]["cpu_s"]
    location_run = calibration["run_one_location_5_min"]["cpu_s"]
    per_location = location_run - fixed  # CPU of one location's 5 minutes beyond a run's cost
    msg = burst_figures["sensor_cpu_ms_per_message"] / 1000
    budget = args.cores * 300.0
    # The daemon ticks the sensor at its minimum interval; each tick with a backlog requests a run.
    runs = 300 / (flowlog_queue_sensor.minimum_interval_seconds or 30)
    locations = (budget - runs * fixed) / (per_location + args.files * msg)
    runs = max(runs, math.ceil(args.files * locations / OBJECTS_PER_RUN))
    locations = (budget - runs * fixed) / (per_location + args.files * msg)
    return {
        "locations": math.floor(locations),
        "formula": "L = (cores x 300 - R x fixed) / (location_run - fixed + files x msg_cpu)",
        "cores": args.cores,
        "files_per_location_per_5_min": args.files,
        "records_per_file": args.location_records,
        "fixed_cpu_s": fixed,
        "location_run_cpu_s": location_run,
        "per_location_cpu_s_per_5_min": per_location,
        "msg_cpu_ms": msg * 1000,
        "runs_per_5_min": runs,
        "per_record_us": 1e6 * per_location / (args.files * args.location_records),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=200, help="records per burst object")
    parser.add_argument("--duplicates", type=float, default=0.05, help="share notified twice")
    parser.add_argument("--bad", type=float, default=0.01, help="share of bad files")
    parser.add_argument("--slots", type=int, default=2, help="runs at once")
    parser.add_argument("--tick-seconds", type=float, default=None)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--files", type=int, default=10, help="files per location per 5 min")
    parser.add_argument("--location-records", type=int, default=100_000)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="calibration runs (median)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    if args.objects <= 0:
        parser.error("--objects must be positive")
    from cloudinsights_dagster.sensors.flowlogs import flowlog_queue_sensor

    if args.tick_seconds is None:
        args.tick_seconds = float(flowlog_queue_sensor.minimum_interval_seconds or 30)
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
        work = Path(tmp)
        server, env, registry, world, resources, instance = runs_bench._world(work)
        try:
            queue_url = resources["flowlog_queue"].queue_url
            flows = [i for i in registry.list_integrations() if i.integration_type == "flowlogs"]
            topic = flows[0].topic_arns[0]
            started = datetime.now(UTC)
            burst_figures = burst(args, work, env, world, resources, instance, queue_url, topic)
            calibration = calibrate(args, work, env, world, resources, instance)
        finally:
            server.close()
    capacity = sustained_locations(burst_figures, calibration, args)
    report = {
        "benchmark": "flow-log burst through the sensor and runs",
        "started": started.isoformat(),
        "load_average": os.getloadavg(),
        "burst": burst_figures,
        "calibration": calibration,
        "sustained": capacity,
        "ok": burst_figures["loss"] == 0
        and burst_figures["duplicate_rows"] == 0
        and burst_figures["missing_rows"] == 0
        and burst_figures["stray_outputs"] == 0
        and burst_figures["bad_files_not_failed"] == 0,
    }
    print(_table(report))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(text)
    return 0 if report["ok"] else 1


def _table(report: dict) -> str:
    b, c, s = report["burst"], report["calibration"], report["sustained"]
    return "\n".join(
        [
            f"burst: {b['objects']:,} objects x {b['records_per_object']} records, "
            f"{b['duplicate_notifications']} duplicate notifications, {b['bad_files']} bad files, "
            f"{b['slots']} runs at once, sensor every {b['tick_interval_s']:.0f} s",
            f"  loss {b['loss']}, duplicate rows {b['duplicate_rows']}, missing rows "
            f"{b['missing_rows']}, stray outputs {b['stray_outputs']}, bad files not failed "
            f"{b['bad_files_not_failed']}",
            f"  latency upload -> rows committed: p50 {b['latency_p50_s']:.1f} s, p95 "
            f"{b['latency_p95_s']:.1f} s, max {b['latency_max_s']:.1f} s",
            f"  {b['wall_s']:.0f} s wall ({b['objects_per_s']:.0f} objects/s), {b['runs']} runs "
            f"({b['run_cpu_s']:.0f} CPU-s), {b['ticks']} ticks (max {b['tick_wall_s_max']:.1f} s, "
            f"{b['sensor_cpu_ms_per_message']:.2f} CPU-ms per message)",
            f"calibration: run of 1 tiny object {c['run_1_tiny']['cpu_s']:.2f} CPU-s; run of "
            f"{c['run_one_location_5_min']['objects']} x "
            f"{c['run_one_location_5_min']['records_per_object']:,} records "
            f"{c['run_one_location_5_min']['cpu_s']:.2f} CPU-s "
            f"({s['per_record_us']:.2f} us per record beyond the run's fixed cost)",
            f"sustained: {s['locations']} locations on {s['cores']} cores at "
            f"{s['files_per_location_per_5_min']} files x {s['records_per_file']:,} records per "
            f"location per 5 min ({s['formula']}, R = {s['runs_per_5_min']:.0f})",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
