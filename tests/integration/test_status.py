"""Integration status transitions, their reasons, the 30-minute window, recovery, logs
summaries and account-group isolation (SQLite and PostgreSQL)."""

from datetime import timedelta

import pytest
from warehouse_calls import in_transaction

from cloudinsights_dagster.flowlogs.ledger import ObjectRef, upsert_object
from cloudinsights_dagster.flowlogs.queue import SubscriptionAttempt
from cloudinsights_dagster.flowlogs.subscriptions import TopicAttempt, record_attempts
from cloudinsights_dagster.integration_logs import (
    LogEntry,
    LogFilter,
    add_logs,
    hourly_summary,
    prune_logs,
    query_logs,
)
from cloudinsights_dagster.inventory.model import ApiOutcome, CollectionResult, ResourceRecord
from cloudinsights_dagster.inventory.store import record_snapshot
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.status import compute_status
from cloudinsights_dagster.warehouse.db import session_scope
from cloudinsights_dagster.warehouse.schema import utcnow

ROLE = "arn:aws:iam::111122223333:role/ci"
LOC = "111122223333-us-east-1"
T1 = "arn:aws:sns:us-east-1:111122223333:flow-a"
T2 = "arn:aws:sns:us-west-2:111122223333:flow-b"
FULL_FORMAT = (
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} "
    "${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} "
    "${log-status} ${flow-direction} ${tcp-flags} ${traffic-path}"
)


@pytest.fixture
def registry(database_url):
    reg = Registry(database_url)
    reg.add_inventory("g1", "inv", ROLE, ["us-east-1"])
    reg.add_flowlogs("g1", "flows", ROLE, [T1, T2])
    return reg


def status_of(registry, name, now, group="g1"):
    (view,) = [
        v
        for v in in_transaction(registry.database_url, compute_status, registry, now, group)
        if v.integration.name == name
    ]
    return view


def snap(registry, at, outcomes=None, records=()):
    outcomes = outcomes or [ApiOutcome("vpc", "ec2:DescribeVpcs", "ok", None, 0)]
    result = CollectionResult(LOC, "111122223333", "us-east-1", list(records), outcomes)
    with session_scope(registry.database_url) as session:
        record_snapshot(session, result, at)


def test_inventory_status_transitions(registry):
    now = utcnow()
    assert status_of(registry, "inv", now).status == "pending"

    snap(registry, now - timedelta(minutes=10))
    assert status_of(registry, "inv", now).status == "connected"

    snap(
        registry,
        now - timedelta(minutes=5),
        [
            ApiOutcome("vpc", "ec2:DescribeVpcs", "ok", None, 0),
            ApiOutcome(
                "transit_gateway",
                "ec2:DescribeTransitGateways",
                "denied",
                "UnauthorizedOperation: not authorized",
                0,
            ),
        ],
    )
    view = status_of(registry, "inv", now)
    assert view.status == "connected_with_warning"
    assert view.reasons == [f"{LOC}: access denied to ec2:DescribeTransitGateways"]
    assert "cloudinsights settings" in view.fix

    snap(
        registry,
        now - timedelta(minutes=1),
        [ApiOutcome("vpc", "ec2:DescribeVpcs", "failed", "AssumeRole arn: AccessDenied", 0)],
    )
    view = status_of(registry, "inv", now)
    assert view.status == "failed" and "cannot be assumed" in view.reasons[0]
    assert "trust policy" in view.fix

    snap(registry, now)  # trust restored: recovers by itself
    assert status_of(registry, "inv", now).status == "connected"


def test_run_failure_fails_until_a_later_success_or_the_window_passes(registry):
    now = utcnow()
    # The previous tick (not 20 minutes back: three ticks between would read as skipped).
    snap(registry, now - timedelta(minutes=5))
    inv = registry.get("g1", "inv")
    in_transaction(
        registry.database_url,
        add_logs,
        [LogEntry(inv.id, "run", "error", "run abc of inventory_job failed: boom", utcnow())],
    )
    view = status_of(registry, "inv", utcnow())
    assert view.status == "failed" and "boom" in view.reasons[0]
    # 31 minutes on, the run failure has left the window; the snapshot, recorded 31 minutes
    # before that clock, is now late (no snapshot for more than two ticks), not failed.
    later = status_of(registry, "inv", utcnow() + timedelta(minutes=31))
    assert later.status == "connected_with_warning"
    assert len(later.reasons) == 1 and "snapshot late" in later.reasons[0]
    snap(registry, now)  # a later successful snapshot
    assert status_of(registry, "inv", utcnow()).status == "connected"


def test_flow_log_configuration_warning_before_any_file(registry):
    now = utcnow()
    default_format = (
        "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} "
        "${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} "
        "${action} ${log-status}"
    )
    records = [
        ResourceRecord(
            "flow_log",
            "fl-old",
            {
                "flow_log_id": "fl-old",
                "resource_id": "vpc-1",
                "log_format": default_format,
                "destination_type": "s3",
                "destination_bucket": "logs",
            },
        ),
        ResourceRecord(
            "flow_log",
            "fl-good",
            {
                "flow_log_id": "fl-good",
                "resource_id": "vpc-2",
                "log_format": FULL_FORMAT,
                "destination_type": "s3",
                "destination_bucket": "logs",
            },
        ),
    ]
    snap(registry, now, [ApiOutcome("flow_log", "ec2:DescribeFlowLogs", "ok", None, 2)], records)
    view = status_of(registry, "inv", now)
    assert view.status == "connected_with_warning"
    (reason,) = view.reasons
    assert "fl-old" in reason and "vpc-1" in reason
    assert "flow-direction, tcp-flags, traffic-path" in reason and "recreate" in reason


