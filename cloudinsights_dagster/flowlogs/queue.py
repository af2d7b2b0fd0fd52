"""The collector's SQS queue that the flow-log SNS topics deliver to: set-up, subscriptions, and a
bounded receive / delete loop for the flow-logs sensor.

Message life cycle (at-least-once in, exactly-once in the tables):
- the sensor receives a batch, records the notified objects durably, then deletes the messages;
- a message is never deleted before its objects are recorded; a crash means redelivery, which
  the object ledger de-duplicates (S3 and SNS may also deliver the same event twice, and a
  multipart upload can notify the same key more than once);
- a malformed message is logged and left undeleted (optionally pushed back with
  change_visibility so it does not come back at once); after `max_receive_count` receives the
  queue's redrive policy moves it to the dead-letter queue, where it stays for inspection.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cloudinsights_dagster.arns import InvalidIdentifier, parse_topic_arn
from cloudinsights_dagster.aws import Outcome, classify_error, client, error_message

DEFAULT_VISIBILITY_TIMEOUT = 300  # seconds a received message stays hidden while a run records it
DEFAULT_RETENTION = 4 * 24 * 3600  # 4 days in the main queue
DLQ_RETENTION = 14 * 24 * 3600  # the maximum, so dead letters outlive their originals
DEFAULT_MAX_RECEIVE_COUNT = 5
MAX_VISIBILITY_TIMEOUT = 12 * 3600
SQS_BATCH = 10  # ReceiveMessage / DeleteMessageBatch limit


@dataclass(frozen=True)
class QueueInfo:
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str


@dataclass(frozen=True)
class SubscriptionAttempt:
    topic_arn: str
    ok: bool
    subscription_arn: str | None
    error: str | None  # "Code: message" from AWS (or the validation error)
    region: str | None  # the topic's region, from its ARN
    outcome: Outcome = "ok"  # ok / denied / failed, for the integration status
    pending_confirmation: bool = False


@dataclass(frozen=True)
class ReceivedMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int  # ApproximateReceiveCount, 1 on first delivery
    sent_timestamp_ms: int | None = None


def dlq_name(queue_name: str) -> str:
    return f"{queue_name}-dlq"


def queue_policy(queue_arn: str, topic_arns: Iterable[str]) -> dict | None:
    """The queue access policy: SNS may send to the queue only on behalf of these topics.

    None when there are no topics (the queue then accepts nothing from SNS).
    """
    topics = sorted(set(topic_arns))
    if not topics:
        return None
    return {
        "Version": "2012-10-17",
        "Id": "cloudinsights-flowlogs-queue",
        "Statement": [
            {
                "Sid": "AllowFlowLogTopics",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topics}},
            }
        ],
    }


def setup_queue(
    session: boto3.Session,
    queue_name: str,
    region: str,
    topic_arns: Sequence[str],
    *,
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT,
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
    retention_seconds: int = DEFAULT_RETENTION,
    config: Config | None = None,
) -> QueueInfo:
    """Create (or converge) the queue and its dead-letter queue; idempotent.

    `topic_arns` is the complete set of topics allowed to deliver: the access policy is replaced
    by one naming exactly these. Standard queues only (S3 cannot notify FIFO SNS topics).
    """
    if queue_name.endswith(".fifo"):
        raise ValueError(f"queue {queue_name!r}: S3 notifications need a standard (non-FIFO) queue")
    if not 1 <= max_receive_count <= 1000:
        raise ValueError(f"max_receive_count must be 1..1000, got {max_receive_count}")
    sqs = client(session, "sqs", region, config=config)

    dlq_url = _ensure_queue(sqs, dlq_name(queue_name))
    dlq_arn = _queue_arn(sqs, dlq_url)
    queue_url = _ensure_queue(sqs, queue_name)
    queue_arn = _queue_arn(sqs, queue_url)

    policy = queue_policy(queue_arn, topic_arns)
    sqs.set_queue_attributes(
        QueueUrl=queue_url,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "MessageRetentionPeriod": str(retention_seconds),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
            ),
            "Policy": json.dumps(policy) if policy else "",
            "SqsManagedSseEnabled": "true",
        },
    )
    sqs.set_queue_attributes(
        QueueUrl=dlq_url,
        Attributes={
            "MessageRetentionPeriod": str(DLQ_RETENTION),
            "RedriveAllowPolicy": json.dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn]}
            ),
            "SqsManagedSseEnabled": "true",
        },
    )
    return QueueInfo(queue_url, queue_arn, dlq_url, dlq_arn)


def subscribe_topics(
    session: boto3.Session,
    queue_arn: str,
    topic_arns: Sequence[str],
    *,
    config: Config | None = None,
) -> list[SubscriptionAttempt]:
    """Subscribe the queue to each topic, calling SNS in the topic's own region.

    One attempt per distinct topic, in order; a failure (bad ARN, missing topic, AccessDenied,
    network) is recorded and the next topic is tried. Subscribing again returns the existing
    subscription (SNS matches on topic, protocol, endpoint and attributes).
    """
    attempts: list[SubscriptionAttempt] = []
    for topic_arn in dict.fromkeys(topic_arns):
        try:
            region = parse_topic_arn(topic_arn).region
        except InvalidIdentifier as exc:
            attempts.append(
                SubscriptionAttempt(
                    topic_arn, False, None, f"InvalidTopicArn: {exc}", None, outcome="failed"
                )
            )
            continue
        try:
            sns = client(session, "sns", region, config=config)
            response = sns.subscribe(
                TopicArn=topic_arn,
                Protocol="sqs",
                Endpoint=queue_arn,
                ReturnSubscriptionArn=True,
            )
        except (ClientError, BotoCoreError) as exc:
            attempts.append(
                SubscriptionAttempt(
                    topic_arn, False, None, error_message(exc), region, outcome=classify_error(exc)
                )
            )
            continue
        arn = response.get("SubscriptionArn")
        pending = not (isinstance(arn, str) and arn.startswith("arn:"))
        attempts.append(
            SubscriptionAttempt(
                topic_arn,
                True,
                None if pending else arn,
                None,
                region,
                pending_confirmation=pending,
            )
        )
    return attempts


DEFAULT_WORKERS = 8  # concurrent ReceiveMessage / DeleteMessageBatch calls (botocore pools 10)


def receive_batch(
    sqs_client,
    queue_url: str,
    max_messages: int,
    deadline_seconds: float,
    wait_time_seconds: int = 1,
    *,
    visibility_timeout: int | None = None,
    clock=time.monotonic,
    workers: int = 1,
) -> list[ReceivedMessage]:
    """Receive up to `max_messages` messages within `deadline_seconds`.

    Stops at the first of: `max_messages` collected; the deadline (no call starts after it, and
    each long poll is capped by the time left); the queue answering empty; a receive that brings
    only messages already in this batch (their visibility timeout ran out, e.g. 0). Each call
    waits at most `wait_time_seconds` (long polling, so an empty answer means empty; with 0,
    SQS short-polls a sample of servers and may answer empty early). A message received twice in
    one batch is kept once, with its newest receipt handle. The time used is about
    deadline + one HTTP round trip: choose the deadline well inside a sensor's 60 s timeout.

    With `workers` > 1, that many threads call ReceiveMessage at once on the one client (boto3
    clients are thread-safe); each stops on the conditions above, and once one worker has seen
    the queue empty (or only repeats) no call starts again. The calls in flight never ask for
    more than is missing, so no message is received and then dropped.
    """
    if max_messages <= 0 or deadline_seconds <= 0:
        return []
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    end = clock() + deadline_seconds
    batch: dict[str, ReceivedMessage] = {}
    lock = threading.Lock()
    stop = threading.Event()
    asked = [0]  # messages the calls in flight may still bring

    def worker() -> None:
        while not stop.is_set():
            remaining = end - clock()
            if remaining <= 0:
                stop.set()
                return
            with lock:
                # Reserve what is missing less what the calls in flight may bring, so the
                # batch never overshoots max_messages (messages received but not returned
                # would stay hidden for their whole visibility timeout).
                count = min(SQS_BATCH, max_messages - len(batch) - asked[0])
                if count <= 0:
                    return  # the calls in flight cover the rest
                asked[0] += count
            kwargs = {
                "QueueUrl": queue_url,
                "MaxNumberOfMessages": count,
                "WaitTimeSeconds": max(0, min(int(wait_time_seconds), int(remaining), 20)),
                "MessageSystemAttributeNames": ["ApproximateReceiveCount", "SentTimestamp"],
            }
            if visibility_timeout is not None:
                kwargs["VisibilityTimeout"] = visibility_timeout
            try:
                messages = sqs_client.receive_message(**kwargs).get("Messages", [])
            except BaseException:
                stop.set()  # the others stop too; the error reaches the caller
                raise
            new = 0
            with lock:
                asked[0] -= count  # with the batch update, so no one over-asks in between
                for raw in messages:
                    message = _received(raw)
                    if message.message_id not in batch:
                        new += 1
                    batch[message.message_id] = message
            if new == 0:
                stop.set()
                return

    if workers == 1:
        worker()
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="sqs-receive") as pool:
            futures = [pool.submit(worker) for _ in range(workers)]
        for future in futures:
            future.result()  # re-raise a worker's error
    return list(batch.values())[:max_messages]


def delete_messages(
    sqs_client, queue_url: str, receipt_handles: Iterable[str], *, workers: int = 1
) -> list[str]:
    """Delete messages in batches of 10; returns the receipt handles that were NOT deleted.

    A failed batch call (network, AccessDenied) marks its whole batch failed and the other
    batches are still tried; with `workers` > 1, that many DeleteMessageBatch calls run at once
    on the one client. Undeleted messages simply come back after their visibility timeout.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    handles = list(dict.fromkeys(receipt_handles))
    chunks = [handles[start : start + SQS_BATCH] for start in range(0, len(handles), SQS_BATCH)]

    def delete(chunk: list[str]) -> list[str]:
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)]
        try:
            response = sqs_client.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        except (ClientError, BotoCoreError):
            return chunk
        return [chunk[int(entry["Id"])] for entry in response.get("Failed", [])]

    if workers == 1 or len(chunks) <= 1:
        results = [delete(chunk) for chunk in chunks]
    else:
        with ThreadPoolExecutor(min(workers, len(chunks)), thread_name_prefix="sqs-delete") as pool:
            results = list(pool.map(delete, chunks))  # in order: failures keep the input order
    return [handle for failed in results for handle in failed]


