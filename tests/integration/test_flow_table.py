"""The flow-record table end to end (SQLite and PostgreSQL ledgers): objects land in Hive-style
day/location partitions; DuckDB runs the documented queries with partition pruning and gets the
answers pandas computes from the source records; compaction is atomic, idempotent and keeps
every row; an object reprocessed after compaction replaces exactly its rows."""

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from flowlog_samples import (
    CUSTOM_FORMAT,
    Eni,
    flow_log_gzip,
    object_key,
    sample_records,
)

from cloudinsights_dagster.flowlogs import queries
from cloudinsights_dagster.flowlogs.enrich import EniIndex
from cloudinsights_dagster.flowlogs.ledger import (
    ObjectRef,
    claim_objects,
    finish_object,
    upsert_object,
)
from cloudinsights_dagster.flowlogs.table import (
    compact_day,
    is_compacted,
    object_output,
    source_object,
    table_root,
)
from cloudinsights_dagster.flowlogs.writer import process_object
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import get_engine, session_scope

REGION = "us-east-1"
ACCOUNTS = ("111111111111", "222222222222")
LOCATIONS = tuple(f"{a}-{REGION}" for a in ACCOUNTS)
DAY, NEXT, BEFORE = "2026-03-01", "2026-03-02", "2026-02-28"
BUCKET = "flow-logs"


def _t(day: str, hh: int, mm: int) -> int:
    return int(datetime.fromisoformat(f"{day}T{hh:02d}:{mm:02d}:00+00:00").timestamp())


def _enis(n: int) -> list[Eni]:
    return [
        Eni(f"eni-{n}{i:03d}", f"10.{n}.0.{10 + i}", f"vpc-{n}", f"subnet-{n}", f"i-{n}{i:03d}")
        for i in range(6)
    ]


ENIS = {loc: _enis(n + 1) for n, loc in enumerate(LOCATIONS)}
# Per location: (ledger day = the key's delivery day, delivery time, first record start).
OBJECTS = [
    (BEFORE, _t(BEFORE, 12, 0), _t(BEFORE, 12, 0)),
    (DAY, _t(DAY, 10, 0), _t(DAY, 10, 0)),
    (DAY, _t(DAY, 10, 5), _t(DAY, 10, 5)),
    (DAY, _t(DAY, 10, 10), _t(DAY, 10, 10)),
    # Delivered just after midnight: records of the end of DAY and the start of NEXT.
    (NEXT, _t(NEXT, 0, 5), _t(DAY, 23, 57)),
    (NEXT, _t(NEXT, 12, 0), _t(NEXT, 12, 0)),
]


def _inventory() -> pa.Table:
    enis = [(loc, e) for loc, es in ENIS.items() for e in es]
    return pa.table(
        {
            "interface_id": [e.interface_id for _, e in enis],
            "instance_id": [e.instance_id for _, e in enis],
            "subnet_id": [e.subnet_id for _, e in enis],
            "vpc_id": [e.vpc_id for _, e in enis],
            "security_group_ids": [["sg-1"] for _ in enis],
            "availability_zone": ["us-east-1a" for _ in enis],
            "owner_account_id": [loc.partition("-")[0] for loc, _ in enis],
            "name": [None for _ in enis],
            "private_ips": [[e.private_ip] for _, e in enis],
            "public_ips": [[] for _ in enis],
        }
    )


