"""The quality suite evaluated two ways: in Arrow, batch by batch (the run's blocking check), and
by Great Expectations (the nightly check). Same records, same verdicts and counts."""

from __future__ import annotations

import pytest
from flowlog_samples import Eni, flow_log_gzip, sample_records

from cloudinsights_dagster.flowlogs.parse import read_flow_log
from cloudinsights_dagster.flowlogs.quality import (
    QualityAccumulator,
    check_records,
    validate_records,
)

ENIS = [Eni(f"eni-{i:04x}", f"10.0.0.{i}", "vpc-1", "subnet-1", f"i-{i:04x}") for i in range(4)]


def _records(broken: dict[str, str] | None = None, rows: int = 300):
    records = sample_records("111122223333", ENIS, 1_777_000_000, rows, seed=3)
    ok = [r for r in records if r["log-status"] == "OK"]
    for row in ok[:7]:
        row.update(broken or {})
    return read_flow_log(flow_log_gzip(records))


def _counts(lines: list[str]) -> dict[str, str]:
    """expectation (name and column) -> unexpected count, from either evaluator's lines."""
    found = {}
    for line in lines:
        head, _, tail = line.partition(": ")
        found[head.split(" ")[0] + head[head.find("'column") :].split(",")[0]] = tail.split(" ")[0]
    return found


@pytest.mark.parametrize(
    "broken",
    [None, {"dstport": "70000"}, {"traffic-path": "9"}, {"action": "MAYBE"}, {"protocol": "300"}],
    ids=["clean", "port", "traffic-path", "action", "protocol"],
)
def test_arrow_and_great_expectations_agree(broken):
    table = _records(broken)
    arrow, gx = check_records(table), validate_records(table)
    assert arrow.passed == gx.passed == (broken is None)
    assert arrow.records == gx.records == table.num_rows
    assert _counts(arrow.failed) == _counts(gx.failed)
    if broken:
        assert "7 unexpected" in arrow.failed[0]


def test_batches_add_up_to_the_whole_table():
    table = _records({"dstport": "70000"}, rows=2000)
    accumulator = QualityAccumulator()
    for batch in table.to_batches(max_chunksize=256):
        accumulator.add(batch)
    whole, batched = check_records(table), accumulator.result()
    assert batched.records == whole.records
    assert batched.failed == whole.failed and not batched.passed


def test_a_missing_mandatory_column_fails():
    table = _records().drop_columns(["tcp_flags"])
    result = check_records(table)
    assert not result.passed
    assert any("tcp_flags" in line and "missing" in line for line in result.failed)
