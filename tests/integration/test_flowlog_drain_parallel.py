"""A run processes several objects at once (bounded workers, the next GET started ahead) and
still loads each object exactly once: one output per object holding that object's records, one
ledger outcome per object, a bad or missing object failing alone. Against a moto S3 server and
SQLite / PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from flowlog_samples import Eni, flow_log_gzip, object_key, sample_records

from cloudinsights_dagster import aws
from cloudinsights_dagster.flowlogs.ledger import ObjectRef, upsert_objects
from cloudinsights_dagster.flowlogs.process import S3Clients, drain_day
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import dispose_all, session_scope

ACCOUNT = "123456789012"
REGION = "us-east-1"
LOCATION = f"{ACCOUNT}-{REGION}"
DAY = "2026-05-01"
START = int(datetime(2026, 5, 1, 9, 0, tzinfo=UTC).timestamp())
BUCKET = "parallel-flow-logs"
ENIS = [Eni(f"eni-0{i:016x}", f"10.0.0.{10 + i}", "vpc-01", "subnet-01", "-") for i in range(4)]


@pytest.fixture
def day_of_objects(fast_moto_endpoint, database_url, tmp_path):
    """24 good objects of different sizes, one corrupt file and one notified but absent, all
    pending in the ledger; yields (registry, records per good key, output base)."""
    registry = Registry(database_url)
    role = f"arn:aws:iam::{ACCOUNT}:role/cloudinsights"
    registry.add_inventory("g1", "inv", role, [REGION])
    flows = registry.add_flowlogs(
        "g1", "flows", role, [f"arn:aws:sns:{REGION}:{ACCOUNT}:flow-logs"]
    )
    s3 = aws.client(aws.base_session(REGION), "s3")
    s3.create_bucket(Bucket=BUCKET)
    records: dict[str, int] = {}
    refs = []
    for i in range(26):
        key = object_key(ACCOUNT, REGION, "fl-0123", START + 60 * i, suffix=f"p{i:02d}")
        if i == 24:
            body = b"\x1f\x8b\x08\x00 this is not a gzip stream"
        else:
            rows = sample_records(ACCOUNT, ENIS, START + 60 * i, 200 + 150 * i, seed=i)
            body = flow_log_gzip(rows)
        if i != 25:  # the last one is notified but never arrives in S3
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
            if i != 24:
                records[key] = len(rows)
        refs.append(ObjectRef(flows.id, BUCKET, key, f"{i:032x}", len(body), LOCATION, DAY))
    with session_scope(database_url) as session:
        upsert_objects(session, refs, "notification")
    yield registry, records, str(tmp_path / "flows")
    dispose_all()


def _ledger(url: str) -> list[s.FlowLogObject]:
    with session_scope(url) as session:
        return list(session.scalars(sa.select(s.FlowLogObject).order_by(s.FlowLogObject.id)))


def _assert_each_object_once(registry, records, seen: Counter):
    rows = _ledger(registry.database_url)
    assert Counter(r.status for r in rows) == {"loaded": 24, "failed": 2}
    assert all(n == 1 for n in seen.values()) and len(seen) == 26  # every object handled once
    outputs = {}
    for row in rows:
        if row.status == "loaded":
            outputs[row.object_key] = pq.ParquetFile(row.output_path).metadata.num_rows
            assert row.records_loaded == records[row.object_key]
    assert outputs == records  # each object's rows, once, in its own output
    assert len({r.output_path for r in rows if r.output_path}) == 24
    failed = {r.object_key[-8:]: r.error for r in rows if r.status == "failed"}
    assert any("NoSuchKey" in (e or "") for e in failed.values()), failed


def test_parallel_objects_of_one_run_each_load_once(day_of_objects):
    registry, records, out = day_of_objects
    seen: Counter = Counter()
    clients = S3Clients(registry)
    report = drain_day(
        registry,
        DAY,
        out,
        "run-1",
        workers=2,
        clients=clients,
        on_object=lambda claimed, _outcome: seen.update([claimed.key]),
    )
    assert report.objects == {"loaded": 24, "failed": 2}
    assert report.records_loaded == sum(records.values())
    assert report.claims == 26 and report.lost_leases == 0
    assert clients.sessions == 1  # one AssumeRole for the run's one role
    assert report.quality.result().records == sum(records.values())
    _assert_each_object_once(registry, records, seen)


def test_two_parallel_runs_on_one_day_never_share_an_object(day_of_objects):
    registry, records, out = day_of_objects
    seen: Counter = Counter()
    lock = threading.Lock()
    reports = {}

    def note(claimed, _outcome):
        with lock:
            seen.update([claimed.key])

    def run(name: str) -> None:
        reports[name] = drain_day(registry, DAY, out, name, workers=2, on_object=note)

    threads = [threading.Thread(target=run, args=(f"run-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.claims for r in reports.values()) == 26
    assert sum(r.records_loaded for r in reports.values()) == sum(records.values())
    _assert_each_object_once(registry, records, seen)


def test_a_budget_stops_claiming_but_finishes_what_was_claimed(day_of_objects):
    registry, records, out = day_of_objects
    report = drain_day(registry, DAY, out, "run-1", workers=2, max_objects=5)
    assert report.claims == 5 and sum(report.objects.values()) == 5
    statuses = Counter(r.status for r in _ledger(registry.database_url))
    assert statuses == {"loaded": 5, "pending": 21}
