"""Benchmark: one tick of `flowlog_queue_sensor` draining a queue of S3 notifications.

Through the real sensor (`evaluate_tick` on a Dagster test instance, as
tests/dagster/test_flowlogs_e2e.py does) against a real moto server, run in its own process by
bench/moto_server.py (so the server's CPU is not the sensor's, and SQS stays constant time per
message at depth), and a SQLite warehouse in a temp dir. Topic, queue and bucket live in moto's
account 123456789012. The queue is filled with SendMessageBatch: SNS envelopes around S3
ObjectCreated events shaped like moto's, one object per message, keys from
tests/support/flowlog_samples.py `object_key` (every key distinct, one monitored location, one day).

Per size, `--repeat` runs (fresh moto state, fresh warehouse); the median of each figure is
reported: tick wall seconds, tick CPU seconds (time.process_time of this process: the sensor's
threads included, moto's not), messages/s, ledger rows after the tick and messages left in the
queue (0 expected: every message is well formed). Progress on stderr; stdout has the table, then
the JSON report last (bench/run_all.py parses it).

Usage: python bench/bench_intake.py [--sizes 1000,5000,10000] [--repeat 3] [--profile FILE]
       (--profile: cProfile the last run of the largest size, stats written to FILE, top
       functions by cumulative time on stderr)
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
# The helpers the tests and benches share (flowlog_samples) are not in the package.
sys.path.insert(0, str(ROOT / "tests" / "support"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The generated objects are of early 2026; the flow-log days are fixed when the code loads.
os.environ.setdefault("CLOUDINSIGHTS_FLOWLOGS_START_DATE", "2026-01-01")
from moto_server import launch  # noqa: E402

ACCOUNT = "123456789012"  # moto's own: SNS -> SQS is modelled within one account only
REGION = "us-east-1"
BUCKET = "bench-flow-logs"
FLOW_LOG_ID = "fl-0123456789abcdef0"
START = 1_767_225_600 + 86_400 * 30  # 2026-01-31T00:00:00Z, inside the flow-log partitions


def s3_event_envelope(topic_arn: str, key: str, etag: str, size: int) -> str:
    """An SNS envelope around an S3 ObjectCreated:Put event, shaped like moto's (key encoded)."""
    event = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-01-31T00:05:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "flowlogs",
                    "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
                    "object": {"key": quote(key, safe=""), "size": size, "eTag": etag},
                },
            }
        ]
    }
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": topic_arn,
            "Subject": "Amazon S3 Notification",
            "Message": json.dumps(event),
            "Timestamp": "2026-01-31T00:05:00.000Z",
        }
    )


def fill(sqs, queue_url: str, topic_arn: str, count: int, offset: int = 0) -> None:
    from flowlog_samples import object_key

    bodies = [
        s3_event_envelope(
            topic_arn,
            object_key(ACCOUNT, REGION, FLOW_LOG_ID, START + (i % 8000) * 10, suffix=f"{i:08x}"),
            f"{i:032x}",
            1000 + i,
        )
        for i in range(offset, offset + count)
    ]
    chunks = [bodies[i : i + 10] for i in range(0, len(bodies), 10)]

    def send(chunk: list[str]) -> None:
        response = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "MessageBody": body} for n, body in enumerate(chunk)],
        )
        if response.get("Failed"):
            raise RuntimeError(f"SendMessageBatch failed: {response['Failed'][:1]}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, chunks))


def one_run(endpoint: str, size: int, profile: cProfile.Profile | None = None) -> dict:
    import dagster as dg
    import requests
    import sqlalchemy as sa

    from cloudinsights_dagster import aws
    from cloudinsights_dagster.assets.flowlogs import flowlog_records
    from cloudinsights_dagster.assets.views import traffic_views
    from cloudinsights_dagster.flowlogs.queue import queue_depth, setup_queue
    from cloudinsights_dagster.jobs import flowlog_job
    from cloudinsights_dagster.registry import Registry
    from cloudinsights_dagster.resources import FlowLogQueueResource, WarehouseResource
    from cloudinsights_dagster.sensors.flowlogs import flowlog_queue_sensor
    from cloudinsights_dagster.warehouse import schema as s
    from cloudinsights_dagster.warehouse.db import get_engine

    requests.post(f"{endpoint}/moto-api/reset", timeout=30)
    session = aws.base_session(REGION)
    topic = aws.client(session, "sns").create_topic(Name="flow-logs")["TopicArn"]
    aws.client(session, "s3").create_bucket(Bucket=BUCKET)
    queue = setup_queue(session, "collector", REGION, [topic])
    sqs = aws.client(session, "sqs")
    fill(sqs, queue.queue_url, topic, size)

    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
        url = f"sqlite:///{Path(tmp) / 'w.db'}"
        os.environ["CLOUDINSIGHTS_FLOWLOGS_OUTPUT"] = str(Path(tmp) / "flows")
        registry = Registry(url)  # migrates the warehouse now, not inside the tick
        role = f"arn:aws:iam::{ACCOUNT}:role/cloudinsights"
        registry.add_inventory("g1", "inv", role, [REGION])
        registry.add_flowlogs("g1", "flows", role, [topic])
        resources = {
            "warehouse": WarehouseResource(database_url=url),
            "flowlog_queue": FlowLogQueueResource(queue_url=queue.queue_url, region=REGION),
        }
        defs = dg.Definitions(
            assets=[flowlog_records, traffic_views],
            jobs=[flowlog_job],
            sensors=[flowlog_queue_sensor],
            resources=resources,
        )
        with dg.build_sensor_context(
            instance=instance,
            instance_ref=instance.get_ref(),
            resources=resources,
            definitions=defs,
        ) as ctx:
            if profile:
                profile.enable()
            wall0, cpu0 = time.perf_counter(), time.process_time()
            result = flowlog_queue_sensor.evaluate_tick(ctx)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if profile:
            profile.disable()
        with get_engine(url).connect() as conn:
            rows = conn.scalar(sa.select(sa.func.count()).select_from(s.FlowLogObject))
        depth = queue_depth(sqs, queue.queue_url)
        get_engine(url).dispose()
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "messages_per_s": size / wall,
        "ledger_rows": rows,
        "left_in_queue": depth["visible"] + depth["in_flight"] + depth["delayed"],
        "run_requests": len(result.run_requests or []),
    }


