"""Parsing VPC flow-log files: header order, types, nulls, NODATA/SKIPDATA, bad files."""

from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloudinsights_dagster.flowlogs import fields as F
from cloudinsights_dagster.flowlogs import parse as P
from cloudinsights_dagster.flowlogs.parse import (
    FlowLogCorruptError,
    FlowLogFormatError,
    check_source,
    open_flow_log,
    read_fields,
    read_flow_log,
)

HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status flow-direction traffic-path tcp-flags"
)
MANDATORY_ORDER = HEADER.split()

RECORDS = [
    # version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes
    # start end action log-status flow-direction traffic-path tcp-flags
    "5 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.5 52.95.110.1 49152 443 6 10 8400 "
    "1767225600 1767225660 ACCEPT OK egress 2 19",
    "5 123456789012 eni-0a1b2c3d4e5f60718 203.0.113.9 10.0.1.5 51000 22 6 3 180 "
    "1767225601 1767225659 REJECT OK ingress - 2",
    "5 123456789012 eni-0a1b2c3d4e5f60718 2600:1f18:4a3:6d00::1 2a05:d018:8c1::200 "
    "40000 443 6 4 520 1767225602 1767225658 ACCEPT OK egress 8 3",
    "5 123456789012 eni-0a1b2c3d4e5f60718 - - - - - - - 1767225600 1767225660 - NODATA - - -",
    "5 unknown eni-0ffff00000000000 - - - - - - - 1767225600 1767225660 - SKIPDATA - - -",
]


@pytest.fixture(autouse=True, params=["zlib", "isal"])
def inflater(request, monkeypatch):
    """Every test runs with Arrow's zlib and with ISA-L (when the isal package is installed)."""
    if request.param == "isal" and P._igzip is None:
        pytest.skip("isal is not installed")
    monkeypatch.setenv("CLOUDINSIGHTS_GZIP", request.param)
    return request.param


@pytest.fixture(autouse=True, params=["fast", "arrow"])
def text_parser(request, monkeypatch):
    """Every test runs with the C fast path (when built) and with Arrow's CSV reader alone."""
    if request.param == "fast" and P._fastparse is None:
        pytest.skip("the C fast path is not built")
    monkeypatch.setenv("CLOUDINSIGHTS_FASTPARSE", "1" if request.param == "fast" else "0")
    return request.param


def gz(text: str) -> bytes:
    return gzip.compress(text.encode())


def flow_file(fields: list[str], rows: list[dict[str, str]]) -> bytes:
    lines = [" ".join(fields)] + [" ".join(row[f] for f in fields) for row in rows]
    return gz("\n".join(lines) + "\n")


def as_dicts() -> list[dict[str, str]]:
    return [dict(zip(MANDATORY_ORDER, r.split(), strict=True)) for r in RECORDS]


