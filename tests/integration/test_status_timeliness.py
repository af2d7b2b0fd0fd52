"""A location whose inventory snapshot is late (none recorded for more than two ticks) or whose
ticks were skipped shows as such in status, in plain words (SQLite and PostgreSQL)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from warehouse_calls import in_transaction

from cloudinsights_dagster.inventory.model import ApiOutcome, CollectionResult
from cloudinsights_dagster.inventory.store import record_snapshot
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.status import FIX_LATE, compute_status
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import session_scope
from cloudinsights_dagster.warehouse.schema import utcnow

ROLE = "arn:aws:iam::111122223333:role/ci"
EAST, WEST = "111122223333-us-east-1", "111122223333-us-west-2"


@pytest.fixture
def registry(database_url):
    reg = Registry(database_url)
    reg.add_inventory("g1", "inv", ROLE, ["us-east-1", "us-west-2"])
    return reg


def snap(registry, key, tick, recorded):
    """A complete snapshot of ``key`` for ``tick``, as if written at ``recorded``."""
    result = CollectionResult(
        key,
        "111122223333",
        key.split("-", 1)[1],
        [],
        [ApiOutcome("vpc", "ec2:DescribeVpcs", "ok", None, 0)],
    )
    with session_scope(registry.database_url) as session:
        record_snapshot(session, result, tick)
        session.execute(
            sa.update(s.InventorySnapshot)
            .where(
                s.InventorySnapshot.location_key == key, s.InventorySnapshot.snapshot_time == tick
            )
            .values(created_at=recorded)
        )


def view_of(registry, now):
    (view,) = in_transaction(registry.database_url, compute_status, registry, now, "g1")
    return view


def test_on_time_locations_are_connected(registry):
    now = utcnow().replace(second=0, microsecond=0)
    for minutes in (10, 5, 0):
        for key in (EAST, WEST):
            snap(registry, key, now - timedelta(minutes=minutes), now - timedelta(minutes=minutes))
    view = view_of(registry, now + timedelta(minutes=1))
    assert (view.status, view.reasons) == ("connected", [])


def test_a_late_location_says_since_when(registry):
    now = utcnow().replace(second=0, microsecond=0)
    snap(registry, EAST, now - timedelta(minutes=5), now - timedelta(minutes=5))
    snap(registry, EAST, now, now)
    snap(registry, WEST, now - timedelta(minutes=25), now - timedelta(minutes=25))
    view = view_of(registry, now + timedelta(minutes=1))
    assert view.status == "connected_with_warning"
    (reason,) = view.reasons
    assert reason.startswith(f"{WEST}: inventory snapshot late: the last one was taken at ")
    assert "26 minutes ago (one is expected every 5 minutes)" in reason
    assert view.fix == FIX_LATE and "inventory_schedule" in view.fix
    # Exactly two ticks without a snapshot is not late yet; more is.
    assert view_of(registry, now + timedelta(minutes=10)).reasons[0].startswith(f"{WEST}:")
    assert len(view_of(registry, now + timedelta(minutes=10)).reasons) == 1


def test_skipped_ticks_are_named(registry):
    now = utcnow().replace(second=0, microsecond=0)
    # Every tick from -25 to 0 for the west; the east has none at -15 and -10.
    for minutes in (25, 20, 15, 10, 5, 0):
        tick = now - timedelta(minutes=minutes)
        if minutes not in (15, 10):
            snap(registry, EAST, tick, tick + timedelta(seconds=30))
        snap(registry, WEST, tick, tick + timedelta(seconds=30))
    view = view_of(registry, now + timedelta(minutes=1))
    assert view.status == "connected_with_warning"
    skipped = now - timedelta(minutes=15), now - timedelta(minutes=10)
    assert view.reasons == [
        f"{EAST}: 2 inventory tick(s) skipped in the last 30 minutes (no snapshot for "
        f"{skipped[0]:%H:%M}, {skipped[1]:%H:%M} UTC)"
    ]
    # Once the gap is older than the 30-minute window, it is no longer reported.
    for minutes in (5, 10, 15, 20, 25, 30):
        tick = now + timedelta(minutes=minutes)
        snap(registry, EAST, tick, tick)
        snap(registry, WEST, tick, tick)
    assert view_of(registry, now + timedelta(minutes=31)).status == "connected"
