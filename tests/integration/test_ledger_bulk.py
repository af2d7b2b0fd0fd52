"""`upsert_objects` (the bulk ledger upsert) against `upsert_object` one ref at a time, on SQLite
and PostgreSQL: same outcomes, same rows, a bounded number of queries."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from cloudinsights_dagster.flowlogs import ledger
from cloudinsights_dagster.flowlogs.ledger import ObjectRef, upsert_object, upsert_objects
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import get_engine, session_scope

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
COMPARED = [
    "bucket",
    "object_key",
    "etag",
    "size",
    "location_key",
    "day",
    "source",
    "status",
    "error",
    "claimed_by_run",
    "lease_expires_at",
    "attempts",
    "records_read",
    "processed_at",
]


def two_integrations(url: str) -> tuple[int, int]:
    registry = Registry(url)
    a = registry.add_flowlogs(
        "g1", "a", "arn:aws:iam::111122223333:role/r", ["arn:aws:sns:us-east-1:111122223333:t"]
    )
    b = registry.add_flowlogs(
        "g1", "b", "arn:aws:iam::444455556666:role/r", ["arn:aws:sns:us-east-1:444455556666:t"]
    )
    return a.id, b.id


def ref(integration_id: int, key: str, etag: str | None, bucket: str = "b1") -> ObjectRef:
    return ObjectRef(
        integration_id, bucket, key, etag, len(key), "111122223333-us-east-1", "2026-05-01"
    )


def rows(url: str, integration_id: int) -> list[tuple]:
    with get_engine(url).connect() as conn:
        found = conn.execute(
            sa.select(*[getattr(s.FlowLogObject, c) for c in COMPARED])
            .where(s.FlowLogObject.integration_id == integration_id)
            .order_by(s.FlowLogObject.bucket, s.FlowLogObject.object_key)
        ).all()
    return [tuple(r) for r in found]


def test_duplicates_and_changes_inside_one_batch(database_url):
    a, _ = two_integrations(database_url)
    refs = [
        ref(a, "k1", "e1"),
        ref(a, "k1", "e1"),  # the same notice twice
        ref(a, "k2", "e1"),
        ref(a, "k2", "e2"),  # overwritten
        ref(a, "k2", None),  # no eTag: cannot tell, a duplicate
        ref(a, "k1", "e1", bucket="b2"),  # another bucket, another object
    ]
    with session_scope(database_url) as session:
        outcomes = upsert_objects(session, refs, "notification", now=NOW)
    assert outcomes == ["new", "duplicate", "new", "changed", "duplicate", "new"]
    found = {(r[0], r[1]): r for r in rows(database_url, a)}
    assert len(found) == 3
    assert found[("b1", "k2")][2] == "e2" and found[("b1", "k2")][7] == "pending"


def test_a_changed_object_goes_back_to_pending_and_loses_its_claim(database_url):
    a, _ = two_integrations(database_url)
    with session_scope(database_url) as session:
        upsert_objects(session, [ref(a, "k1", "e1"), ref(a, "k2", "e1")], "notification", now=NOW)
    with get_engine(database_url).begin() as conn:
        conn.execute(
            sa.update(s.FlowLogObject).values(
                status="claimed",
                claimed_by_run="run-1",
                lease_expires_at=NOW + timedelta(minutes=10),
                attempts=2,
                records_read=7,
                processed_at=NOW,
            )
        )
    with session_scope(database_url) as session:
        outcomes = upsert_objects(
            session, [ref(a, "k1", "e2"), ref(a, "k2", "e1")], "notification", now=NOW
        )
    assert outcomes == ["changed", "duplicate"]
    k1, k2 = rows(database_url, a)
    assert k1[7:] == ("pending", None, None, None, 0, None, None)
    assert k1[2] == "e2"
    assert k2[7:10] == ("claimed", None, "run-1")  # untouched


@pytest.mark.parametrize("status", ["pending", "filtered"])
def test_same_outcomes_and_rows_as_one_upsert_at_a_time(database_url, monkeypatch, status):
    monkeypatch.setattr(ledger, "UPSERT_CHUNK", 7)  # many chunks: keys repeat across them
    a, b = two_integrations(database_url)
    rng = random.Random(42)
    keys = [f"AWSLogs/k{i:03d}.log.gz" for i in range(40)]
    batches = [
        [
            (rng.choice(keys), rng.choice(["e1", "e2", None]), rng.choice(["b1", "b2"]))
            for _ in range(60)
        ]
        for _ in range(3)
    ]
    error = "no inventory" if status == "filtered" else None
    for batch in batches:
        with session_scope(database_url) as session:
            one_by_one = [
                upsert_object(
                    session, ref(a, k, e, bk), "notification", status=status, error=error, now=NOW
                )
                for k, e, bk in batch
            ]
        with session_scope(database_url) as session:
            bulk = upsert_objects(
                session,
                [ref(b, k, e, bk) for k, e, bk in batch],
                "notification",
                now=NOW,
                status=status,
                error=error,
            )
        assert bulk == one_by_one
    assert rows(database_url, b) == rows(database_url, a)
    assert {"new", "duplicate", "changed"} <= set(one_by_one + bulk)


def test_queries_are_bounded_per_chunk(database_url):
    a, _ = two_integrations(database_url)
    refs = [ref(a, f"k{i:05d}", "e1") for i in range(1200)]
    statements: list[str] = []
    engine = get_engine(database_url)

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.split()[0].upper())

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        with session_scope(database_url) as session:
            assert set(upsert_objects(session, refs, "notification", now=NOW)) == {"new"}
        with session_scope(database_url) as session:
            again = refs[:600] + [ref(a, f"k{i:05d}", "e2") for i in range(600, 1200)]
            outcomes = upsert_objects(session, again, "notification", now=NOW)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert outcomes == ["duplicate"] * 600 + ["changed"] * 600
    # 3 chunks of 500 per call: a SELECT each, plus an INSERT or an UPDATE (executemany) each;
    # PostgreSQL's insertmanyvalues may split a big INSERT, hence the margin.
    data = [st for st in statements if st in ("SELECT", "INSERT", "UPDATE")]
    assert len(data) <= 2 * (3 + 3) + 6, data
