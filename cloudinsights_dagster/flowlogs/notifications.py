"""SQS message bodies from the flow-log buckets: S3 event notifications, usually inside an SNS
envelope, turned into the list of created objects to ingest.

Shapes handled:
- SNS envelope (`Type: Notification`, `TopicArn`, `Message` = a JSON string of an S3 event);
- a raw S3 event (the subscription has RawMessageDelivery on): `{"Records": [...]}`;
- `s3:TestEvent` (sent when a bucket notification is configured): kind "test_event";
- non-create events (ObjectRemoved, Restore, ...): dropped; a message with only those is "ignored";
- SNS `SubscriptionConfirmation` / `UnsubscribeConfirmation`: "ignored" (SNS confirms SQS
  subscriptions itself when the subscriber owns the queue);
- anything else is "malformed", with a specific reason. The caller logs it and leaves the message
  undeleted so that the queue's redrive policy moves it to the dead-letter queue.

Object keys in S3 events are URL-encoded (spaces as '+'; some producers also encode '/'), so
every key is decoded with urllib.parse.unquote_plus. eTag, sequencer and versionId are optional.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote_plus

MessageKind = Literal["objects", "test_event", "ignored", "malformed"]

CREATED_PREFIX = "ObjectCreated:"
TEST_EVENT = "s3:TestEvent"
SNS_CONFIRMATIONS = ("SubscriptionConfirmation", "UnsubscribeConfirmation")


@dataclass(frozen=True)
class ObjectNotice:
    """One created S3 object as notified (key decoded)."""

    bucket: str
    key: str
    etag: str | None = None  # without quotes; absent in some producers
    size: int | None = None
    event_name: str = "ObjectCreated:Put"
    event_time: str | None = None  # ISO 8601 as sent, e.g. 2026-01-02T03:05:00.000Z
    sequencer: str | None = None  # orders events of the same key; absent in moto
    version_id: str | None = None  # only for versioned buckets
    region: str | None = None  # the bucket's region (awsRegion)


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str
    kind: MessageKind
    topic_arn: str | None = None  # from the SNS envelope; None for raw delivery
    objects: list[ObjectNotice] = field(default_factory=list)
    reason: str | None = None  # why a message is malformed or ignored
    skipped_events: list[str] = field(default_factory=list)  # non-create event names dropped
    bucket: str | None = None  # for test events: the bucket being configured


def parse_message(body: str, message_id: str) -> ParsedMessage:
    """Classify one SQS message body and extract the created objects it notifies."""
    try:
        outer = json.loads(body)
    except (TypeError, ValueError) as exc:
        return _malformed(message_id, None, f"message body is not JSON ({_short(exc)})")
    if not isinstance(outer, dict):
        return _malformed(
            message_id, None, f"message body is a JSON {_json_type(outer)}, expected an object"
        )

    topic_arn: str | None = None
    event: Any = outer
    if "Type" in outer and ("TopicArn" in outer or "Message" in outer):
        sns_type = outer.get("Type")
        topic_arn = outer.get("TopicArn") if isinstance(outer.get("TopicArn"), str) else None
        if sns_type in SNS_CONFIRMATIONS:
            return ParsedMessage(
                message_id,
                "ignored",
                topic_arn,
                reason=f"SNS {sns_type} (the SQS subscription needs no action)",
            )
        if sns_type != "Notification":
            return _malformed(message_id, topic_arn, f"unknown SNS message Type {sns_type!r}")
        inner = outer.get("Message")
        if not isinstance(inner, str):
            return _malformed(message_id, topic_arn, "SNS envelope has no Message string")
        try:
            event = json.loads(inner)
        except ValueError as exc:
            return _malformed(message_id, topic_arn, f"SNS Message is not JSON ({_short(exc)})")
        if not isinstance(event, dict):
            return _malformed(
                message_id,
                topic_arn,
                f"SNS Message is a JSON {_json_type(event)}, expected an S3 event object",
            )

    return _parse_s3_event(event, message_id, topic_arn)


def _parse_s3_event(event: dict, message_id: str, topic_arn: str | None) -> ParsedMessage:
    if event.get("Event") == TEST_EVENT:
        bucket = event.get("Bucket") if isinstance(event.get("Bucket"), str) else None
        return ParsedMessage(
            message_id, "test_event", topic_arn, reason="s3:TestEvent", bucket=bucket
        )
    if "Records" not in event:
        hint = " (an EventBridge event?)" if "detail-type" in event else ""
        return _malformed(message_id, topic_arn, f"S3 event has no Records{hint}")
    records = event["Records"]
    if not isinstance(records, list):
        return _malformed(
            message_id, topic_arn, f"S3 event Records is a JSON {_json_type(records)}, not a list"
        )
    if not records:
        return _malformed(message_id, topic_arn, "S3 event Records is empty")

    objects: list[ObjectNotice] = []
    skipped: list[str] = []
    for number, record in enumerate(records, start=1):
        notice = _parse_record(record, number)
        if isinstance(notice, _Skipped):
            skipped.append(notice.event_name)
        elif isinstance(notice, str):
            return _malformed(message_id, topic_arn, notice)
        else:
            objects.append(notice)

    if not objects:
        return ParsedMessage(
            message_id,
            "ignored",
            topic_arn,
            reason=f"no ObjectCreated events ({', '.join(sorted(set(skipped)))})",
            skipped_events=skipped,
        )
    return ParsedMessage(message_id, "objects", topic_arn, objects=objects, skipped_events=skipped)


@dataclass(frozen=True)
class _Skipped:
    event_name: str


def _parse_record(record: Any, number: int) -> ObjectNotice | _Skipped | str:
    """An ObjectNotice, _Skipped for a non-create event, or the reason the record is malformed."""
    if not isinstance(record, dict):
        return f"record {number} is a JSON {_json_type(record)}, expected an object"
    source = record.get("eventSource")
    event_name = record.get("eventName")
    if not isinstance(event_name, str) or not event_name:
        return f"record {number} has no eventName"
    if source is not None and source != "aws:s3":
        return _Skipped(f"{source} {event_name}")
    if not event_name.startswith(CREATED_PREFIX):
        return _Skipped(event_name)

    s3 = record.get("s3")
    if not isinstance(s3, dict):
        return f"record {number} has no s3 section"
    bucket = s3.get("bucket")
    bucket_name = bucket.get("name") if isinstance(bucket, dict) else None
    if not isinstance(bucket_name, str) or not bucket_name:
        return f"record {number} has no s3.bucket.name"
    obj = s3.get("object")
    if not isinstance(obj, dict):
        return f"record {number} has no s3.object.key"
    raw_key = obj.get("key")
    if not isinstance(raw_key, str) or not raw_key:
        return f"record {number} has no s3.object.key"
    size = obj.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        return f"record {number} has an invalid s3.object.size {size!r}"

    return ObjectNotice(
        bucket=bucket_name,
        key=unquote_plus(raw_key),
        etag=(_optional_str(obj.get("eTag")) or "").strip('"') or None,
        size=size,
        event_name=event_name,
        event_time=_optional_str(record.get("eventTime")),
        sequencer=_optional_str(obj.get("sequencer")),
        version_id=_optional_str(obj.get("versionId")),
        region=_optional_str(record.get("awsRegion")),
    )


def _malformed(message_id: str, topic_arn: str | None, reason: str) -> ParsedMessage:
    return ParsedMessage(message_id, "malformed", topic_arn, reason=reason)


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return "object"


def _short(exc: BaseException) -> str:
    return str(exc)[:120]
