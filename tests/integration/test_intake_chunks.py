"""`take_in_queue`, the sensor's intake: the queue taken in chunks (receive, record, delete)
until it is empty, a message cap, or a time budget; every message taken is in the ledger and
deleted, what is left stays queued. Fast moto SQS, SQLite."""

from __future__ import annotations

import itertools
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import boto3
import pytest
import sqlalchemy as sa
from botocore.config import Config
from flowlog_samples import object_key

from cloudinsights_dagster.flowlogs.intake import take_in_queue
from cloudinsights_dagster.flowlogs.queue import queue_depth
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import dispose_all, get_engine

ACCOUNT = "111122223333"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:flow-logs"
START = 1_777_622_400  # 2026-05-01T08:00:00Z

FAST_FAIL = Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=16)


@pytest.fixture
def queue(fast_moto_server: str, tmp_path):
    sqs = boto3.client(
        "sqs", region_name="us-east-1", endpoint_url=fast_moto_server, config=FAST_FAIL
    )
    url = sqs.create_queue(
        QueueName=f"intake-{uuid.uuid4().hex[:10]}", Attributes={"VisibilityTimeout": "300"}
    )["QueueUrl"]
    db = f"sqlite:///{tmp_path / 'w.db'}"
    registry = Registry(db)
    role = f"arn:aws:iam::{ACCOUNT}:role/cloudinsights"
    registry.add_inventory("g1", "inv", role, ["us-east-1"])
    registry.add_flowlogs("g1", "flows", role, [TOPIC])
    yield sqs, url, registry
    sqs.delete_queue(QueueUrl=url)
    dispose_all()


def envelope(key: str, etag: str) -> str:
    """An SNS notification of one S3 ObjectCreated event (key percent-encoded, as S3 does)."""
    record = {
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": "logs"},
            "object": {"key": quote(key, safe=""), "size": 10, "eTag": etag},
        },
    }
    return json.dumps(
        {"Type": "Notification", "TopicArn": TOPIC, "Message": json.dumps({"Records": [record]})}
    )


def _fill(sqs, url: str, count: int) -> None:
    keys = [
        object_key(ACCOUNT, "us-east-1", "fl-1", START + i, suffix=f"c{i:05d}")
        for i in range(count)
    ]

    def send(start: int) -> None:
        entries = [
            {"Id": str(n), "MessageBody": envelope(key, f"{start + n:032x}")}
            for n, key in enumerate(keys[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(0, count, 10)))


def _ledger_rows(registry: Registry) -> int:
    with get_engine(registry.database_url).connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(s.FlowLogObject))


def _left(sqs, url: str) -> int:
    depth = queue_depth(sqs, url)
    return depth["visible"] + depth["in_flight"] + depth["delayed"]


def test_the_queue_is_taken_in_chunks_until_empty(queue):
    sqs, url, registry = queue
    _fill(sqs, url, 2_500)
    intake = take_in_queue(
        registry, sqs, url, max_messages=10_000, budget_seconds=50, chunk=1_000, workers=4
    )
    assert intake.messages == 2_500 and intake.chunks == 3
    assert intake.counts["object_new"] == 2_500
    assert intake.stopped_by == "empty" and intake.not_deleted == 0
    assert _ledger_rows(registry) == 2_500
    assert _left(sqs, url) == 0


def test_a_message_cap_and_a_time_budget_leave_the_rest_queued(queue):
    sqs, url, registry = queue
    _fill(sqs, url, 1_000)
    capped = take_in_queue(
        registry, sqs, url, max_messages=250, budget_seconds=50, chunk=100, workers=4
    )
    assert capped.messages == 250 and capped.chunks == 3 and capped.stopped_by == "max_messages"
    # A clock that moves 1 s per reading: the budget is spent after a few chunks, whatever
    # the machine's speed.
    ticks = itertools.count()
    budgeted = take_in_queue(
        registry,
        sqs,
        url,
        max_messages=10_000,
        budget_seconds=12,
        chunk=100,
        workers=4,
        clock=lambda: float(next(ticks)),
    )
    assert budgeted.stopped_by == "time_budget"
    assert 0 < budgeted.messages < 750
    assert _ledger_rows(registry) == 250 + budgeted.messages  # taken = recorded
    assert _left(sqs, url) == 750 - budgeted.messages  # and deleted; the rest still queued
