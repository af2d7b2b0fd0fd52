"""Temporal inventory versions and config changes in the warehouse (SQLite and PostgreSQL)."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from cloudinsights_dagster.inventory.model import ApiOutcome, CollectionResult, ResourceRecord
from cloudinsights_dagster.inventory.store import (
    OutOfOrderSnapshot,
    compute_pending_changes,
    inventory_as_of,
    record_snapshot,
)
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import session_scope

LOC = "111122223333-us-east-1"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
T2 = T0 + timedelta(minutes=10)


def sg(rules):
    return ResourceRecord("security_group", "sg-1", {"group_id": "sg-1", "ip_permissions": rules})


def rule(port, cidr):
    return {"key": f"tcp/{port}/{cidr}", "protocol": "tcp", "from_port": port, "cidr": cidr}


def result(records, denied=()):
    types = {"security_group", "subnet", "vpc"}
    outcomes = [
        ApiOutcome(
            t,
            f"ec2:Describe{t}",
            "denied" if t in denied else "ok",
            "AccessDenied" if t in denied else None,
            0,
        )
        for t in sorted(types)
    ]
    return CollectionResult(LOC, "111122223333", "us-east-1", list(records), outcomes)


SUBNET = ResourceRecord("subnet", "subnet-1", {"subnet_id": "subnet-1", "vpc_id": "vpc-1"})
VPC = ResourceRecord("vpc", "vpc-1", {"vpc_id": "vpc-1", "tags": {"Name": "main"}})


def snapshot(url, res, at):
    with session_scope(url) as session:
        write = record_snapshot(session, res, at)
        changes = compute_pending_changes(session, LOC)
    return write, changes


def test_baseline_then_changes_then_as_of(database_url):
    _, changes = snapshot(database_url, result([VPC, SUBNET, sg([rule(22, "10.0.0.0/8")])]), T0)
    assert [c.changes for c in changes] == [()]  # the baseline floods nothing

    # rule added (and rules reordered), subnet deleted, VPC retagged
    retagged = ResourceRecord("vpc", "vpc-1", {"vpc_id": "vpc-1", "tags": {"Name": "prod"}})
    _, changes = snapshot(
        database_url, result([retagged, sg([rule(443, "0.0.0.0/0"), rule(22, "10.0.0.0/8")])]), T1
    )
    (snap,) = changes
    by_type = {(c.resource_type, c.change_type): c for c in snap.changes}
    assert set(by_type) == {
        ("security_group", "modified"),
        ("subnet", "deleted"),
        ("vpc", "modified"),
    }
    (field,) = by_type[("vpc", "modified")].fields
    assert (field.path, field.before, field.after) == ("tags.Name", "main", "prod")
    assert [f.path for f in by_type[("security_group", "modified")].fields] == [
        "ip_permissions[tcp/443/0.0.0.0/0]"
    ]

    with session_scope(database_url) as session:
        at_t0 = {
            (r.resource_type, r.resource_id): r.data for r in inventory_as_of(session, LOC, T0)
        }
        at_t1 = {
            (r.resource_type, r.resource_id): r.data for r in inventory_as_of(session, LOC, T1)
        }
        rows = session.execute(sa.select(s.ConfigChange)).scalars().all()
    assert ("subnet", "subnet-1") in at_t0 and ("subnet", "subnet-1") not in at_t1
    assert at_t0[("vpc", "vpc-1")]["tags"] == {"Name": "main"}
    assert at_t1[("vpc", "vpc-1")]["tags"] == {"Name": "prod"}
    assert len(rows) == 3 and all(r.previous_snapshot_time == T0 for r in rows)


def test_reordering_is_not_a_change(database_url):
    snapshot(database_url, result([sg([rule(22, "a"), rule(443, "b")])]), T0)
    _, changes = snapshot(database_url, result([sg([rule(443, "b"), rule(22, "a")])]), T1)
    assert changes[0].changes == ()


def test_denied_api_keeps_previous_versions_and_creates_no_deletes(database_url):
    snapshot(database_url, result([VPC, SUBNET, sg([])]), T0)
    write, changes = snapshot(database_url, result([VPC], denied={"subnet", "security_group"}), T1)
    assert changes[0].changes == () and write.versions_closed == 0
    with session_scope(database_url) as session:
        kept = {r.resource_type for r in inventory_as_of(session, LOC, T1)}
        snap = session.scalars(
            sa.select(s.InventorySnapshot).where(s.InventorySnapshot.snapshot_time == T1)
        ).one()
    assert kept == {"vpc", "subnet", "security_group"}
    assert snap.completeness == "partial"
    assert snap.unknown_types == ["security_group", "subnet"]
    # Permission back, a new subnet seen: not reported as created (we were blind), but a
    # later deletion is.
    new_subnet = ResourceRecord("subnet", "subnet-2", {"subnet_id": "subnet-2"})
    _, changes = snapshot(database_url, result([VPC, SUBNET, new_subnet, sg([])]), T2)
    assert changes[0].changes == ()


def test_same_tick_twice_is_idempotent_and_the_past_is_refused(database_url):
    snapshot(database_url, result([VPC]), T1)
    write, _ = snapshot(database_url, result([VPC, SUBNET]), T1)
    assert write.already_recorded
    with pytest.raises(OutOfOrderSnapshot, match="can only move forward"):
        snapshot(database_url, result([VPC]), T0)


def test_duplicate_ids_are_reported_and_stored_once(database_url):
    write, _ = snapshot(database_url, result([VPC, VPC]), T0)
    assert write.duplicate_ids == (("vpc", "vpc-1"),)
    with session_scope(database_url) as session:
        assert len(inventory_as_of(session, LOC, T0)) == 1