def change_visibility(sqs_client, queue_url: str, receipt_handle: str, seconds: int) -> bool:
    """Hide a received message for `seconds` more (0 makes it visible now); False if SQS refused
    (e.g. the receipt handle expired). Used to push a malformed message back so it reaches the
    dead-letter queue after maxReceiveCount receives without hot-looping."""
    seconds = max(0, min(int(seconds), MAX_VISIBILITY_TIMEOUT))
    try:
        sqs_client.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )
    except (ClientError, BotoCoreError):
        return False
    return True


def queue_depth(sqs_client, queue_url: str) -> dict[str, int]:
    """Approximate message counts: visible, in flight (not visible) and delayed."""
    attributes = sqs_client.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return {
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    }


def _ensure_queue(sqs, name: str) -> str:
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
    # Attributes are set afterwards (set_queue_attributes), so a concurrent creator with the
    # same bare name gets the same URL instead of QueueAlreadyExists.
    return sqs.create_queue(QueueName=name)["QueueUrl"]


def _queue_arn(sqs, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


def _received(raw: dict) -> ReceivedMessage:
    attributes = raw.get("Attributes", {})
    sent = attributes.get("SentTimestamp")
    return ReceivedMessage(
        message_id=raw["MessageId"],
        receipt_handle=raw["ReceiptHandle"],
        body=raw.get("Body", ""),
        receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
        sent_timestamp_ms=int(sent) if sent and str(sent).isdigit() else None,
    )
