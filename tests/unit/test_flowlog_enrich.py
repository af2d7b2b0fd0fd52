"""Enrichment (inventory join as of the record's time, account filter, peers) and the Parquet
output per source object (deterministic path, atomic replace, local and s3://)."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cloudinsights_dagster.flowlogs import enrich as E
from cloudinsights_dagster.flowlogs.parse import FlowLogCorruptError, FlowLogFormatError
from cloudinsights_dagster.flowlogs.writer import output_path, process_object, read_output

MONITORED = {"111111111111", "222222222222"}
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z

HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status flow-direction traffic-path tcp-flags"
)
FIELDS = HEADER.split()


def inventory(**extra) -> pa.Table:
    rows = [
        # interface, instance, subnet, vpc, sgs, az, owner, name, private, public
        (
            "eni-a",
            "i-a",
            "subnet-1",
            "vpc-1",
            ["sg-1", "sg-2"],
            "us-east-1a",
            "111111111111",
            "web",
            ["10.0.0.10"],
            ["54.0.0.10"],
        ),
        (
            "eni-b",
            "i-b",
            "subnet-1",
            "vpc-1",
            ["sg-2"],
            "us-east-1a",
            "111111111111",
            "db",
            ["10.0.0.20"],
            [],
        ),
        (
            "eni-c",
            None,
            "subnet-2",
            "vpc-2",
            [],
            "us-east-1b",
            "222222222222",
            None,
            ["10.9.0.5"],
            [],
        ),
        # Same private address as eni-a, in another VPC (overlapping CIDRs).
        (
            "eni-d",
            "i-d",
            "subnet-3",
            "vpc-3",
            ["sg-9"],
            "us-east-1c",
            "222222222222",
            "other",
            ["10.0.0.10"],
            [],
        ),
    ]
    names = list(E.INVENTORY_COLUMNS)
    columns = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    types = {
        n: pa.list_(pa.string())
        if n in ("security_group_ids", "private_ips", "public_ips")
        else pa.string()
        for n in names
    }
    table = pa.table({n: pa.array(v, types[n]) for n, v in columns.items()})
    for name, values in extra.items():
        table = table.append_column(name, values)
    return table


def record(
    account="111111111111",
    eni="eni-a",
    src="10.0.0.10",
    dst="8.8.8.8",
    direction="egress",
    start=T0,
    status="OK",
) -> dict:
    return {
        "version": 5,
        "account_id": account,
        "interface_id": eni,
        "srcaddr": src,
        "dstaddr": dst,
        "srcport": 40000,
        "dstport": 443,
        "protocol": 6,
        "packets": 2,
        "bytes": 120,
        "start": start,
        "end": start + 30,
        "action": "ACCEPT",
        "log_status": status,
        "flow_direction": direction,
        "traffic_path": 1,
        "tcp_flags": 2,
    }


def batch(records: list[dict], dictionary: bool = True) -> pa.RecordBatch:
    columns = {}
    for name in records[0]:
        values = [r[name] for r in records]
        if name in ("start", "end"):
            columns[name] = pa.array(values, pa.int64()).view(pa.timestamp("s", tz="UTC"))
        elif isinstance(values[0], int):
            columns[name] = pa.array(values, pa.int64())
        else:
            arr = pa.array(values, pa.string())
            if dictionary and name in ("account_id", "interface_id", "flow_direction"):
                arr = pc.dictionary_encode(arr)
            columns[name] = arr
    return pa.RecordBatch.from_pydict(columns)


def enrich(records, inv=None, **kw):
    return E.enrich_batch(batch(records, **kw), inv if inv is not None else inventory(), MONITORED)


def test_joins_the_eni_attributes():
    result = enrich([record()])
    row = result.batch.to_pylist()[0]
    assert row["eni_instance_id"] == "i-a"
    assert row["eni_subnet_id"] == "subnet-1"
    assert row["eni_vpc_id"] == "vpc-1"
    assert row["eni_security_group_ids"] == ["sg-1", "sg-2"]
    assert row["eni_availability_zone"] == "us-east-1a"
    assert row["eni_owner_account_id"] == "111111111111"
    assert row["eni_name"] == "web"
    assert result.batch.schema.names[-len(E.ENRICHED_COLUMNS) :] == list(E.ENRICHED_COLUMNS)
    # Source columns are kept as they were.
    assert row["srcaddr"] == "10.0.0.10" and row["bytes"] == 120


def test_requester_managed_eni_without_instance_and_unknown_eni():
    result = enrich(
        [record(account="222222222222", eni="eni-c", src="10.9.0.5"), record(eni="eni-zzz")]
    )
    c, unknown = result.batch.to_pylist()
    assert c["eni_instance_id"] is None and c["eni_vpc_id"] == "vpc-2"
    assert c["eni_security_group_ids"] == [] and c["eni_name"] is None
    assert unknown["eni_vpc_id"] is None and unknown["eni_security_group_ids"] is None
    assert result.records_without_inventory == 1
    assert result.records_loaded == 2


def test_accounts_without_inventory_integration_are_filtered():
    result = enrich(
        [
            record(),
            record(account="999999999999", eni="eni-x"),
            record(account="999999999999", eni="eni-y"),
            record(account="unknown", eni="eni-b"),  # AWS-created ENI of a monitored account
            record(account="unknown", eni="eni-q"),  # nothing says it is ours
        ]
    )
    assert result.records_in == 5
    assert result.records_filtered == 3
    assert result.filtered_by_account == {"999999999999": 2, "unknown": 1}
    kept = result.batch.to_pylist()
    assert [r["interface_id"] for r in kept] == ["eni-a", "eni-b"]
    assert kept[1]["eni_owner_account_id"] == "111111111111"


def test_no_monitored_account_filters_everything():
    result = E.enrich_batch(batch([record(), record()]), inventory(), set())
    assert result.records_loaded == 0 and result.records_filtered == 2


def test_peer_is_the_other_end_and_resolves_to_monitored_resources():
    result = enrich(
        [
            record(src="10.0.0.10", dst="10.0.0.20", direction="egress"),  # a -> b, same VPC
            record(eni="eni-b", src="10.0.0.10", dst="10.0.0.20", direction="ingress"),  # b <- a
            record(eni="eni-b", src="54.0.0.10", dst="10.0.0.20", direction="ingress"),  # public IP
            record(src="10.0.0.10", dst="93.184.216.34", direction="egress"),  # internet
            record(eni="eni-b", src="2a05:d018::1", dst="10.0.0.20", direction="ingress"),  # IPv6
        ]
    )
    rows = result.batch.to_pylist()
    assert rows[0]["peer_interface_id"] == "eni-b" and rows[0]["peer_instance_id"] == "i-b"
    assert rows[0]["peer_is_external"] is False
    assert rows[1]["peer_interface_id"] == "eni-a" and rows[1]["peer_vpc_id"] == "vpc-1"
    assert rows[2]["peer_interface_id"] == "eni-a"
    assert rows[2]["peer_account_id"] == "111111111111"
    for external in rows[3:]:
        assert external["peer_is_external"] is True and external["peer_interface_id"] is None
    assert result.records_external_peer == 2


def test_shared_private_address_prefers_the_records_vpc():
    result = enrich(
        [
            record(eni="eni-b", src="10.0.0.10", dst="10.0.0.20", direction="ingress"),  # vpc-1
            record(account="222222222222", eni="eni-c", src="10.9.0.5", dst="10.0.0.10"),  # vpc-2
        ]
    )
    same_vpc, elsewhere = result.batch.to_pylist()
    assert same_vpc["peer_interface_id"] == "eni-a"
    # 10.0.0.10 is in vpc-1 and vpc-3, neither is eni-c's: ambiguous, but not external.
    assert elsewhere["peer_interface_id"] is None
    assert elsewhere["peer_is_external"] is False


def test_nodata_records_are_kept_with_null_peer():
    nodata = record(src=None, dst=None, direction=None, status="NODATA")
    skip = record(src=None, dst=None, direction=None, status="SKIPDATA", eni="eni-b")
    rows = enrich([nodata, skip]).batch.to_pylist()
    assert [r["log_status"] for r in rows] == ["NODATA", "SKIPDATA"]
    assert rows[0]["eni_instance_id"] == "i-a"
    assert rows[0]["peer_is_external"] is None and rows[0]["peer_interface_id"] is None


def test_the_inventory_version_valid_at_the_records_start():
    inv = inventory()
    # eni-a moves from subnet-1 to subnet-9 (and is renamed) at T0 + 600.
    moved = inv.slice(0, 1)
    moved = moved.set_column(
        moved.schema.get_field_index("subnet_id"), "subnet_id", pa.array(["subnet-9"])
    )
    moved = moved.set_column(moved.schema.get_field_index("name"), "name", pa.array(["web2"]))
    both = pa.concat_tables([inv, moved])
    ts = pa.timestamp("s", tz="UTC")
    valid_from = pa.array([T0 - 3600, T0 - 3600, T0 - 3600, T0 - 3600, T0 + 600], pa.int64()).view(
        ts
    )
    both = both.append_column("valid_from", valid_from)
    result = E.enrich_batch(
        batch(
            [
                record(start=T0 - 7200),
                record(start=T0 + 599),
                record(start=T0 + 600),
                record(start=T0 + 9999),
            ]
        ),
        both,
        MONITORED,
    )
    rows = result.batch.to_pylist()
    assert [r["eni_subnet_id"] for r in rows] == ["subnet-1", "subnet-1", "subnet-9", "subnet-9"]
    assert [r["eni_name"] for r in rows] == ["web", "web", "web2", "web2"]


def test_each_distinct_eni_is_looked_up_once(monkeypatch):
    seen = []
    original = E.EniIndex.eni_rows

    def spy(self, eni_values, eni_idx, start):
        seen.append(len(eni_values))
        return original(self, eni_values, eni_idx, start)

    monkeypatch.setattr(E.EniIndex, "eni_rows", spy)
    records = [record(eni=f"eni-{'ab'[i % 2]}") for i in range(10_000)]
    result = enrich(records)
    assert seen == [2]
    assert result.records_loaded == 10_000


def test_plain_string_columns_work_too():
    rows = enrich(
        [record(), record(eni="eni-b", direction="ingress", src="10.0.0.10")], dictionary=False
    ).batch.to_pylist()
    assert rows[0]["eni_instance_id"] == "i-a"
    assert rows[1]["peer_interface_id"] == "eni-a"


def test_inventory_must_have_the_columns():
    with pytest.raises(ValueError, match="private_ips"):
        E.EniIndex(inventory().drop_columns(["private_ips"]), MONITORED)


def test_empty_inventory():
    result = E.enrich_batch(batch([record()]), E.empty_inventory(), MONITORED)
    row = result.batch.to_pylist()[0]
    assert row["eni_vpc_id"] is None and row["peer_is_external"] is True


# -- storage ------------------------------------------------------------------------------------


def text_file(records: list[dict]) -> bytes:
    def cell(v):
        if v is None:
            return "-"
        return str(v)

    lines = [" ".join(FIELDS)]
    for r in records:
        lines.append(" ".join(cell(r[f.replace("-", "_")]) for f in FIELDS))
    return gzip.compress(("\n".join(lines) + "\n").encode())


def test_output_path_is_deterministic_and_safe():
    key = (
        "AWSLogs/111111111111/vpcflowlogs/us-east-1/2026/01/01/"
        "111111111111_vpcflowlogs_us-east-1_fl-0abc_20260101T0005Z_f00d.log.gz"
    )
    path = output_path("/data/flows", "my-bucket", key)
    assert path == (
        "/data/flows/my-bucket/AWSLogs/111111111111/vpcflowlogs/us-east-1/2026/01/01/"
        "111111111111_vpcflowlogs_us-east-1_fl-0abc_20260101T0005Z_f00d.parquet"
    )
    assert output_path("/data/flows", "my-bucket", key) == path
    assert output_path("s3://out/flows", "b", "x/y.log.parquet") == "s3://out/flows/b/x/y.parquet"
    escaped = output_path("/data", "b", "../../etc/p a.log.gz")
    assert escaped.startswith("/data/b/") and "/../" not in escaped and " " not in escaped


def test_process_object_writes_one_file_and_replaces_it(tmp_path):
    out = output_path(str(tmp_path), "bucket", "AWSLogs/1/vpcflowlogs/x.log.gz")
    data = text_file(
        [
            record(),
            record(account="999999999999", eni="eni-x"),
            record(start=T0 + 60, status="NODATA", src=None, dst=None, direction=None),
        ]
    )
    result = process_object(data, out, inventory(), MONITORED, name="s3://bucket/x.log.gz")
    assert (result.records_read, result.records_loaded, result.records_filtered) == (3, 2, 1)
    assert result.filtered_by_account == {"999999999999": 1}
    assert result.records_nodata == 1
    assert result.first_start == datetime(2026, 1, 1, tzinfo=UTC)
    assert result.last_end == datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC)
    table = read_output(out)
    assert table.num_rows == 2
    assert table.column("eni_instance_id").to_pylist() == ["i-a", "i-a"]
    # Parquet has no second unit: timestamps come back as milliseconds, still UTC.
    assert table.schema.field("start").type.tz == "UTC"
    # Rows are sorted by (interface_id, flow_direction, start), not kept in file order.
    assert min(table.column("start").to_pylist()) == datetime(2026, 1, 1, tzinfo=UTC)

    # Re-processing the same object replaces exactly its rows; nothing else is left behind.
    process_object(data, out, inventory(), MONITORED)
    assert read_output(out).num_rows == 2
    assert sorted(p.name for p in (tmp_path / "bucket/AWSLogs/1/vpcflowlogs").iterdir()) == [
        "x.parquet"
    ]


def test_a_bad_file_writes_nothing_and_keeps_the_previous_output(tmp_path):
    out = str(tmp_path / "o.parquet")
    process_object(text_file([record()]), out, inventory(), MONITORED)
    good = read_output(out)
    with pytest.raises(FlowLogFormatError):
        process_object(gzip.compress(b"version srcaddr\n5 1.1.1.1\n"), out, inventory(), MONITORED)
    truncated = text_file([record()] * 5000)[:-100]
    with pytest.raises(FlowLogCorruptError):
        process_object(truncated, out, inventory(), MONITORED)
    assert read_output(out).equals(good)
    assert [p.name for p in tmp_path.iterdir()] == ["o.parquet"]


def test_empty_object_gives_an_empty_output(tmp_path):
    out = str(tmp_path / "e.parquet")
    result = process_object(gzip.compress(b""), out, inventory(), MONITORED)
    assert result.records_read == 0
    table = pq.read_table(out)
    assert table.num_rows == 0 and "eni_vpc_id" in table.column_names


def test_s3_output(moto_endpoint, aws_client):
    s3 = aws_client("s3")
    s3.create_bucket(Bucket="flows-out")
    out = output_path("s3://flows-out/enriched", "src", "AWSLogs/1/f.log.gz")
    result = process_object(text_file([record(), record(eni="eni-b")]), out, inventory(), MONITORED)
    assert result.records_loaded == 2
    assert read_output(out).num_rows == 2
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="flows-out")["Contents"]]
    # Arrow may leave an empty "folder/" marker after deleting the temporary object.
    assert [k for k in keys if not k.endswith("/")] == ["enriched/src/AWSLogs/1/f.parquet"]


def _large_inventory(extra_enis: int) -> pa.Table:
    """inventory() plus `extra_enis` ENIs no record uses, each with its own values."""
    base = inventory()
    n = extra_enis
    extra = pa.table(
        {
            "interface_id": [f"eni-x{i}" for i in range(n)],
            "instance_id": [f"i-x{i}" for i in range(n)],
            "subnet_id": [f"subnet-x{i}" for i in range(n)],
            "vpc_id": [f"vpc-x{i}" for i in range(n)],
            "security_group_ids": [[f"sg-x{i}"] for i in range(n)],
            "availability_zone": ["us-east-1a"] * n,
            "owner_account_id": ["111111111111"] * n,
            "name": [f"name-{i}" for i in range(n)],
            "private_ips": [[f"10.{i // 250}.{i % 250}.7"] for i in range(n)],
            "public_ips": [[] for _ in range(n)],
        },
        schema=base.schema,
    )
    return pa.concat_tables([base, extra])


def test_enriched_columns_carry_only_the_values_their_records_use(tmp_path):
    """A file writes each column's Arrow dictionary whole: the enriched columns must not carry
    the whole inventory's values (a 10-record object of 5,000 ENIs wrote 166 KB)."""
    records = [
        record(),
        record(eni="eni-b", src="10.0.0.20", dst="10.0.0.10", direction="egress"),
        record(eni="eni-c", account="222222222222", src="10.9.0.5"),
    ]
    small = enrich(records).batch
    large = E.enrich_batch(batch(records), _large_inventory(3000), MONITORED).batch
    assert large.to_pylist() == small.to_pylist()  # the same values
    for name in E.ENRICHED_COLUMNS:
        column = large.column(name)
        if pa.types.is_list(column.type):
            column = column.values
        if pa.types.is_dictionary(column.type):
            assert len(column.dictionary) <= 3, name  # not ~3,000

    out_small = str(tmp_path / "small.parquet")
    out_large = str(tmp_path / "large.parquet")
    process_object(text_file(records), out_small, inventory(), MONITORED)
    process_object(text_file(records), out_large, _large_inventory(3000), MONITORED)
    assert read_output(out_large).to_pylist() == read_output(out_small).to_pylist()
    size_small, size_large = (os.path.getsize(p) for p in (out_small, out_large))
    assert size_large < size_small * 1.1, (size_small, size_large)
