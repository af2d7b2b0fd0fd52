"""View tables in the warehouse: re-aggregation of late data equals a from-scratch aggregation,
two account groups each count a shared flow once, and a security-group rule removal followed by
rejected traffic shows in change_impact (SQLite and PostgreSQL)."""

import json
import os
from datetime import UTC, datetime, timedelta

import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest
import sqlalchemy as sa
from flowlog_samples import CUSTOM_FORMAT, Eni, flow_log_gzip, object_key, sample_records
from warehouse_calls import in_transaction

from cloudinsights_dagster.flowlogs.inventory_table import eni_table
from cloudinsights_dagster.flowlogs.ledger import ObjectRef, upsert_object
from cloudinsights_dagster.flowlogs.table import compact_day, is_compacted
from cloudinsights_dagster.flowlogs.writer import process_object
from cloudinsights_dagster.inventory.model import ApiOutcome, CollectionResult, ResourceRecord
from cloudinsights_dagster.inventory.store import compute_pending_changes, record_snapshot
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.views import columnar
from cloudinsights_dagster.views.partials import PartialBuilder, partial_path
from cloudinsights_dagster.views.refresh import refresh_partition_views
from cloudinsights_dagster.views.refresh_lock import refresh_lock
from cloudinsights_dagster.views.sources import VIEW_COLUMNS, read_records
from cloudinsights_dagster.views.throughput import THROUGHPUT_SCHEMA, aggregate_throughput
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import get_engine, session_scope

ACCOUNT = "111122223333"
LOC = f"{ACCOUNT}-us-east-1"
DAY = "2026-04-02"
T0 = datetime(2026, 4, 2, 10, 0, tzinfo=UTC)
ENIS = [
    Eni(f"eni-{n:04d}", f"10.0.0.{10 + n}", "vpc-1", "subnet-1", f"i-{n:04d}") for n in range(4)
]
RULE = {
    "key": "tcp/443/0.0.0.0/0",
    "protocol": "tcp",
    "from_port": 443,
    "to_port": 443,
    "peer": "0.0.0.0/0",
}


def inventory(rules):
    records = [
        ResourceRecord("security_group", "sg-web", {"group_id": "sg-web", "ip_permissions": rules})
    ]
    records += [
        ResourceRecord(
            "network_interface",
            e.interface_id,
            {
                "interface_id": e.interface_id,
                "instance_id": e.instance_id,
                "subnet_id": e.subnet_id,
                "vpc_id": e.vpc_id,
                "owner_id": ACCOUNT,
                "security_group_ids": ["sg-web"],
                "private_ips": [e.private_ip],
                "public_ips": [],
                "availability_zone": "us-east-1a",
            },
        )
        for e in ENIS
    ]
    outcomes = [
        ApiOutcome(t, f"ec2:{t}", "ok", None, 0) for t in ("security_group", "network_interface")
    ]
    return CollectionResult(LOC, ACCOUNT, "us-east-1", records, outcomes)


@pytest.fixture
def world(database_url, tmp_path):
    registry = Registry(database_url)
    flows = {}
    for group, n in (("g1", 1), ("g2", 2)):
        registry.add_inventory(group, "inv", f"arn:aws:iam::{ACCOUNT}:role/inv", ["us-east-1"])
        flows[group] = registry.add_flowlogs(
            group,
            "flows",
            f"arn:aws:iam::{ACCOUNT}:role/flows",
            [f"arn:aws:sns:us-east-1:{ACCOUNT}:flow-logs-{n}"],
        ).id
    with session_scope(database_url) as session:
        record_snapshot(session, inventory([RULE]), T0)
        record_snapshot(session, inventory([]), T0 + timedelta(minutes=10))  # rule removed
        compute_pending_changes(session, LOC)
    return registry, flows, tmp_path


def deliver(
    registry,
    flows,
    tmp_path,
    name,
    rows,
    groups=("g1", "g2"),
    views_base=None,
    skip_below=0,
    fields=CUSTOM_FORMAT,
):
    """A file as both groups' integrations would load it (same bucket object); with
    `views_base`, with the partial aggregates the pipeline writes (none, and an older one
    removed, when the object has fewer than `skip_below` records, as the pipeline does)."""
    source = tmp_path / f"{name}.log.gz"
    source.write_bytes(flow_log_gzip(rows, fields))
    table = in_transaction(
        registry.database_url, eni_table, [LOC], T0 - timedelta(hours=1), T0 + timedelta(days=1)
    )
    key = object_key(ACCOUNT, "us-east-1", "fl-1", int(T0.timestamp()), suffix=name)
    for group in groups:
        out = str(tmp_path / "out" / group / f"{name}.parquet")
        builder = PartialBuilder(skip_below=skip_below)
        result = process_object(
            str(source), out, table, [ACCOUNT], on_batch=builder.add, name=f"s3://bucket/{key}"
        )
        if views_base is not None:
            where = partial_path(views_base, flows[group], "bucket", key)
            written = builder.write_or_remove(where, result.out_path)
            assert written == (len(rows) >= skip_below) == os.path.exists(where)
        with session_scope(registry.database_url) as session:
            upsert_object(
                session,
                ObjectRef(flows[group], "bucket", key, name, 1, LOC, DAY),
                "notification",
                status="loaded",
            )
            row = session.scalar(
                sa.select(s.FlowLogObject).where(
                    s.FlowLogObject.object_key == key,
                    s.FlowLogObject.integration_id == flows[group],
                )
            )
            row.output_path = result.out_path
            row.records_loaded = result.records_loaded  # as finish_object records it
    return str(tmp_path / "out" / "g1" / f"{name}.parquet")


