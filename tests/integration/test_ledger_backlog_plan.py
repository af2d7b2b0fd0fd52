"""The sensor's backlog query (`claimable_by_day`, every tick) finds the pending and claimed
objects through an index as the ledger grows: a ledger of mostly loaded objects, on SQLite and
PostgreSQL, planned by the database itself (EXPLAIN QUERY PLAN / EXPLAIN)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from cloudinsights_dagster.flowlogs.ledger import claimable_by_day, explain_backlog_query
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import dispose_all, session_scope

NOW = datetime(2026, 5, 3, 12, 0, tzinfo=UTC)
LOADED = 20_000
DAYS = [f"2026-05-0{d}" for d in (1, 2, 3)]


def _fill(url: str, integration_id: int) -> None:
    rows = []
    for i in range(LOADED + 40):
        status = "loaded" if i < LOADED else ("pending" if i < LOADED + 30 else "claimed")
        rows.append(
            {
                "integration_id": integration_id,
                "bucket": "logs",
                "object_key": f"AWSLogs/123456789012/o{i:06d}.log.gz",
                "etag": f"{i:032x}",
                "size": 1000,
                "location_key": "123456789012-us-east-1",
                "day": DAYS[i % 3],
                "source": "notification",
                "status": status,
                "first_seen_at": NOW - timedelta(hours=1),
                "claimed_by_run": "dead-run" if status == "claimed" else None,
                # half the claims have expired: those objects are waiting again
                "lease_expires_at": (NOW + timedelta(minutes=(-5 if i % 2 else 5)))
                if status == "claimed"
                else None,
                "attempts": 1 if status == "claimed" else 0,
            }
        )
    with session_scope(url) as session:
        session.execute(sa.insert(s.FlowLogObject), rows)
    with session_scope(url) as session:
        session.execute(sa.text("ANALYZE"))  # statistics, as a long-lived database has them


def test_backlog_query_is_an_index_lookup(database_url):
    registry = Registry(database_url)
    role = "arn:aws:iam::123456789012:role/cloudinsights"
    flows = registry.add_flowlogs(
        "g1", "flows", role, ["arn:aws:sns:us-east-1:123456789012:flow-logs"]
    )
    _fill(database_url, flows.id)
    try:
        with session_scope(database_url) as session:
            backlog = claimable_by_day(session, NOW)
            plan = explain_backlog_query(session, NOW)
        assert sum(d.objects for d in backlog) == 35  # 30 pending + 5 expired claims
        assert sum(d.expired for d in backlog) == 5
        text = "\n".join(plan)
        assert "ix_flowlog_objects_claimable" in text, text
        if database_url.startswith("sqlite"):
            # SEARCH ... USING INDEX: a range of the index; a bare SCAN would read every row.
            assert any(
                line.startswith("SEARCH") and "ix_flowlog_objects_claimable" in line
                for line in plan
            ), text
            assert not any(line.startswith("SCAN flowlog_objects") for line in plan), text
        else:
            assert "Index" in text and "Seq Scan" not in text, text
    finally:
        dispose_all()
