"""The table's encoding: parsed batches regrouped into sorted row groups (the same rows), one row
group each in the file, a source_object column; and the table's paths."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from flowlog_samples import Eni, flow_log_gzip, sample_records

from cloudinsights_dagster.flowlogs import encoding, writer
from cloudinsights_dagster.flowlogs.enrich import EniIndex
from cloudinsights_dagster.flowlogs.table import is_compacted, object_file, partition_dir

ACCOUNT = "111122223333"
ENIS = [
    Eni(f"eni-{c}", f"10.0.0.{i + 10}", "vpc-1", "subnet-1", f"i-{c}") for i, c in enumerate("dcba")
]


def _inventory() -> pa.Table:
    return pa.table(
        {
            "interface_id": [e.interface_id for e in ENIS],
            "instance_id": [e.instance_id for e in ENIS],
            "subnet_id": ["subnet-1"] * 4,
            "vpc_id": ["vpc-1"] * 4,
            "security_group_ids": [["sg-1"]] * 4,
            "availability_zone": ["us-east-1a"] * 4,
            "owner_account_id": [ACCOUNT] * 4,
            "name": [None] * 4,
            "private_ips": [[e.private_ip] for e in ENIS],
            "public_ips": [[]] * 4,
        }
    )


def _batch(rows: list[tuple[str | None, str | None, int]]) -> pa.RecordBatch:
    eni, direction, start = zip(*rows, strict=True)
    return pa.RecordBatch.from_pydict(
        {
            "interface_id": pa.array(eni).dictionary_encode(),
            "flow_direction": pa.array(direction).dictionary_encode(),
            "start": pa.array(start, pa.timestamp("s", tz="UTC")),
            "bytes": pa.array(range(len(rows)), pa.int64()),
        }
    )


def _plain(table: pa.Table) -> list[tuple]:
    return sorted(
        (r["interface_id"] or "", r["flow_direction"] or "", r["start"], r["bytes"])
        for r in table.to_pylist()
    )


def test_batches_are_regrouped_and_sorted_without_losing_a_row():
    # Each batch has its own dictionaries (in another order), like the parser's chunks.
    a = _batch([("eni-b", "egress", 30), ("eni-a", "ingress", 20), ("eni-b", "ingress", 10)])
    b = _batch([("eni-a", "egress", 5), (None, None, 7), ("eni-c", "egress", 1)])
    c = _batch([("eni-a", "ingress", 1)])
    groups = list(encoding.sorted_row_groups([a, b, c], rows=4))
    assert [g.num_rows for g in groups] == [6, 1]  # a group closes once it reaches 4 rows
    first = groups[0].to_pylist()
    keys = [(r["interface_id"] or "", r["flow_direction"] or "", r["start"]) for r in first]
    assert keys == sorted(keys)
    assert first[0]["interface_id"] is None  # nulls first
    assert _plain(pa.Table.from_batches(groups)) == _plain(pa.Table.from_batches([a, b, c]))


def test_small_sort_keys_are_radix_sorted_exactly_as_a_stable_lexsort():
    rng = np.random.default_rng(7)
    for spans in [(5001, 3, 600), (2, 70_000), (1, 1), (300, 300, 2)]:
        keys = [rng.integers(0, s, 5000) + 17 for s in spans]
        assert encoding.lex_order(keys).tolist() == np.lexsort(keys[::-1]).tolist()


def test_sort_keys_that_do_not_fit_one_integer_fall_back_to_lexsort():
    low, high = -(2**62), 2**62
    keys = [
        encoding.sort_key(pa.array([2, 1, 1, 2])),
        encoding.sort_key(pa.array([low, high, low, 0])),
    ]
    assert encoding.lex_order(keys).tolist() == [2, 1, 0, 3]


def test_an_object_file_is_sorted_row_groups_with_its_source(tmp_path):
    rows = sample_records(ACCOUNT, ENIS, 1_767_225_600, 3000, seed=5)
    index = EniIndex(_inventory(), [ACCOUNT])
    out = str(tmp_path / "o.parquet")
    result = writer.process_object(
        flow_log_gzip(rows), out, index, (), name="s3://b/k.log.gz", block_size=40_000
    )
    assert result.records_loaded == 3000
    meta = pq.ParquetFile(out).metadata
    # Many ~40 kB parse chunks, one row group (under ROW_GROUP_ROWS rows).
    assert meta.num_row_groups == 1
    table = pq.read_table(out)
    assert table["source_object"].unique().to_pylist() == ["s3://b/k.log.gz"]
    enis = table["interface_id"].to_pylist()
    assert enis == sorted(enis)
    columns = {
        meta.row_group(0).column(i).path_in_schema: meta.row_group(0).column(i)
        for i in range(meta.num_columns)
    }
    assert columns["srcaddr"].compression == "ZSTD"
    assert "DELTA_BINARY_PACKED" in columns["bytes"].encodings
    assert "RLE_DICTIONARY" in columns["start"].encodings


def test_object_files_are_partitioned_deterministic_and_safe():
    key = "AWSLogs/1/vpcflowlogs/us-east-1/2026/01/01/1_vpcflowlogs_x_20260101T0005Z_ab.log.gz"
    path = object_file("/data/flows/", "2026-01-01", "1-us-east-1", 7, "bucket", key)
    assert path == object_file("/data/flows", "2026-01-01", "1-us-east-1", 7, "bucket", key)
    assert path.startswith(partition_dir("/data/flows", "2026-01-01", "1-us-east-1") + "/7-")
    assert path.startswith("/data/flows/flow_records/day=2026-01-01/location=1-us-east-1/")
    assert object_file("/d", "2026-01-01", "1-us-east-1", 7, "other", key) != path
    odd = object_file("s3://out/p", "2026-01-01", "1-us-east-1", 7, "b", "../../a b.log.gz")
    assert odd.startswith("s3://out/p/flow_records/") and " " not in odd and "/../" not in odd
    assert not is_compacted(path)


def test_enrichment_filters_and_sorts_in_one_gather():
    from cloudinsights_dagster.flowlogs.enrich import enrich_batch
    from cloudinsights_dagster.flowlogs.parse import open_flow_log

    rows = sample_records(ACCOUNT, ENIS, 1_767_225_600, 400, seed=3)
    rows += sample_records("999999999999", ENIS, 1_767_225_600, 100, seed=4)  # not monitored
    with open_flow_log(flow_log_gzip(rows)) as reader:
        (batch,) = list(encoding.regroup(reader))
    index = EniIndex(_inventory(), [ACCOUNT])
    plain = enrich_batch(batch, index)
    ordered = enrich_batch(batch, index, sort_by=encoding.SORT_COLUMNS)
    assert ordered.records_filtered == plain.records_filtered == 100
    assert ordered.batch.num_rows == 400
    keys = [
        (r["interface_id"], r["flow_direction"] or "", r["start"])
        for r in ordered.batch.to_pylist()
    ]
    assert keys == sorted(keys)

    def canonical(b):
        return sorted(map(repr, pa.Table.from_batches([b]).to_pylist()))

    assert canonical(ordered.batch) == canonical(plain.batch)