def stored(url, group):
    with get_engine(url).connect() as conn:
        group_id = conn.scalar(sa.select(s.AccountGroup.id).where(s.AccountGroup.name == group))
        rows = conn.execute(
            sa.select(*(getattr(s.EntityThroughput, c) for c in THROUGHPUT_SCHEMA.names)).where(
                s.EntityThroughput.account_group_id == group_id
            )
        ).all()
    return sorted(tuple(r) for r in rows)


def expected(paths):
    table = aggregate_throughput(pads.dataset(paths, format="parquet").to_table())
    return sorted(tuple(r.values()) for r in table.to_pylist())


def test_late_file_reaggregates_to_the_from_scratch_figures(world):
    registry, flows, tmp_path = world
    start = int(T0.timestamp())
    first = deliver(registry, flows, tmp_path, "a", sample_records(ACCOUNT, ENIS, start, 300))
    refresh_partition_views(registry.database_url, LOC, DAY, T0)
    assert stored(registry.database_url, "g1") == expected([first])

    late = deliver(
        registry, flows, tmp_path, "b", sample_records(ACCOUNT, ENIS, start + 120, 300, seed=3)
    )
    refresh_partition_views(registry.database_url, LOC, DAY, T0)
    assert stored(registry.database_url, "g1") == expected([first, late])
    # Each group counts the flow once: same figures, not doubled, not shared.
    assert stored(registry.database_url, "g2") == stored(registry.database_url, "g1")
    # Running it again changes nothing (exactly once).
    refresh_partition_views(registry.database_url, LOC, DAY, T0)
    assert stored(registry.database_url, "g1") == expected([first, late])


def test_rule_removal_then_rejects_shows_in_change_impact(world):
    registry, flows, tmp_path = world
    start = int(T0.timestamp())
    before = sample_records(ACCOUNT, ENIS, start, 400, reject_share=0.0)
    after = sample_records(ACCOUNT, ENIS, start + 600, 400, seed=5, reject_share=0.9)
    deliver(registry, flows, tmp_path, "before", before, groups=("g1",))
    deliver(registry, flows, tmp_path, "after", after, groups=("g1",))
    (report,) = refresh_partition_views(registry.database_url, LOC, DAY, T0)
    assert report.impacts == 1
    with get_engine(registry.database_url).connect() as conn:
        (impact,) = conn.execute(sa.select(s.ChangeImpact)).all()
        rejected = conn.execute(
            sa.select(s.RejectedTraffic).order_by(
                s.RejectedTraffic.window_start, s.RejectedTraffic.impact_rank
            )
        ).all()
    assert impact.resource_type == "security_group" and impact.resource_id == "sg-web"
    assert impact.touched_interfaces == [e.interface_id for e in ENIS]
    assert impact.before["rejected_flows"] == 0
    assert impact.rejected_flows_delta > 100
    assert rejected and all(r.window_start >= T0 + timedelta(minutes=10) for r in rejected)
    inbound = [r for r in rejected if r.destination_interface_id in {e.interface_id for e in ENIS}]
    assert inbound and all(r.destination_security_group_ids == ["sg-web"] for r in inbound)