class World:
    def __init__(self, url: str, base: str):
        self.url, self.base = url, base
        registry = Registry(url)
        for account in ACCOUNTS:
            registry.add_inventory("g1", f"inv-{account}", f"arn:aws:iam::{account}:role/i")
        self.integration = registry.add_flowlogs(
            "g1", "flows", f"arn:aws:iam::{ACCOUNTS[0]}:role/f", [self._topic()]
        ).id
        self.index = EniIndex(_inventory(), ACCOUNTS)
        self.bodies: dict[str, bytes] = {}
        self.rows: dict[str, list[dict]] = {}  # key -> source records
        self.location_of: dict[str, str] = {}
        for loc in LOCATIONS:
            account = loc.partition("-")[0]
            for n, (day, delivered, first) in enumerate(OBJECTS):
                key = object_key(account, REGION, "fl-1", delivered, suffix=f"o{n}")
                self.deliver(key, loc, day, sample_records(account, ENIS[loc], first, 240, n))

    def _topic(self) -> str:
        return f"arn:aws:sns:{REGION}:{ACCOUNTS[0]}:flow-logs"

    def deliver(self, key: str, loc: str, day: str, rows: list[dict], etag: str = "e1") -> None:
        self.rows[key], self.location_of[key] = rows, loc
        self.bodies[key] = flow_log_gzip(rows)
        ref = ObjectRef(self.integration, BUCKET, key, etag, len(self.bodies[key]), loc, day)
        with session_scope(self.url) as session:
            upsert_object(session, ref, "notification")

    def process(self, day: str) -> int:
        """What flowlogs/process.py does per object, minus the download."""
        now = datetime.now(UTC)
        with session_scope(self.url) as session:
            claimed = claim_objects(session, day, "run-1", now, max_objects=1000)
        for c in claimed:
            with session_scope(self.url) as session:
                out = object_output(session, self.base, c)
            result = process_object(
                self.bodies[c.key], out, self.index, (), name=source_object(c.bucket, c.key)
            )
            with session_scope(self.url) as session:
                assert finish_object(session, c.id, "run-1", "loaded", now, result=result)
        return len(claimed)

    def ledger(self) -> dict[str, s.FlowLogObject]:
        with get_engine(self.url).connect() as conn:
            return {r.object_key: r for r in conn.execute(sa.select(s.FlowLogObject))}

    def files(self) -> list[str]:
        root = Path(table_root(self.base))
        return sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet"))

    def source_frame(self, location: str) -> pd.DataFrame:
        """The location's source records as pandas reads the text (independent of the table)."""
        rows = [
            {f: r.get(f, "-") for f in CUSTOM_FORMAT}
            for key, records in self.rows.items()
            if self.location_of[key] == location
            for r in records
        ]
        df = pd.DataFrame(rows).replace("-", None)
        for column in (
            "srcport",
            "dstport",
            "protocol",
            "packets",
            "bytes",
            "start",
            "traffic-path",
        ):
            df[column] = pd.to_numeric(df[column])
        return df


@pytest.fixture
def world(database_url, tmp_path):
    w = World(database_url, str(tmp_path / "out"))
    for day in (BEFORE, DAY, NEXT):
        assert w.process(day) == 2 * sum(1 for d, _, _ in OBJECTS if d == day)
    return w


def _of_day(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["start"] >= _t(DAY, 0, 0)) & (df["start"] < _t(NEXT, 0, 0))]


def expected_top_talkers(df: pd.DataFrame, vpc: str) -> list[tuple]:
    d = _of_day(df)
    d = d[(d["vpc-id"] == vpc) & (d["log-status"] == "OK")]
    g = d.groupby(["srcaddr", "dstaddr"]).agg(
        bytes=("bytes", "sum"), packets=("packets", "sum"), flows=("bytes", "size")
    )
    g = g.reset_index().sort_values(["bytes", "srcaddr", "dstaddr"], ascending=[False, True, True])
    return [tuple(int(v) if not isinstance(v, str) else v for v in r) for r in g.head(10).values]


