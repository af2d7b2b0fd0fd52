"""S3 ObjectCreated -> SNS -> the collector's SQS queue, against the moto server.

moto models SNS -> SQS only within one account, so topic, bucket and queue share the default moto
account here; cross-account delivery is covered by the topic/queue policy logic alone.
"""

from __future__ import annotations

import gzip
import json
import time

import boto3
import pytest
from botocore.config import Config

from cloudinsights_dagster.flowlogs.keys import parse_key
from cloudinsights_dagster.flowlogs.notifications import parse_message
from cloudinsights_dagster.flowlogs.queue import (
    change_visibility,
    delete_messages,
    queue_depth,
    receive_batch,
    setup_queue,
    subscribe_topics,
)

FAST_FAIL = Config(retries={"max_attempts": 1, "mode": "standard"})
REGION = "us-east-1"
BUCKET = "acme-flow-logs"
KEY = (
    "vpc/AWSLogs/111122223333/vpcflowlogs/us-east-1/2026/01/02/"
    "111122223333_vpcflowlogs_us-east-1_fl-0123456789abcdef0_20260102T0305Z_fe123456.log.gz"
)
FLOW_LOG = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status\n"
    "2 111122223333 eni-0a1b2c3d 10.0.0.5 10.0.1.7 443 49152 6 10 840 1767323100 1767323160 "
    "ACCEPT OK\n"
)


@pytest.fixture
def session(moto_endpoint: str) -> boto3.Session:
    return boto3.Session(region_name=REGION)


@pytest.fixture
def topic_arn(aws_client) -> str:
    return aws_client("sns").create_topic(Name="flowlogs-us-east-1")["TopicArn"]


def notify_bucket(aws_client, topic_arn: str) -> None:
    s3 = aws_client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": topic_arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )


def test_object_created_reaches_the_queue_through_sns(session, aws_client, topic_arn):
    info = setup_queue(session, "collector-flowlogs", REGION, [topic_arn], config=FAST_FAIL)
    [attempt] = subscribe_topics(session, info.queue_arn, [topic_arn], config=FAST_FAIL)
    assert attempt.ok and attempt.error is None and attempt.region == REGION
    assert attempt.subscription_arn.startswith(topic_arn + ":")

    notify_bucket(aws_client, topic_arn)  # moto (like S3) first sends s3:TestEvent
    body = gzip.compress(FLOW_LOG.encode())
    aws_client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=body)

    sqs = aws_client("sqs")
    received = receive_batch(sqs, info.queue_url, max_messages=10, deadline_seconds=5)
    parsed = [parse_message(m.body, m.message_id) for m in received]
    assert [p.kind for p in parsed] == ["test_event", "objects"]
    assert parsed[0].bucket == BUCKET
    [notice] = parsed[1].objects
    assert notice.key == KEY  # moto sends AWSLogs%2F...: decoded
    assert notice.bucket == BUCKET
    assert notice.event_name == "ObjectCreated:Put"
    assert notice.size == len(body)
    assert notice.etag and not notice.etag.startswith('"')
    assert notice.sequencer is None  # moto sends none; real S3 does
    assert parsed[1].topic_arn == topic_arn
    assert parse_key(notice.key).location_key == "111122223333-us-east-1"
    assert all(m.receive_count == 1 for m in received)

    assert delete_messages(sqs, info.queue_url, [m.receipt_handle for m in received]) == []
    assert receive_batch(sqs, info.queue_url, 10, deadline_seconds=2) == []


def test_queue_attributes_dead_letter_queue_and_policy(session, aws_client, topic_arn):
    info = setup_queue(session, "collector-flowlogs", REGION, [topic_arn], config=FAST_FAIL)
    sqs = aws_client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=info.queue_url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "300"
    assert json.loads(attrs["RedrivePolicy"]) == {
        "deadLetterTargetArn": info.dlq_arn,
        "maxReceiveCount": 5,
    }
    [statement] = json.loads(attrs["Policy"])["Statement"]
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Resource"] == info.queue_arn
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": [topic_arn]}}
    assert info.dlq_arn.endswith(":collector-flowlogs-dlq")
    dlq_attrs = sqs.get_queue_attributes(QueueUrl=info.dlq_url, AttributeNames=["All"])
    assert dlq_attrs["Attributes"]["MessageRetentionPeriod"] == str(14 * 24 * 3600)