def test_rejects_after_a_rule_removal_are_explained_in_reject_reasons(world, monkeypatch):
    from click.testing import CliRunner

    from cloudinsights_dagster.cli import main

    registry, flows, tmp_path = world
    start = int(T0.timestamp())
    after = sample_records(ACCOUNT, ENIS, start + 600, 400, seed=5, reject_share=0.9)
    deliver(registry, flows, tmp_path, "after", after, groups=("g1",))
    (report,) = refresh_partition_views(registry.database_url, LOC, DAY, T0)
    assert report.reason_rows > 0 and sum(report.reasons.values()) == report.rejected_flows
    with get_engine(registry.database_url).connect() as conn:
        change_id = conn.scalar(sa.select(s.ConfigChange.id))
        rows = conn.execute(sa.select(s.RejectReason)).all()
        (impact,) = conn.execute(sa.select(s.ChangeImpact)).all()
    assert impact.effect == "raise"
    ingress = [r for r in rows if r.direction == "ingress"]
    assert ingress and {r.reason for r in ingress} <= {"no_rule_allows"}
    https = [r for r in ingress if r.dstport == 443 and r.protocol == 6]
    assert https
    for r in https:
        assert r.previous_rule_id == "sg-web:ingress:tcp/443/0.0.0.0/0"
        assert (r.change_resource_id, r.config_change_id) == ("sg-web", change_id)
    others = [r for r in ingress if not (r.dstport == 443 and r.protocol == 6)]
    assert all(r.previous_rule_id is None for r in others)

    monkeypatch.setenv("CLOUDINSIGHTS_DATABASE_URL", registry.database_url)
    monkeypatch.setenv("CLOUDINSIGHTS_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(
        main, ["rejects", "--account-group", "g1", "--since", "2026-04-01T00:00:00", "--json"]
    )
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert listed and listed == sorted(listed, key=lambda r: -r["flows"])
    assert sum(r["flows"] for r in listed) <= report.rejected_flows
    assert CliRunner().invoke(main, ["rejects", "--account-group", "nope"]).exit_code == 1


def test_partials_and_columnar_views_give_the_record_figures(world):
    registry, flows, tmp_path = world
    base = str(tmp_path / "flows")
    start = int(T0.timestamp())
    paths = [
        deliver(registry, flows, tmp_path, name, rows, views_base=base)
        for name, rows in (
            ("a", sample_records(ACCOUNT, ENIS, start, 300, reject_share=0.5)),
            ("b", sample_records(ACCOUNT, ENIS, start + 720, 300, seed=3, reject_share=0.5)),
        )
    ]
    reports = refresh_partition_views(registry.database_url, LOC, DAY, T0, views_base=base)
    assert [(r.objects, r.partials_used) for r in reports] == [(2, 2), (2, 2)]
    assert stored(registry.database_url, "g1") == expected(paths)
    with get_engine(registry.database_url).connect() as conn:
        g1 = conn.scalar(sa.select(s.AccountGroup.id).where(s.AccountGroup.name == "g1"))
    full = columnar.read_view(base, "entity_throughput")
    mine = full.filter(pc.equal(full["account_group_id"], g1)).drop_columns(
        ["day", "account_group_id", "location_key"]
    )
    assert sorted(tuple(r.values()) for r in mine.to_pylist()) == expected(paths)
    reasons = columnar.read_view(base, "reject_reasons")
    records = pads.dataset(paths, format="parquet").to_table()
    rejected = pc.sum(pc.equal(records["action"], "REJECT")).as_py()
    assert pc.sum(reasons["flows"]).as_py() == 2 * rejected  # both groups, each once
    # The same again: every figure stays (exactly once).
    refresh_partition_views(registry.database_url, LOC, DAY, T0, views_base=base)
    assert columnar.read_view(base, "entity_throughput").num_rows == full.num_rows
    assert stored(registry.database_url, "g1") == expected(paths)


def _columnar_views(base):
    return {
        view: sorted(map(repr, columnar.read_view(base, view).to_pylist()))
        for view in ("entity_throughput", "rejected_traffic", "reject_reasons")
    }


def test_small_objects_without_partials_give_the_same_figures_once(world):
    """Objects below SMALL_OBJECT_RECORDS get no partial (an older one is removed); a refresh
    reads their records together, beside other objects' partials: the same figures, once."""
    registry, flows, tmp_path = world
    base = str(tmp_path / "flows")
    start = int(T0.timestamp())
    objects = {
        "a": sample_records(ACCOUNT, ENIS, start, 300, reject_share=0.5),
        "b": sample_records(ACCOUNT, ENIS, start + 720, 300, seed=3, reject_share=0.5),
        "c": sample_records(ACCOUNT, ENIS, start + 300, 400, seed=5, reject_share=0.5),
    }
    paths = [deliver(registry, flows, tmp_path, n, r, views_base=base) for n, r in objects.items()]
    refresh_partition_views(registry.database_url, LOC, DAY, T0, views_base=base)
    with_partials = (
        {g: stored(registry.database_url, g) for g in ("g1", "g2")},
        _columnar_views(base),
    )
    assert with_partials[0]["g1"] == expected(paths)

    # a and b loaded again as small objects (c keeps its partial): their partials go away.
    for name in ("a", "b"):
        deliver(registry, flows, tmp_path, name, objects[name], views_base=base, skip_below=350)
    for _ in range(2):  # and again: still once
        reports = refresh_partition_views(registry.database_url, LOC, DAY, T0, views_base=base)
        assert [(r.objects, r.partials_used) for r in reports] == [(3, 1), (3, 1)]
        pooled = (
            {g: stored(registry.database_url, g) for g in ("g1", "g2")},
            _columnar_views(base),
        )
        assert pooled == with_partials


