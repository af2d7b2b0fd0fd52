"""SQS message bodies as S3, SNS and moto really send them, and the broken ones."""

from __future__ import annotations

import json

import pytest

from cloudinsights_dagster.flowlogs.keys import parse_key
from cloudinsights_dagster.flowlogs.notifications import ObjectNotice, parse_message

TOPIC = "arn:aws:sns:eu-west-1:111122223333:flowlogs-eu-west-1"
BUCKET = "acme-flow-logs"
KEY = (
    "AWSLogs/111122223333/vpcflowlogs/eu-west-1/2026/01/02/"
    "111122223333_vpcflowlogs_eu-west-1_fl-0123456789abcdef0_20260102T0305Z_fe123456.log.gz"
)


def s3_record(
    key: str = KEY,
    event_name: str = "ObjectCreated:Put",
    *,
    etag: str | None = "b0a7e1c3d4e5f60718293a4b5c6d7e8f",
    sequencer: str | None = "0055AED6DCD90281E5",
    version_id: str | None = None,
    size: int | None = 4242,
) -> dict:
    """An S3 event record shaped like the AWS documentation's example (event version 2.1)."""
    obj: dict = {"key": key}
    if size is not None:
        obj["size"] = size
    if etag is not None:
        obj["eTag"] = etag
    if version_id is not None:
        obj["versionId"] = version_id
    if sequencer is not None:
        obj["sequencer"] = sequencer
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-1",
        "eventTime": "2026-01-02T03:05:12.345Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AROAEXAMPLE:delivery.logs.amazonaws.com"},
        "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURI"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "flowlogs-to-sns",
            "bucket": {
                "name": BUCKET,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{BUCKET}",
            },
            "object": obj,
        },
    }


def sns_envelope(message: str, msg_type: str = "Notification") -> str:
    return json.dumps(
        {
            "Type": msg_type,
            "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
            "TopicArn": TOPIC,
            "Subject": "Amazon S3 Notification",
            "Message": message,
            "Timestamp": "2026-01-02T03:05:12.500Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE==",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
            "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
        }
    )


def event(*records: dict) -> str:
    return json.dumps({"Records": list(records)})


def test_sns_envelope_around_an_s3_event():
    parsed = parse_message(sns_envelope(event(s3_record())), "m-1")
    assert parsed.kind == "objects"
    assert parsed.message_id == "m-1"
    assert parsed.topic_arn == TOPIC
    assert parsed.reason is None
    assert parsed.objects == [
        ObjectNotice(
            bucket=BUCKET,
            key=KEY,
            etag="b0a7e1c3d4e5f60718293a4b5c6d7e8f",
            size=4242,
            event_name="ObjectCreated:Put",
            event_time="2026-01-02T03:05:12.345Z",
            sequencer="0055AED6DCD90281E5",
            version_id=None,
            region="eu-west-1",
        )
    ]
    assert parse_key(parsed.objects[0].key).location_key == "111122223333-eu-west-1"