def test_setup_and_subscribe_are_idempotent(session, aws_client, topic_arn):
    first = setup_queue(session, "collector-flowlogs", REGION, [topic_arn], config=FAST_FAIL)
    other = aws_client("sns").create_topic(Name="flowlogs-other")["TopicArn"]
    again = setup_queue(session, "collector-flowlogs", REGION, [topic_arn, other], config=FAST_FAIL)
    assert again == first
    policy = aws_client("sqs").get_queue_attributes(
        QueueUrl=first.queue_url, AttributeNames=["Policy"]
    )["Attributes"]["Policy"]
    assert json.loads(policy)["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"] == sorted(
        [topic_arn, other]
    )

    [a] = subscribe_topics(session, first.queue_arn, [topic_arn], config=FAST_FAIL)
    [b] = subscribe_topics(session, first.queue_arn, [topic_arn], config=FAST_FAIL)
    assert a.subscription_arn == b.subscription_arn
    subs = aws_client("sns").list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert len(subs) == 1


def test_one_failing_topic_does_not_stop_the_others(session, aws_client, topic_arn):
    info = setup_queue(session, "collector-flowlogs", REGION, [topic_arn], config=FAST_FAIL)
    missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    west = aws_client("sns", "us-west-2").create_topic(Name="flowlogs-us-west-2")["TopicArn"]
    attempts = subscribe_topics(
        session, info.queue_arn, [missing, "not-an-arn", topic_arn, west], config=FAST_FAIL
    )
    by_topic = {a.topic_arn: a for a in attempts}
    assert not by_topic[missing].ok
    assert by_topic[missing].error == "NotFound: Topic does not exist"
    assert by_topic[missing].outcome == "failed"
    assert by_topic[missing].subscription_arn is None
    assert not by_topic["not-an-arn"].ok and by_topic["not-an-arn"].region is None
    assert by_topic["not-an-arn"].error.startswith("InvalidTopicArn:")
    assert by_topic[topic_arn].ok
    # The SNS client of the topic's own region was used (the topic lives only in us-west-2).
    assert by_topic[west].ok and by_topic[west].region == "us-west-2"


def test_multipart_upload_notifies_twice(session, aws_client, topic_arn):
    """moto quirk: a multipart upload emits ObjectCreated:Put and then
    ObjectCreated:CompleteMultipartUpload for one key (same eTag). Real S3 sends only the second,
    but may deliver any event twice; the object ledger de-duplicates, this layer passes both on."""
    info = setup_queue(session, "collector-flowlogs", REGION, [topic_arn], config=FAST_FAIL)
    subscribe_topics(session, info.queue_arn, [topic_arn], config=FAST_FAIL)
    notify_bucket(aws_client, topic_arn)
    s3 = aws_client("s3")
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=KEY)
    part = s3.upload_part(
        Bucket=BUCKET,
        Key=KEY,
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=gzip.compress(FLOW_LOG.encode()),
    )
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key=KEY,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    sqs = aws_client("sqs")
    received = receive_batch(sqs, info.queue_url, max_messages=10, deadline_seconds=5)
    objects = [notice for m in received for notice in parse_message(m.body, m.message_id).objects]
    assert [o.key for o in objects] == [KEY, KEY]
    assert [o.event_name for o in objects] == [
        "ObjectCreated:Put",
        "ObjectCreated:CompleteMultipartUpload",
    ]
    assert objects[0].etag == objects[1].etag  # same object: (bucket, key, etag) dedupes it