def test_parses_typed_columns_in_file_order(tmp_path):
    path = tmp_path / "a.log.gz"
    path.write_bytes(flow_file(MANDATORY_ORDER, as_dicts()))
    table = read_flow_log(path)

    assert table.column_names == [F.to_column(f) for f in MANDATORY_ORDER]
    assert table.num_rows == 5
    schema = table.schema
    assert schema.field("srcport").type == pa.int32()
    assert schema.field("packets").type == pa.int64()
    assert schema.field("bytes").type == pa.int64()
    assert schema.field("start").type == pa.timestamp("s", tz="UTC")
    assert schema.field("end").type == pa.timestamp("s", tz="UTC")
    assert schema.field("srcaddr").type == pa.string()
    assert pa.types.is_dictionary(schema.field("interface_id").type)

    first = table.slice(0, 1).to_pylist()[0]
    assert first["start"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert first["tcp_flags"] == 19
    assert first["traffic_path"] == 2
    assert first["flow_direction"] == "egress"
    assert first["bytes"] == 8400


def test_dash_is_null_and_nodata_skipdata_are_kept():
    table = read_flow_log(flow_file(MANDATORY_ORDER, as_dicts()))
    rows = table.to_pylist()
    ingress = rows[1]
    assert ingress["traffic_path"] is None
    nodata, skipdata = rows[3], rows[4]
    assert nodata["log_status"] == "NODATA" and skipdata["log_status"] == "SKIPDATA"
    for row in (nodata, skipdata):
        for column in (
            "srcaddr",
            "dstaddr",
            "srcport",
            "dstport",
            "protocol",
            "packets",
            "bytes",
            "action",
            "flow_direction",
            "traffic_path",
            "tcp_flags",
        ):
            assert row[column] is None, column
        assert row["start"] is not None and row["end"] is not None
        assert row["interface_id"].startswith("eni-")
    assert skipdata["account_id"] == "unknown"


def test_ipv6_addresses_are_strings():
    table = read_flow_log(flow_file(MANDATORY_ORDER, as_dicts()))
    row = table.to_pylist()[2]
    assert row["srcaddr"] == "2600:1f18:4a3:6d00::1"
    assert row["dstaddr"] == "2a05:d018:8c1::200"


def test_field_order_comes_from_the_header():
    shuffled = list(reversed(MANDATORY_ORDER))
    a = read_flow_log(flow_file(MANDATORY_ORDER, as_dicts()))
    b = read_flow_log(flow_file(shuffled, as_dicts()))
    assert b.column_names == [F.to_column(f) for f in shuffled]
    assert b.select(a.column_names).equals(a)


def test_optional_and_unknown_fields():
    fields = [
        *MANDATORY_ORDER,
        "vpc-id",
        "instance-id",
        "pkt-srcaddr",
        "reject-reason",
        "ecs-cluster-name",
        "custom-thing",
    ]
    rows = as_dicts()
    for row in rows:
        row.update(
            {
                "vpc-id": "vpc-0abc",
                "instance-id": "-",
                "pkt-srcaddr": row["srcaddr"],
                "reject-reason": "-",
                "ecs-cluster-name": "prod",
                "custom-thing": "007",
            }
        )
    rows[1]["reject-reason"] = "BPA"
    table = read_flow_log(flow_file(fields, rows))
    assert table.column("vpc_id").to_pylist()[0] == "vpc-0abc"
    assert table.column("instance_id").null_count == 5
    assert table.column("reject_reason").to_pylist()[1] == "BPA"
    assert table.column("ecs_cluster_name").to_pylist()[0] == "prod"
    # Unknown fields stay strings: "007" keeps its zeros.
    assert table.schema.field("custom_thing").type == pa.string()
    assert table.column("custom_thing").to_pylist()[0] == "007"


V2_ROW = "2 123456789012 eni-1 1.1.1.1 2.2.2.2 1 2 6 1 1 1 2 ACCEPT OK"


def test_missing_mandatory_fields_are_named_before_any_record():
    v2 = list(F.DEFAULT_FORMAT)
    rows = [
        dict(
            zip(
                v2,
                V2_ROW.split(),
                strict=True,
            )
        )
    ]
    with pytest.raises(FlowLogFormatError) as err:
        open_flow_log(flow_file(v2, rows), name="s3://logs/AWSLogs/1/x.log.gz")
    exc = err.value
    assert exc.missing_fields == ["flow-direction", "tcp-flags", "traffic-path"]
    message = str(exc)
    assert "s3://logs/AWSLogs/1/x.log.gz" in message
    assert "flow-direction, tcp-flags, traffic-path" in message
    assert "recreated with a custom format" in message
    assert exc.details()["missing_fields"] == exc.missing_fields


def test_check_source_and_read_fields():
    data = flow_file(MANDATORY_ORDER, as_dicts())
    assert check_source(data) == []
    assert read_fields(data) == MANDATORY_ORDER
    assert check_source(gz("version srcaddr\n1 x\n")) == sorted(
        set(F.MANDATORY_FIELDS) - {"version", "srcaddr"}
    )


def test_a_data_line_is_not_a_header():
    with pytest.raises(FlowLogFormatError) as err:
        open_flow_log(gz(RECORDS[0] + "\n"))
    assert "not a flow-log header" in str(err.value)


def test_header_only_has_no_records_but_the_schema():
    table = read_flow_log(gz(" ".join(MANDATORY_ORDER) + "\n"))
    assert table.num_rows == 0
    assert table.column_names == [F.to_column(f) for f in MANDATORY_ORDER]


# mtime=0 and ids: the same test ids on every pytest-xdist worker (a gzip header holds a time).
@pytest.mark.parametrize(
    "payload",
    [gzip.compress(b"", mtime=0), b"", gzip.compress(b"\n\n", mtime=0)],
    ids=["empty-gzip", "no-bytes", "blank-lines-gzip"],
)
def test_empty_file_is_zero_records(payload):
    with open_flow_log(payload, name="empty.log.gz") as reader:
        assert reader.empty
        assert list(reader) == []
    assert check_source(payload) == []


def test_multi_member_gzip():
    text = "\n".join([" ".join(MANDATORY_ORDER), *RECORDS]) + "\n"
    half = len(text) // 2
    data = gzip.compress(text[:half].encode()) + gzip.compress(text[half:].encode())
    assert read_flow_log(data).num_rows == 5
    # An empty first member, then the data.
    assert read_flow_log(gzip.compress(b"") + gz(text)).num_rows == 5


def big_file(n: int = 30_000) -> bytes:
    body = "\n".join(RECORDS[0] for _ in range(n))
    return gz(" ".join(MANDATORY_ORDER) + "\n" + body + "\n")


def test_truncated_gzip_fails_the_file():
    data = big_file()
    for cut in (len(data) - 7, len(data) // 2, 12):
        with pytest.raises(FlowLogCorruptError) as err:
            read_flow_log(data[:cut], name="t.log.gz", block_size=1 << 16)
        assert "truncated" in str(err.value)
        assert "t.log.gz" in str(err.value)


def test_corrupt_gzip_fails_the_file():
    data = bytearray(big_file())
    middle = len(data) // 2
    data[middle : middle + 8] = b"\x00\xff\x13\x37\x00\xff\x13\x37"
    with pytest.raises(FlowLogCorruptError) as err:
        read_flow_log(bytes(data), name="c.log.gz", block_size=1 << 16)
    assert "gzip" in str(err.value)


def test_not_gzip_at_all():
    with pytest.raises(FlowLogCorruptError):
        read_flow_log(b"this is not gzip", name="x.log.gz")


def test_wrong_number_of_columns_names_the_line():
    lines = [" ".join(MANDATORY_ORDER)] + [RECORDS[0]] * 20_000
    lines[12_345] = RECORDS[0] + " extra"  # physical line 12,346 (the header is line 1)
    with pytest.raises(FlowLogCorruptError) as err:
        read_flow_log(gz("\n".join(lines) + "\n"), name="bad.log.gz", block_size=1 << 16)
    exc = err.value
    assert exc.line == 12_346
    assert "line 12346" in str(exc) and "bad.log.gz" in str(exc)
    assert "expected 17 fields, got 18" in str(exc)


def test_untyped_value_names_the_field_and_line():
    rows = as_dicts()
    rows[2]["srcport"] = "http"
    with pytest.raises(FlowLogCorruptError) as err:
        read_flow_log(flow_file(MANDATORY_ORDER, rows))
    assert err.value.line == 4
    assert "srcport" in str(err.value) and "'http'" in str(err.value)


def test_streams_in_batches_without_reading_everything():
    with open_flow_log(big_file(50_000), block_size=1 << 16) as reader:
        sizes = [b.num_rows for b in reader]
    assert sum(sizes) == 50_000 and len(sizes) > 5


def test_file_objects_and_paths(tmp_path):
    data = flow_file(MANDATORY_ORDER, as_dicts())
    assert read_flow_log(io.BytesIO(data)).num_rows == 5
    path = tmp_path / "f.log.gz"
    path.write_bytes(data)
    assert read_flow_log(str(path)).num_rows == 5
    assert read_flow_log(pa.BufferReader(data)).num_rows == 5


def parquet_delivery(tmp_path, columns: list[str]):
    """A file shaped like AWS's Parquet delivery: underscores, INT_32/INT_64, epoch seconds."""
    rows = as_dicts()
    types = {
        "version": pa.int32(),
        "srcport": pa.int32(),
        "dstport": pa.int32(),
        "protocol": pa.int32(),
        "tcp_flags": pa.int32(),
        "traffic_path": pa.int32(),
        "packets": pa.int64(),
        "bytes": pa.int64(),
        "start": pa.int64(),
        "end": pa.int64(),
    }
    data = {}
    for column in columns:
        values = [r[F.to_field_name(column)] for r in rows]
        values = [None if v == "-" else v for v in values]
        t = types.get(column, pa.string())
        data[column] = pa.array(
            [None if v is None else (int(v) if t != pa.string() else v) for v in values], t
        )
    path = tmp_path / "x_20260101T0000Z_abc.log.parquet"
    pq.write_table(pa.table(data), path, compression="gzip")
    return path


def test_parquet_delivery_gives_the_same_typed_table(tmp_path):
    columns = [F.to_column(f) for f in MANDATORY_ORDER]
    path = parquet_delivery(tmp_path, columns)
    from_parquet = read_flow_log(path)
    from_text = read_flow_log(flow_file(MANDATORY_ORDER, as_dicts()))
    assert from_parquet.schema == from_text.schema
    assert from_parquet.to_pylist() == from_text.to_pylist()


def test_parquet_delivery_missing_fields(tmp_path):
    columns = [F.to_column(f) for f in MANDATORY_ORDER if f not in ("tcp-flags", "traffic-path")]
    path = parquet_delivery(tmp_path, columns)
    assert check_source(path) == ["tcp-flags", "traffic-path"]
    with pytest.raises(FlowLogFormatError):
        open_flow_log(path)


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "broken.log.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 100)
    with pytest.raises(FlowLogCorruptError):
        read_flow_log(path)


def test_registry_facts():
    assert len(F.MANDATORY_FIELDS) == 17
    assert set(F.MANDATORY_FIELDS) == set(MANDATORY_ORDER)
    domains = F.value_domains()
    assert domains["action"]["allowed"] == ["ACCEPT", "REJECT"]
    assert domains["traffic_path"] == {**domains["traffic_path"], "min": 1, "max": 8}
    assert domains["log_status"]["null_on_nodata"] is False
    assert F.parse_log_format(F.log_format(MANDATORY_ORDER)) == MANDATORY_ORDER
