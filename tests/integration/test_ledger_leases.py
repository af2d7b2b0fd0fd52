"""Leased claims in the ledger, on SQLite and PostgreSQL: disjoint claims, a dead run's objects
coming back when its lease expires, a late finisher that lost its claim writing nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from cloudinsights_dagster.flowlogs.ledger import (
    MAX_ATTEMPTS,
    ObjectRef,
    Scope,
    claim_objects,
    claimable_by_day,
    expired_leases,
    fail_exhausted,
    finish_object,
    renew_leases,
    upsert_object,
)
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import session_scope

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)
DAY = "2026-05-01"
ACCOUNTS = ("111111111111", "222222222222")


@pytest.fixture
def ledger(database_url):
    registry = Registry(database_url)
    role = "arn:aws:iam::111111111111:role/flows"
    registry.add_inventory("g", "inv", "arn:aws:iam::111111111111:role/inv", ["us-east-1"])
    info = registry.add_flowlogs(
        "g", "flows", role, ["arn:aws:sns:us-east-1:111111111111:flow-logs"]
    )
    with session_scope(database_url) as session:
        for i in range(30):
            account = ACCOUNTS[i % 2]
            upsert_object(
                session,
                ObjectRef(info.id, "b", f"k{i:02d}", f"e{i}", 100, f"{account}-us-east-1", DAY),
                "notification",
                now=T0,
            )
        upsert_object(
            session,
            ObjectRef(info.id, "b", "other-day", "e", 100, "111111111111-us-east-1", "2026-05-02"),
            "notification",
            now=T0,
        )
    return database_url, info.id


def _claim(url, run, now, **kwargs):
    with session_scope(url) as session:
        return claim_objects(session, DAY, run, now, lease=LEASE, **kwargs)


def test_claims_are_disjoint_bounded_and_scoped(ledger):
    url, _ = ledger
    first = _claim(url, "run-a", T0, max_objects=10)
    second = _claim(url, "run-b", T0, max_objects=100)
    assert len(first) == 10 and len(second) == 20
    assert not {o.id for o in first} & {o.id for o in second}
    assert _claim(url, "run-c", T0) == []  # the day is taken
    with session_scope(url) as session:
        assert [(d.day, d.objects) for d in claimable_by_day(session, T0)] == [("2026-05-02", 1)]
    # Bytes bound: each object is 100 bytes.
    with session_scope(url) as session:
        session.execute(sa.update(s.FlowLogObject).values(status="pending", claimed_by_run=None))
    assert len(_claim(url, "run-d", T0, max_objects=100, max_bytes=250)) == 2
    only = _claim(url, "run-e", T0, scope=Scope(accounts=("222222222222",)))
    assert only and {o.location_key for o in only} == {"222222222222-us-east-1"}


def test_expired_lease_returns_the_objects_and_the_late_run_writes_nothing(ledger):
    url, integration_id = ledger
    dead = _claim(url, "dead-run", T0, max_objects=5)
    # Renewing keeps them; once the dead run stops renewing, the lease runs out.
    with session_scope(url) as session:
        assert renew_leases(session, "dead-run", [o.id for o in dead], T0 + LEASE * 2) == 5
    assert len(_claim(url, "run-b", T0 + LEASE + timedelta(seconds=1), max_objects=100)) == 25
    later = T0 + LEASE * 2 + timedelta(seconds=1)
    with session_scope(url) as session:
        backlog = claimable_by_day(session, later)
        # The dead run's 5 are claimable again; run-b's 25 are still within their lease.
        assert {(d.day, d.objects, d.expired) for d in backlog} == {
            (DAY, 5, 5),
            ("2026-05-02", 1, 0),
        }
        count, oldest, runs = expired_leases(session, [integration_id], later)
        assert (count, oldest, runs) == (5, T0 + LEASE * 2, ["dead-run"])
    taken = _claim(url, "run-c", later, max_objects=5)
    assert {o.id for o in taken} == {o.id for o in dead}
    assert all(o.attempts == 2 for o in taken)
    with session_scope(url) as session:
        # The dead run wakes up: it no longer holds the object and records nothing.
        assert not finish_object(session, dead[0].id, "dead-run", "loaded", later)
        assert finish_object(session, dead[0].id, "run-c", "loaded", later)
        row = session.get(s.FlowLogObject, dead[0].id)
        assert row.status == "loaded" and row.lease_expires_at is None


def test_an_object_that_kills_every_run_is_failed_after_max_attempts(ledger):
    url, _ = ledger
    now = T0
    for attempt in range(MAX_ATTEMPTS):
        (claimed,) = _claim(url, f"run-{attempt}", now, max_objects=1)
        now += LEASE + timedelta(seconds=1)
    with session_scope(url) as session:
        (failed,) = fail_exhausted(session, now)
        row = session.get(s.FlowLogObject, claimed.id)
        assert row.status == "failed" and f"{MAX_ATTEMPTS} runs claimed" in row.error
        assert failed[2] == claimed.key


def test_a_changed_object_loses_its_claim(ledger):
    url, integration_id = ledger
    (claimed,) = _claim(url, "run-a", T0, max_objects=1)
    with session_scope(url) as session:
        ref = ObjectRef(
            integration_id, "b", claimed.key, "new-etag", 200, claimed.location_key, DAY
        )
        assert upsert_object(session, ref, "notification", now=T0) == "changed"
    with session_scope(url) as session:
        assert not finish_object(session, claimed.id, "run-a", "loaded", T0)
        assert session.get(s.FlowLogObject, claimed.id).status == "pending"


def test_concurrent_claims_never_overlap(ledger):
    url, _ = ledger
    taken: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            ids = []
            while batch := _claim(url, name, T0, max_objects=2):
                ids.extend(o.id for o in batch)
            taken[name] = ids
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"run-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    every = [i for ids in taken.values() for i in ids]
    assert len(every) == len(set(every)) == 30


def test_a_claim_that_loses_its_rows_to_another_run_takes_what_is_left(ledger):
    """SQLite reads outside the write lock: another run may claim the rows read before this
    run's write. The claim must then take what is left, not come back empty ("nothing left")."""
    from cloudinsights_dagster.warehouse.db import get_engine

    url, _ = ledger
    engine = get_engine(url)
    raced: list[list] = []

    def other_run_first(conn, cursor, statement, parameters, context, executemany):
        if not raced and statement.lstrip().upper().startswith("UPDATE FLOWLOG_OBJECTS"):
            raced.append([])  # once, and not for the other run's own update
            raced[0] = _claim(url, "run-a", T0, max_objects=10)

    sa.event.listen(engine, "before_cursor_execute", other_run_first)
    try:
        taken = _claim(url, "run-b", T0, max_objects=10)
    finally:
        sa.event.remove(engine, "before_cursor_execute", other_run_first)
    assert len(raced[0]) == 10 and len(taken) == 10
    assert not {o.id for o in raced[0]} & {o.id for o in taken}