def test_malformed_message_left_undeleted_reaches_the_dlq(session, aws_client, topic_arn):
    info = setup_queue(
        session,
        "collector-flowlogs",
        REGION,
        [topic_arn],
        max_receive_count=2,
        visibility_timeout=30,  # only change_visibility brings it back in this test
        config=FAST_FAIL,
    )
    subscribe_topics(session, info.queue_arn, [topic_arn], config=FAST_FAIL)
    aws_client("sns").publish(TopicArn=topic_arn, Message="this is not an S3 event")
    sqs = aws_client("sqs")

    receive_counts = []
    for _ in range(4):
        received = receive_batch(sqs, info.queue_url, 10, deadline_seconds=2, wait_time_seconds=0)
        for message in received:
            parsed = parse_message(message.body, message.message_id)
            assert parsed.kind == "malformed"
            assert parsed.reason.startswith("SNS Message is not JSON")
            receive_counts.append(message.receive_count)
            # Not deleted; brought back at once here (a sensor would push it back minutes).
            assert change_visibility(sqs, info.queue_url, message.receipt_handle, 0)
        if not received:
            break
    assert receive_counts == [1, 2]

    dead = receive_batch(sqs, info.dlq_url, 10, deadline_seconds=2, wait_time_seconds=0)
    assert len(dead) == 1
    assert parse_message(dead[0].body, dead[0].message_id).reason.startswith(
        "SNS Message is not JSON"
    )
    assert queue_depth(sqs, info.queue_url) == {"visible": 0, "in_flight": 0, "delayed": 0}


def test_change_visibility_reports_an_invalid_handle(session, aws_client, topic_arn):
    info = setup_queue(session, "collector-flowlogs", REGION, [], config=FAST_FAIL)
    assert not change_visibility(aws_client("sqs"), info.queue_url, "expired-handle", 60)


def test_receive_stops_at_max_and_delete_batches_by_ten(session, aws_client):
    info = setup_queue(session, "collector-flowlogs", REGION, [], config=FAST_FAIL)
    sqs = aws_client("sqs")
    for start in range(0, 25, 10):
        sqs.send_message_batch(
            QueueUrl=info.queue_url,
            Entries=[
                {"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, min(start + 10, 25))
            ],
        )
    first = receive_batch(sqs, info.queue_url, max_messages=12, deadline_seconds=5)
    assert len(first) == 12
    assert len({m.message_id for m in first}) == 12
    rest = receive_batch(sqs, info.queue_url, max_messages=100, deadline_seconds=5)
    assert len(rest) == 13

    handles = [m.receipt_handle for m in first + rest]
    assert delete_messages(sqs, info.queue_url, handles + ["bogus-handle"]) == ["bogus-handle"]
    assert queue_depth(sqs, info.queue_url)["visible"] == 0


def test_receive_on_an_empty_queue_respects_a_short_deadline(session, aws_client):
    info = setup_queue(session, "collector-flowlogs", REGION, [], config=FAST_FAIL)
    started = time.monotonic()
    assert receive_batch(aws_client("sqs"), info.queue_url, 10, deadline_seconds=0.5) == []
    assert time.monotonic() - started < 1.0  # the long poll was capped by the time left (0 s)


class EndlessQueue:
    """A stand-in SQS client that always has new messages and records each call's arguments."""

    def __init__(self, clock: list[float], seconds_per_call: float):
        self.calls: list[dict] = []
        self.clock = clock
        self.seconds_per_call = seconds_per_call

    def receive_message(self, **kwargs):
        self.calls.append(kwargs)
        self.clock[0] += self.seconds_per_call
        n = len(self.calls)
        return {
            "Messages": [
                {
                    "MessageId": f"id-{n}-{i}",
                    "ReceiptHandle": f"rh-{n}-{i}",
                    "Body": "{}",
                    "Attributes": {
                        "ApproximateReceiveCount": "1",
                        "SentTimestamp": "1767323100000",
                    },
                }
                for i in range(kwargs["MaxNumberOfMessages"])
            ]
        }


def test_receive_stops_at_the_deadline_on_a_busy_queue():
    now = [0.0]
    fake = EndlessQueue(now, seconds_per_call=4.0)
    received = receive_batch(
        fake,
        "url",
        max_messages=10_000,
        deadline_seconds=10,
        wait_time_seconds=5,
        clock=lambda: now[0],
    )
    assert len(fake.calls) == 3  # at 0, 4 and 8 s; none starts at 12 s
    assert [c["WaitTimeSeconds"] for c in fake.calls] == [5, 5, 2]  # capped by the time left
    assert len(received) == 30
    assert received[0].sent_timestamp_ms == 1767323100000


def test_receive_asks_only_for_what_is_missing():
    now = [0.0]
    fake = EndlessQueue(now, seconds_per_call=0.1)
    received = receive_batch(
        fake, "url", max_messages=23, deadline_seconds=50, clock=lambda: now[0]
    )
    assert [c["MaxNumberOfMessages"] for c in fake.calls] == [10, 10, 3]
    assert len(received) == 23
