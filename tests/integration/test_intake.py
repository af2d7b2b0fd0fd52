"""`take_in`: a batch of SQS messages into the ledger in one transaction (bulk upserts), on
SQLite and PostgreSQL: outcomes per notice, filtered objects, logs, deletable receipts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote

import sqlalchemy as sa
from flowlog_samples import object_key
from warehouse_calls import in_transaction

from cloudinsights_dagster.flowlogs.intake import take_in
from cloudinsights_dagster.flowlogs.queue import ReceivedMessage
from cloudinsights_dagster.integration_logs import LogFilter, query_logs
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import get_engine

ACCOUNT = "111122223333"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:flow-logs"
NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
START = int(datetime(2026, 5, 1, 8, 0, tzinfo=UTC).timestamp())


def envelope(*objects: tuple[str, str]) -> str:
    records = [
        {
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": {"name": "logs"},
                "object": {"key": quote(key, safe=""), "size": 10, "eTag": etag},
            },
        }
        for key, etag in objects
    ]
    return json.dumps(
        {"Type": "Notification", "TopicArn": TOPIC, "Message": json.dumps({"Records": records})}
    )


def message(n: int, body: str) -> ReceivedMessage:
    return ReceivedMessage(f"m{n}", f"rh{n}", body, 1)


def test_a_batch_with_duplicates_changes_and_filtered_objects(database_url):
    registry = Registry(database_url)
    role = f"arn:aws:iam::{ACCOUNT}:role/r"
    registry.add_inventory("g1", "inv", role, ["us-east-1"])
    registry.add_flowlogs("g1", "flows", role, [TOPIC])
    mine = [
        object_key(ACCOUNT, "us-east-1", "fl-1", START + 300 * i, suffix=f"s{i}") for i in range(3)
    ]
    foreign = object_key(ACCOUNT, "eu-west-1", "fl-2", START, suffix="eu")  # not monitored
    bodies = [
        envelope((mine[0], "e1"), (mine[1], "e1")),
        envelope((mine[0], "e1")),  # redelivered
        envelope((mine[1], "e2")),  # overwritten
        envelope((foreign, "e1")),
        envelope((foreign, "e1"), ("not/a/flow/log.txt", "e1")),
        json.dumps({"Type": "Notification", "TopicArn": TOPIC, "Message": "{}"}),  # malformed
        envelope((mine[2], "e1")),
    ]
    result = in_transaction(
        registry.database_url, take_in, registry, [message(i, b) for i, b in enumerate(bodies)], NOW
    )

    assert result.delete_receipts == ["rh0", "rh1", "rh2", "rh3", "rh4", "rh6"]
    assert result.malformed_receipts == ["rh5"]
    assert result.counts["object_new"] == 3
    assert result.counts["object_duplicate"] == 1
    assert result.counts["object_changed"] == 1
    assert result.counts["filtered_new"] == 1 and result.counts["filtered_duplicate"] == 1
    assert result.counts["not_flow_log"] == 1
    assert result.partitions == {(f"{ACCOUNT}-us-east-1", "2026-05-01")}
    with get_engine(database_url).connect() as conn:
        ledger = {
            r.object_key: (r.status, r.etag)
            for r in conn.execute(
                sa.select(s.FlowLogObject.object_key, s.FlowLogObject.status, s.FlowLogObject.etag)
            )
        }
    assert ledger == {
        mine[0]: ("pending", "e1"),
        mine[1]: ("pending", "e2"),
        mine[2]: ("pending", "e1"),
        foreign: ("filtered", "e1"),
    }
    filtered = in_transaction(database_url, query_logs, LogFilter("g1", category="logFilter"))
    # One warning for the unmonitored object (not for its duplicate), one for the non-flow-log.
    assert sorted(f["details"]["key"] for f in filtered) == sorted([foreign, "not/a/flow/log.txt"])

    again = in_transaction(
        registry.database_url,
        take_in,
        registry,
        [message(8, bodies[2]), message(9, bodies[6])],
        NOW,
    )
    assert again.counts == {"objects": 2, "object_duplicate": 2} and not again.partitions