def test_small_objects_of_different_formats_are_read_together_exactly(world):
    """Small objects of two flow logs, one of them without the optional vpc-id, subnet-id and
    instance-id fields: read together, each keeps its own columns (as with partials)."""
    registry, flows, tmp_path = world
    base = str(tmp_path / "flows")
    start = int(T0.timestamp())
    narrow = tuple(f for f in CUSTOM_FORMAT if f not in ("vpc-id", "subnet-id", "instance-id"))
    objects = {
        "a-narrow": (sample_records(ACCOUNT, ENIS, start, 300, reject_share=0.5), narrow),
        "b-full": (sample_records(ACCOUNT, ENIS, start + 60, 300, seed=4), CUSTOM_FORMAT),
    }
    paths = [
        deliver(registry, flows, tmp_path, name, rows, views_base=base, fields=fields)
        for name, (rows, fields) in objects.items()
    ]
    # The narrow file sorts first: read under its schema alone, the other's vpc_id would go.
    records = read_records(sorted(paths), list(VIEW_COLUMNS))
    assert records.num_rows == 600
    full_without = sum(r.get("vpc-id", "-") == "-" for r in objects["b-full"][0])  # NODATA
    assert records["vpc_id"].null_count == 300 + full_without < 600
    refresh_partition_views(registry.database_url, LOC, DAY, T0, views_base=base)
    with_partials = (
        {g: stored(registry.database_url, g) for g in ("g1", "g2")},
        _columnar_views(base),
    )
    for name, (rows, fields) in objects.items():
        deliver(
            registry, flows, tmp_path, name, rows, views_base=base, skip_below=350, fields=fields
        )
    reports = refresh_partition_views(registry.database_url, LOC, DAY, T0, views_base=base)
    assert [(r.objects, r.partials_used) for r in reports] == [(2, 0), (2, 0)]
    pooled = ({g: stored(registry.database_url, g) for g in ("g1", "g2")}, _columnar_views(base))
    assert pooled == with_partials


def test_views_are_unchanged_by_compaction_with_or_without_partials(world):
    """A compacted file holds many objects' rows: each object's partial still counts once, and
    an object without a partial is read from the compacted file (its own rows only)."""
    registry, flows, tmp_path = world
    base = str(tmp_path / "flows")
    start = int(T0.timestamp())
    paths = [
        deliver(registry, flows, tmp_path, name, rows, views_base=base)
        for name, rows in (
            ("a", sample_records(ACCOUNT, ENIS, start, 300, reject_share=0.5)),
            ("b", sample_records(ACCOUNT, ENIS, start + 720, 300, seed=3, reject_share=0.5)),
        )
    ]
    refresh_partition_views(registry.database_url, LOC, DAY, T0, views_base=base)
    before = {g: stored(registry.database_url, g) for g in ("g1", "g2")}
    assert before["g1"] == expected(paths)

    reports = compact_day(registry.database_url, base, DAY)
    assert sorted(r.objects for r in reports) == [2, 2]
    assert all(is_compacted(r.output) for r in reports)
    reports = refresh_partition_views(registry.database_url, LOC, DAY, T0, views_base=base)
    assert [(r.objects, r.partials_used) for r in reports] == [(2, 2), (2, 2)]
    assert {g: stored(registry.database_url, g) for g in ("g1", "g2")} == before

    for partial in (tmp_path / "flows").rglob("*.arrow"):
        partial.unlink()  # as an older load left it: records only
    reports = refresh_partition_views(registry.database_url, LOC, DAY, T0, views_base=base)
    assert [(r.objects, r.partials_used) for r in reports] == [(2, 0), (2, 0)]
    assert {g: stored(registry.database_url, g) for g in ("g1", "g2")} == before


def test_refreshes_of_one_location_are_serialized(database_url):
    engine = get_engine(database_url)
    with refresh_lock(database_url, 1, LOC):
        if engine.dialect.name != "postgresql":
            return  # SQLite serializes its writers itself
        import zlib

        key = zlib.crc32(f"1/{LOC}".encode()) - (1 << 31)
        ns = 727_100_002 - (1 << 31)
        with engine.connect() as other:
            taken = other.scalar(
                sa.text("SELECT pg_try_advisory_lock(:n, :k)"), {"n": ns, "k": key}
            )
            assert taken is False
    with engine.connect() as other:
        assert other.scalar(sa.text("SELECT pg_try_advisory_lock(:n, :k)"), {"n": ns, "k": key})
        other.execute(sa.text("SELECT pg_advisory_unlock(:n, :k)"), {"n": ns, "k": key})