def _median(runs: list[dict], name: str) -> float:
    return statistics.median(r[name] for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", default="1000,5000,10000", help="messages per tick, comma separated"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", default=None, help="cProfile stats file for the largest size")
    parser.add_argument(
        "--workers", type=int, default=None, help="override the sensor's SQS_WORKERS (1: serial)"
    )
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    if not sizes or min(sizes) <= 0:
        parser.error(f"--sizes must list positive message counts, got {args.sizes!r}")
    if args.repeat <= 0:
        parser.error(f"--repeat must be positive, got {args.repeat}")

    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_PROFILE", None)

    from cloudinsights_dagster.flowlogs import intake as intake_module
    from cloudinsights_dagster.sensors import flowlogs as sensor_module

    if args.workers is not None:
        if args.workers < 1:
            parser.error(f"--workers must be at least 1, got {args.workers}")
        sensor_module.SQS_WORKERS = args.workers
    report: dict = {
        "benchmark": "flowlog_queue_sensor tick",
        "max_messages_per_tick": sensor_module.MAX_MESSAGES_PER_TICK,
        "intake_budget_seconds": sensor_module.INTAKE_BUDGET_SECONDS,
        "intake_chunk": intake_module.INTAKE_CHUNK,
        "sqs_workers": getattr(sensor_module, "SQS_WORKERS", 1),
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "sizes": {},
    }
    with launch() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        for size in sizes:
            runs = []
            for i in range(args.repeat):
                profile = (
                    cProfile.Profile()
                    if args.profile and size == max(sizes) and i == args.repeat - 1
                    else None
                )
                run = one_run(endpoint, size, profile)
                runs.append(run)
                print(
                    f"  {size} messages, run {i + 1}: {run['wall_s']:.2f} s wall, "
                    f"{run['cpu_s']:.2f} s CPU, {run['ledger_rows']} rows, "
                    f"{run['left_in_queue']} left",
                    file=sys.stderr,
                    flush=True,
                )
                if profile:
                    profile.dump_stats(args.profile)
                    out = io.StringIO()
                    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(40)
                    print(out.getvalue(), file=sys.stderr)
            report["sizes"][str(size)] = {
                "messages": size,
                "wall_s": round(_median(runs, "wall_s"), 3),
                "cpu_s": round(_median(runs, "cpu_s"), 3),
                "messages_per_s": round(_median(runs, "messages_per_s")),
                "ledger_rows": int(_median(runs, "ledger_rows")),
                "left_in_queue": int(_median(runs, "left_in_queue")),
                "runs_wall_s": [round(r["wall_s"], 3) for r in runs],
            }
    print(_table(report))
    print(json.dumps(report, indent=2))
    bad = [
        r
        for r in report["sizes"].values()
        if r["left_in_queue"]
        or r["ledger_rows"] < min(r["messages"], report["max_messages_per_tick"])
    ]
    return 1 if bad else 0


def _table(report: dict) -> str:
    lines = [
        f"flowlog_queue_sensor, one tick: max {report['max_messages_per_tick']:,} messages, "
        f"budget {report['intake_budget_seconds']} s in chunks of {report['intake_chunk']:,}, "
        f"{report['sqs_workers']} SQS workers, "
        f"median of {report['repeat']}, "
        f"{report['cpus']} CPUs",
        f"{'messages':>9s} {'wall s':>8s} {'CPU s':>7s} {'msg/s':>8s} {'ledger rows':>12s} "
        f"{'left':>6s}",
    ]
    for r in report["sizes"].values():
        lines.append(
            f"{r['messages']:9,} {r['wall_s']:8.2f} {r['cpu_s']:7.2f} {r['messages_per_s']:8,} "
            f"{r['ledger_rows']:12,} {r['left_in_queue']:6,}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
