"""Parallel receive and delete (flowlogs/queue.py with workers > 1): against the fast moto server
for deep queues, and thread-safe stand-in clients for timing and duplicate deliveries."""

from __future__ import annotations

import threading
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from cloudinsights_dagster.flowlogs.queue import delete_messages, queue_depth, receive_batch

FAST_FAIL = Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=16)


@pytest.fixture
def sqs(fast_moto_server: str):
    return boto3.client(
        "sqs", region_name="us-east-1", endpoint_url=fast_moto_server, config=FAST_FAIL
    )


@pytest.fixture
def queue_url(sqs) -> str:
    url = sqs.create_queue(
        QueueName=f"parallel-{uuid.uuid4().hex[:10]}", Attributes={"VisibilityTimeout": "300"}
    )["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


def fill(sqs, queue_url: str, count: int) -> set[str]:
    bodies = set()
    for start in range(0, count, 10):
        entries = [
            {"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(min(10, count - start))
        ]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        bodies.update(e["MessageBody"] for e in entries)
    return bodies


def test_every_message_is_received_once_and_deleted(sqs, queue_url):
    sent = fill(sqs, queue_url, 1200)
    received = receive_batch(sqs, queue_url, 10_000, deadline_seconds=30, workers=8)
    assert len(received) == 1200
    assert {m.body for m in received} == sent
    assert len({m.message_id for m in received}) == 1200
    handles = [m.receipt_handle for m in received]
    assert delete_messages(sqs, queue_url, handles, workers=8) == []
    assert queue_depth(sqs, queue_url) == {"visible": 0, "in_flight": 0, "delayed": 0}


def test_parallel_receive_never_takes_more_than_asked(sqs, queue_url):
    fill(sqs, queue_url, 200)
    received = receive_batch(sqs, queue_url, 25, deadline_seconds=10, workers=8)
    assert len(received) == 25
    # No message was received and dropped: exactly the returned ones are in flight.
    assert queue_depth(sqs, queue_url) == {"visible": 175, "in_flight": 25, "delayed": 0}


def test_failed_deletes_are_reported_in_order(sqs, queue_url):
    fill(sqs, queue_url, 45)
    received = receive_batch(sqs, queue_url, 100, deadline_seconds=10, workers=4)
    handles = [m.receipt_handle for m in received]
    bogus = ["bogus-1", "bogus-2", "bogus-3"]
    mixed = handles[:7] + [bogus[0]] + handles[7:30] + [bogus[1]] + handles[30:] + [bogus[2]]
    assert delete_messages(sqs, queue_url, mixed, workers=8) == bogus
    assert queue_depth(sqs, queue_url)["in_flight"] == 0


class FlakyDeletes:
    """Deletes everything except the batches holding a handle named 'fail-*', whose call raises."""

    def __init__(self):
        self.calls = 0
        self.lock = threading.Lock()

    def delete_message_batch(self, QueueUrl, Entries):
        with self.lock:
            self.calls += 1
        if any(e["ReceiptHandle"].startswith("fail-") for e in Entries):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "Delete")
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def test_a_failing_delete_call_fails_its_whole_batch_only():
    handles = [f"ok-{i}" for i in range(35)]
    handles[12] = "fail-12"
    client = FlakyDeletes()
    failed = delete_messages(client, "url", handles, workers=4)
    assert failed == handles[10:20]  # the second batch of ten; the others were deleted
    assert client.calls == 4


class SlowQueue:
    """A thread-safe stand-in: `size` messages, each call taking `seconds`, and every answer
    repeating the first message ever delivered (as SQS may redeliver), with a new handle."""

    def __init__(self, size: int, seconds: float):
        self.pending = [f"id-{i}" for i in range(size)]
        self.seconds = seconds
        self.lock = threading.Lock()
        self.calls = 0
        self.concurrent = 0
        self.max_concurrent = 0

    def receive_message(self, **kwargs):
        with self.lock:
            self.calls += 1
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
            n = self.calls
            taken = self.pending[: kwargs["MaxNumberOfMessages"]]
            del self.pending[: len(taken)]
        time.sleep(self.seconds)
        with self.lock:
            self.concurrent -= 1
        ids = taken[:-1] + ["id-0"] if taken else ["id-0"]
        return {
            "Messages": [
                {"MessageId": i, "ReceiptHandle": f"rh-{i}-{n}", "Body": i, "Attributes": {}}
                for i in ids
            ]
        }


def test_duplicates_across_workers_are_kept_once_with_the_newest_handle():
    queue = SlowQueue(300, seconds=0.01)
    received = receive_batch(queue, "url", 10_000, deadline_seconds=20, workers=6)
    ids = [m.message_id for m in received]
    assert len(ids) == len(set(ids))
    assert queue.max_concurrent > 1
    # Each answer gave up its last slot to the repeat of id-0: 9 new ids per call of 10.
    assert set(ids) <= {f"id-{i}" for i in range(300)}
    assert not queue.pending or len(set(ids)) >= 250
    [first] = [m for m in received if m.message_id == "id-0"]
    assert first.receipt_handle != "rh-id-0-1"  # a later delivery's handle replaced the first


def test_parallel_receive_respects_the_deadline():
    queue = SlowQueue(1_000_000, seconds=0.3)
    started = time.monotonic()
    received = receive_batch(queue, "url", 100_000, deadline_seconds=1.0, workers=4)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 0.3 + 0.3  # deadline + one call + slack for a loaded machine
    assert queue.max_concurrent == 4
    # About 4 workers x ceil(1.0 / 0.3) calls; none started after the deadline.
    assert 4 * 3 <= queue.calls <= 4 * 4
    assert len(received) == queue.calls * 9  # 9 new ids per answer, id-0 repeated


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        receive_batch(SlowQueue(1, 0), "url", 10, 1, workers=0)
    with pytest.raises(ValueError, match="workers must be at least 1, got -2"):
        delete_messages(FlakyDeletes(), "url", ["h"], workers=-2)