def test_raw_message_delivery_has_no_topic():
    parsed = parse_message(event(s3_record(version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")), "m")
    assert parsed.kind == "objects"
    assert parsed.topic_arn is None
    assert parsed.objects[0].version_id == "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"


def test_test_event_in_sns_and_raw():
    test_event = json.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2026-01-02T03:00:00.000Z",
            "Bucket": BUCKET,
            "RequestId": "5582815E1AEA5ADF",
            "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
        }
    )
    for body in (sns_envelope(test_event), test_event):
        parsed = parse_message(body, "m")
        assert parsed.kind == "test_event"
        assert parsed.objects == []
        assert parsed.bucket == BUCKET
    assert parse_message(sns_envelope(test_event), "m").topic_arn == TOPIC


def test_object_removed_only_is_ignored_with_reason():
    parsed = parse_message(sns_envelope(event(s3_record(event_name="ObjectRemoved:Delete"))), "m")
    assert parsed.kind == "ignored"
    assert parsed.objects == []
    assert parsed.skipped_events == ["ObjectRemoved:Delete"]
    assert "ObjectRemoved:Delete" in parsed.reason


def test_mixed_records_keep_the_creates_and_count_the_rest():
    body = event(
        s3_record(event_name="ObjectRemoved:DeleteMarkerCreated"),
        s3_record(event_name="ObjectCreated:CompleteMultipartUpload"),
        s3_record(event_name="ObjectRestore:Completed"),
    )
    parsed = parse_message(body, "m")
    assert parsed.kind == "objects"
    assert [o.event_name for o in parsed.objects] == ["ObjectCreated:CompleteMultipartUpload"]
    assert parsed.skipped_events == ["ObjectRemoved:DeleteMarkerCreated", "ObjectRestore:Completed"]


@pytest.mark.parametrize(
    ("raw_key", "decoded"),
    [
        # moto (and some producers) over-encode '/'
        (
            "AWSLogs%2F111122223333%2Fvpcflowlogs%2Feu-west-1%2F2026%2F01%2F02%2F"
            + KEY.split("/")[-1],
            KEY,
        ),
        # AWS: spaces as '+', a literal '+' as %2B, other reserved characters %-encoded
        ("my+logs/AWSLogs/x%2By%3Dz.log.gz", "my logs/AWSLogs/x+y=z.log.gz"),
        (KEY, KEY),
    ],
)
def test_keys_are_url_decoded(raw_key, decoded):
    parsed = parse_message(sns_envelope(event(s3_record(key=raw_key))), "m")
    assert parsed.objects[0].key == decoded


def test_missing_etag_sequencer_and_size_are_tolerated():
    parsed = parse_message(event(s3_record(etag=None, sequencer=None, size=None)), "m")
    assert parsed.kind == "objects"
    notice = parsed.objects[0]
    assert (notice.etag, notice.sequencer, notice.version_id, notice.size) == (
        None,
        None,
        None,
        None,
    )


def test_quoted_etag_is_unquoted():
    parsed = parse_message(event(s3_record(etag='"abc123"')), "m")
    assert parsed.objects[0].etag == "abc123"


def test_subscription_confirmation_is_ignored():
    body = json.dumps(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37-EXAMPLE",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe to the topic ...",
            "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
            "Timestamp": "2026-01-02T03:00:00.000Z",
        }
    )
    parsed = parse_message(body, "m")
    assert parsed.kind == "ignored"
    assert parsed.topic_arn == TOPIC
    assert "SubscriptionConfirmation" in parsed.reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json at all", "message body is not JSON"),
        ("", "message body is not JSON"),
        ("[1, 2]", "message body is a JSON array"),
        (sns_envelope("Hello <b>world</b>"), "SNS Message is not JSON"),
        (sns_envelope('"just a string"'), "SNS Message is a JSON string"),
        (sns_envelope(json.dumps({"hello": "world"})), "S3 event has no Records"),
        (json.dumps({"hello": "world"}), "S3 event has no Records"),
        (
            json.dumps({"detail-type": "Object Created", "source": "aws.s3", "detail": {}}),
            "EventBridge",
        ),
        (sns_envelope(json.dumps({"Records": {}})), "Records is a JSON object, not a list"),
        (sns_envelope(json.dumps({"Records": []})), "Records is empty"),
        (sns_envelope("{}", msg_type="Weird"), "unknown SNS message Type 'Weird'"),
        (json.dumps({"Type": "Notification", "TopicArn": TOPIC}), "no Message string"),
    ],
)
def test_malformed_messages_have_a_specific_reason(body, reason):
    parsed = parse_message(body, "m-bad")
    assert parsed.kind == "malformed"
    assert parsed.message_id == "m-bad"
    assert reason in parsed.reason
    assert parsed.objects == []


def _without(record: dict, *path: str) -> dict:
    node = record
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return record


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (_without(s3_record(), "s3", "object", "key"), "record 2 has no s3.object.key"),
        (_without(s3_record(), "s3", "bucket", "name"), "record 2 has no s3.bucket.name"),
        (_without(s3_record(), "s3"), "record 2 has no s3 section"),
        (_without(s3_record(), "eventName"), "record 2 has no eventName"),
        ("a string", "record 2 is a JSON string, expected an object"),
        (s3_record(size=-1), "record 2 has an invalid s3.object.size -1"),
    ],
)
def test_a_broken_record_makes_the_message_malformed(broken, reason):
    parsed = parse_message(sns_envelope(event(s3_record(), broken)), "m")
    assert parsed.kind == "malformed"
    assert parsed.reason == reason
    assert parsed.topic_arn == TOPIC


def test_records_of_other_services_are_skipped():
    other = {"eventSource": "aws:sqs", "eventName": "Something"}
    parsed = parse_message(event(other, s3_record()), "m")
    assert parsed.kind == "objects"
    assert parsed.skipped_events == ["aws:sqs Something"]