def expected_rejected(df: pd.DataFrame, instance: str) -> list[tuple]:
    d = _of_day(df)
    d = d[
        (d["instance-id"] == instance)
        & (d["action"] == "REJECT")
        & (d["flow-direction"] == "ingress")
    ]
    g = d.groupby(["srcaddr", "dstport", "protocol"]).agg(
        flows=("bytes", "size"), packets=("packets", "sum")
    )
    g = g.reset_index().sort_values(
        ["flows", "srcaddr", "dstport", "protocol"], ascending=[False, True, True, True]
    )
    return [(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in g.values]


def expected_paths(frames: list[pd.DataFrame]) -> list[tuple]:
    d = _of_day(pd.concat(frames))
    d = d[(d["flow-direction"] == "egress") & (d["log-status"] == "OK")]
    g = d.groupby("traffic-path").agg(bytes=("bytes", "sum"), flows=("bytes", "size"))
    return [(int(p), int(r["bytes"]), int(r["flows"])) for p, r in g.sort_index().iterrows()]


def check_queries(w: World) -> None:
    """The three documented queries on the table equal pandas over the source records, and
    DuckDB opens only the files of the partitions they name."""
    con = duckdb.connect()
    table = queries.table_source(w.base)
    loc = LOCATIONS[0]
    df = w.source_frame(loc)
    vpc, instance = ENIS[loc][0].vpc_id, ENIS[loc][2].instance_id
    top = queries.run(con, queries.TOP_TALKERS, table, DAY, location=loc, vpc=vpc)
    assert top == expected_top_talkers(df, vpc) and len(top) == 10
    rejected = queries.run(
        con, queries.REJECTED_TO_INSTANCE, table, DAY, location=loc, instance=instance
    )
    assert rejected == expected_rejected(df, instance) and rejected
    paths = queries.run(con, queries.BYTES_BY_TRAFFIC_PATH, table, DAY)
    assert paths == expected_paths([w.source_frame(x) for x in LOCATIONS])
    assert {p for p, *_ in paths} == {1, 2, 8}

    files = w.files()
    in_location = [f for f in files if f"location={loc}/" in f and "day=2026-02-28" not in f]
    in_days = [f for f in files if "day=2026-02-28" not in f]
    scan = queries.explain(con, queries.TOP_TALKERS, table, DAY, location=loc, vpc=vpc)
    assert (scan.files_read, scan.files_total) == (len(in_location), len(files))
    assert scan.files_read < len(files) and scan.bytes_read > 0
    scan = queries.explain(con, queries.BYTES_BY_TRAFFIC_PATH, table, DAY)
    assert (scan.files_read, scan.files_total) == (len(in_days), len(files))


def _all_rows(w: World) -> pa.Table:
    con = duckdb.connect()
    rel = queries.table_source(w.base).relation
    return con.sql(
        f"SELECT * EXCLUDE (eni_security_group_ids) FROM {rel} "
        "ORDER BY source_object, interface_id, start, srcaddr, dstaddr, bytes, srcport"
    ).to_arrow_table()


def test_layout_and_the_documented_queries(world):
    files = world.files()
    assert len(files) == 2 * len(OBJECTS)
    for loc in LOCATIONS:
        assert sum(f.startswith(f"day={DAY}/location={loc}/") for f in files) == 3
        assert sum(f.startswith(f"day={NEXT}/location={loc}/") for f in files) == 2
    ledger = world.ledger()
    for key, row in ledger.items():
        assert row.status == "loaded"
        assert row.output_path.endswith(".parquet") and f"day={row.day}/" in row.output_path
        table = pq.read_table(row.output_path)
        assert table.column("source_object").unique().to_pylist() == [source_object(BUCKET, key)]
        assert table.num_rows == len(world.rows[key])
    check_queries(world)


def test_compaction_keeps_every_row_and_is_idempotent(world):
    before = _all_rows(world)
    reports = compact_day(world.url, world.base, DAY)
    assert [(r.location_key, r.objects, r.files_merged) for r in reports] == [
        (loc, 3, 3) for loc in LOCATIONS
    ]
    files = world.files()
    for loc in LOCATIONS:
        (only,) = [f for f in files if f.startswith(f"day={DAY}/location={loc}/")]
        assert os.path.basename(only).startswith("compacted-")
    ledger = world.ledger()
    day_rows = [r for r in ledger.values() if r.day == DAY]
    assert all(is_compacted(r.output_path) for r in day_rows)
    assert len({r.output_path for r in day_rows}) == len(LOCATIONS)
    assert all(not is_compacted(r.output_path) for r in ledger.values() if r.day != DAY)
    assert _all_rows(world).equals(before)
    check_queries(world)

    # Again: nothing to do, the same files, byte for byte.
    stamps = {f: os.stat(Path(table_root(world.base)) / f).st_mtime_ns for f in files}
    again = compact_day(world.url, world.base, DAY)
    assert {r.skipped for r in again} == {"already compacted"}
    assert {f: os.stat(Path(table_root(world.base)) / f).st_mtime_ns for f in files} == stamps
    assert all(world.ledger()[k].output_path == ledger[k].output_path for k in ledger)

    # A compacted file left unreferenced (a crash between writing and committing) goes.
    compacted = next(r.output_path for r in day_rows)
    orphan = os.path.join(os.path.dirname(compacted), f"compacted-{world.integration}-0.parquet")
    shutil.copy(compacted, orphan)
    compact_day(world.url, world.base, DAY)
    assert not os.path.exists(orphan)
    assert _all_rows(world).equals(before)


def test_a_failed_compaction_changes_nothing(world):
    ledger = world.ledger()
    target = next(r for r in ledger.values() if r.day == NEXT and r.location_key == LOCATIONS[1])
    Path(target.output_path).write_bytes(b"not parquet")  # one unreadable member
    files = world.files()
    with pytest.raises(pa.ArrowInvalid):
        compact_day(world.url, world.base, NEXT)
    after = world.ledger()
    # The first location compacted; the broken one is as it was: ledger and files.
    broken = {k for k, r in ledger.items() if r.day == NEXT and r.location_key == LOCATIONS[1]}
    assert all(after[k].output_path == ledger[k].output_path for k in broken)
    assert [f for f in world.files() if f"location={LOCATIONS[1]}" in f] == [
        f for f in files if f"location={LOCATIONS[1]}" in f
    ]
    assert not any(p.name.endswith(".tmp") for p in Path(world.base).rglob("*"))


def test_reprocessing_after_compaction_replaces_exactly_its_rows(world):
    compact_day(world.url, world.base, DAY)
    loc = LOCATIONS[0]
    key = next(k for k, r in world.ledger().items() if r.day == DAY and r.location_key == loc)
    old_rows = len(world.rows[key])
    total_before = _all_rows(world).num_rows
    # The object is overwritten in S3 (new eTag): fewer, different records.
    account = loc.partition("-")[0]
    new = sample_records(account, ENIS[loc], _t(DAY, 10, 0), 90, seed=99)
    world.deliver(key, loc, DAY, new, etag="e2")
    assert world.process(DAY) == 1
    rows = _all_rows(world)
    assert rows.num_rows == total_before - old_rows + len(new)
    mine = rows.filter(pa.compute.equal(rows["source_object"], source_object(BUCKET, key)))
    assert mine.num_rows == len(new)
    assert sorted(b for b in mine["bytes"].to_pylist() if b is not None) == sorted(
        int(r["bytes"]) for r in new if r["log-status"] == "OK"
    )
    ledger = world.ledger()
    assert not is_compacted(ledger[key].output_path)
    check_queries(world)

    # Compacting again folds the new file in: one file, the same rows.
    compact_day(world.url, world.base, DAY)
    assert len([f for f in world.files() if f.startswith(f"day={DAY}/location={loc}/")]) == 1
    assert _all_rows(world).equals(rows)
    check_queries(world)


def test_the_nightly_compaction_asset(world, monkeypatch):
    import dagster as dg

    from cloudinsights_dagster.assets.compaction import (
        flow_records_compacted,
        flowlog_compaction_schedule,
    )
    from cloudinsights_dagster.resources import WarehouseResource

    with dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 3, 2, 4, tzinfo=UTC)
    ) as context:
        request = flowlog_compaction_schedule(context)
    assert request.partition_key == DAY
    monkeypatch.setenv("CLOUDINSIGHTS_FLOWLOGS_OUTPUT", world.base)
    before = _all_rows(world)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [flow_records_compacted],
            instance=instance,
            partition_key=DAY,
            resources={"warehouse": WarehouseResource(database_url=world.url)},
        )
    assert result.success
    meta = result.asset_materializations_for_node("flow_records_compacted")[0].metadata
    assert meta["partitions_compacted"].value == len(LOCATIONS)
    assert meta["files_merged"].value == 3 * len(LOCATIONS)
    assert (
        meta["rows"].value
        == before.filter(pa.compute.equal(before["day"], datetime(2026, 3, 1).date())).num_rows
    )
    assert _all_rows(world).equals(before)