def _subscribe(registry, results, now):
    flows = registry.get("g1", "flows")
    in_transaction(
        registry.database_url,
        record_attempts,
        [
            TopicAttempt(
                flows.id,
                SubscriptionAttempt(
                    arn,
                    ok,
                    f"{arn}:sub" if ok else None,
                    None if ok else "NotFound: Topic does not exist",
                    arn.split(":")[3],
                ),
            )
            for arn, ok in results
        ],
        "arn:aws:sqs:us-east-1:123456789012:q",
        now,
    )


def test_flowlogs_status_transitions(registry):
    now = utcnow()
    assert status_of(registry, "flows", now).status == "pending"

    _subscribe(registry, [(T1, False), (T2, False)], now)
    view = status_of(registry, "flows", now)
    assert view.status == "failed" and T1 in view.reasons[0] and T2 in view.reasons[0]
    assert "sns-topic" in view.fix

    _subscribe(registry, [(T1, True)], now)
    view = status_of(registry, "flows", now)
    assert view.status == "connected_with_warning"
    assert view.reasons == [f"not subscribed to 1 of 2 topics: {T2}"]

    _subscribe(registry, [(T2, True)], now)
    assert status_of(registry, "flows", now).status == "connected"

    flows = registry.get("g1", "flows")
    in_transaction(
        registry.database_url,
        add_logs,
        [
            LogEntry(
                flows.id,
                "logParse",
                "error",
                "missing fields",
                now - timedelta(minutes=10),
                {"bucket": "b", "key": "k"},
            )
        ],
    )
    view = status_of(registry, "flows", now)
    assert view.status == "connected_with_warning"
    assert view.reasons == ["1 flow-log file(s) failed to parse in the last 30 minutes"]
    assert status_of(registry, "flows", now + timedelta(minutes=21)).status == "connected"


def test_logs_filters_summary_isolation_and_retention(registry):
    other = registry.add_inventory("g2", "other", "arn:aws:iam::999988887777:role/x", ["us-east-1"])
    inv, flows = registry.get("g1", "inv"), registry.get("g1", "flows")
    base = utcnow().replace(minute=10, second=0, microsecond=0) - timedelta(hours=3)
    in_transaction(
        registry.database_url,
        add_logs,
        [
            LogEntry(inv.id, "inventoryApi", "warning", "denied", base),
            LogEntry(inv.id, "inventoryApi", "warning", "denied", base + timedelta(minutes=20)),
            LogEntry(flows.id, "subscribe", "error", "no topic", base + timedelta(hours=1)),
            LogEntry(other.id, "assumeRole", "error", "secret group", base),
        ],
    )
    g1 = in_transaction(registry.database_url, query_logs, LogFilter("g1"))
    assert [r["category"] for r in g1] == ["subscribe", "inventoryApi", "inventoryApi"]
    assert all(r["integration"] != "other" for r in g1)
    errors = in_transaction(registry.database_url, query_logs, LogFilter("g1", severity="error"))
    assert [r["message"] for r in errors] == ["no topic"]
    summary = in_transaction(registry.database_url, hourly_summary, LogFilter("g1"))
    assert [(r["integration"], r["category"], r["count"]) for r in summary] == [
        ("flows", "subscribe", 1),
        ("inv", "inventoryApi", 2),
    ]
    since = in_transaction(
        registry.database_url, hourly_summary, LogFilter("g1", since=base + timedelta(minutes=30))
    )
    assert [r["category"] for r in since] == ["subscribe"]
    assert in_transaction(registry.database_url, prune_logs, base + timedelta(minutes=1)) == 2
    assert len(in_transaction(registry.database_url, query_logs, LogFilter("g1"))) == 2


def test_status_is_scoped_to_one_account_group(registry):
    registry.add_inventory("g2", "other", "arn:aws:iam::999988887777:role/x", ["us-east-1"])
    names = {
        v.integration.name
        for v in in_transaction(registry.database_url, compute_status, registry, utcnow(), "g2")
    }
    assert names == {"other"}


def test_filtered_objects_do_not_count_as_errors(registry):
    flows = registry.get("g1", "flows")
    _subscribe(registry, [(T1, True), (T2, True)], utcnow())
    with session_scope(registry.database_url) as session:
        upsert_object(
            session,
            ObjectRef(flows.id, "b", "k", "e", 1, "999-us-east-1", "2026-01-01"),
            "notification",
            status="filtered",
        )
    assert status_of(registry, "flows", utcnow()).status == "connected"


def test_failed_data_quality_check_warns_until_the_window_passes(registry):
    now = utcnow()
    _subscribe(registry, [(T1, True), (T2, True)], now)
    flows = registry.get("g1", "flows")
    in_transaction(
        registry.database_url,
        add_logs,
        [
            LogEntry(
                flows.id,
                "check",
                "error",
                "flow records failed the check",
                now - timedelta(minutes=1),
            )
        ],
    )
    view = status_of(registry, "flows", now)
    assert view.status == "connected_with_warning"
    assert view.reasons == ["1 data-quality check failure(s) in the last 30 minutes"]
    assert status_of(registry, "flows", now + timedelta(minutes=30)).status == "connected"
