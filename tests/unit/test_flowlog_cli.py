"""`flowlogs check` and `flowlogs parse`: messages and exit codes (0 ok, 1 bad file, 2 usage)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cloudinsights_dagster.flowlogs.cli import flowlogs
from cloudinsights_dagster.settings import ARROW_POOL_ENV

FULL = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status flow-direction traffic-path tcp-flags vpc-id"
)
ROW = (
    "5 123456789012 eni-0a1b 10.0.1.5 52.95.110.1 49152 443 6 10 8400 1767225600 1767225660 "
    "ACCEPT OK egress 2 19 vpc-0a"
)
V2 = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status"
)
V2_ROW = "2 123456789012 eni-0a1b 10.0.1.5 52.95.110.1 49152 443 6 10 8400 1767225600 1767225660 ACCEPT OK"


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()))
    return str(path)


def run(*args: str):
    return CliRunner().invoke(flowlogs, list(args))


def test_check_ok(tmp_path):
    path = write(tmp_path, "ok.log.gz", f"{FULL}\n{ROW}\n")
    result = run("check", path)
    assert result.exit_code == 0, result.output
    assert "ok: all 17 mandatory fields present" in result.output
    assert "vpc-id" in result.output


def test_check_missing_fields(tmp_path):
    path = write(tmp_path, "v2.log.gz", f"{V2}\n{V2_ROW}\n")
    result = run("check", path)
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert path in message
    assert "flow-direction, tcp-flags, traffic-path" in message
    assert "recreated with a custom format" in message
    assert "cannot edit" in message


def test_check_corrupt_and_empty(tmp_path):
    corrupt = tmp_path / "c.log.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00garbage-garbage-garbage")
    result = run("check", str(corrupt))
    assert result.exit_code == 1 and "gzip" in result.stderr
    empty = tmp_path / "e.log.gz"
    empty.write_bytes(gzip.compress(b""))
    result = run("check", str(empty))
    assert result.exit_code == 0 and "empty" in result.output


def test_usage_errors():
    assert run("check").exit_code == 2
    assert run("check", "/no/such/file.log.gz").exit_code == 2
    assert run("parse", "x.log.gz").exit_code == 2  # --out is required
    assert run("check", "s3://bucket-only").exit_code == 2


def test_parse_writes_the_typed_table(tmp_path):
    path = write(tmp_path, "ok.log.gz", f"{FULL}\n{ROW}\n{ROW}\n")
    out = tmp_path / "out" / "t.parquet"
    result = run("parse", path, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "2 records" in result.output
    table = pq.read_table(out)
    assert table.num_rows == 2
    assert table.schema.field("dstport").type == pa.int32()
    assert table.schema.field("start").type.tz == "UTC"
    assert table.column("vpc_id").to_pylist() == ["vpc-0a", "vpc-0a"]
    assert "eni_vpc_id" not in table.column_names  # no enrichment


def test_parse_refuses_bad_files_and_writes_nothing(tmp_path):
    out = tmp_path / "o.parquet"
    result = run("parse", write(tmp_path, "v2.log.gz", f"{V2}\n{V2_ROW}\n"), "--out", str(out))
    assert result.exit_code == 1 and "tcp-flags" in result.stderr
    bad_row = write(tmp_path, "b.log.gz", f"{FULL}\n{ROW}\n{ROW} extra\n")
    result = run("parse", bad_row, "--out", str(out))
    assert result.exit_code == 1 and "line 3" in result.stderr
    assert not out.exists()
    assert list(tmp_path.glob("*.tmp")) == [] and list(tmp_path.glob(".*")) == []


def test_check_s3_object(moto_endpoint, aws_client, tmp_path):
    s3 = aws_client("s3")
    s3.create_bucket(Bucket="logs")
    s3.put_object(
        Bucket="logs", Key="AWSLogs/ok.log.gz", Body=gzip.compress(f"{FULL}\n{ROW}\n".encode())
    )
    s3.put_object(Bucket="logs", Key="AWSLogs/v2.log.gz", Body=gzip.compress(f"{V2}\n".encode()))
    assert run("check", "s3://logs/AWSLogs/ok.log.gz").exit_code == 0
    result = run("check", "s3://logs/AWSLogs/v2.log.gz")
    assert result.exit_code == 1 and "s3://logs/AWSLogs/v2.log.gz" in result.stderr
    missing = run("check", "s3://logs/AWSLogs/nope.log.gz")
    assert missing.exit_code == 1 and "NoSuchKey" in missing.stderr
    out = tmp_path / "s3.parquet"
    assert run("parse", "s3://logs/AWSLogs/ok.log.gz", "--out", str(out)).exit_code == 0
    assert pq.read_table(out).num_rows == 1


def test_runs_as_a_module(tmp_path):
    path = write(tmp_path, "v2.log.gz", f"{V2}\n{V2_ROW}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "cloudinsights_dagster.flowlogs.cli", "check", path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "traffic-path" in proc.stderr and proc.stdout == ""


def test_cli_module_imports_stay_cheap():
    code = (
        "import sys, cloudinsights_dagster.flowlogs.cli; "
        "print(','.join(m for m in ('pandas', 'boto3', 'dagster', 'numpy') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def _pool_after_parse(tmp_path, env: dict[str, str]) -> str:
    path = write(tmp_path, "ok.log.gz", f"{FULL}\n{ROW}\n")
    code = (
        "import sys, pyarrow as pa; from cloudinsights_dagster.flowlogs.writer import write_parsed; "
        "write_parsed(sys.argv[1], sys.argv[2]); print(pa.default_memory_pool().backend_name)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, path, str(tmp_path / "out.parquet")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_the_pipeline_allocates_from_jemalloc_unless_arrow_is_told_otherwise(tmp_path):
    if "jemalloc" not in pa.supported_memory_backends():
        pytest.skip("this pyarrow has no jemalloc")
    env = {k: v for k, v in os.environ.items() if k != ARROW_POOL_ENV}
    assert _pool_after_parse(tmp_path, env) == "jemalloc"
    # Arrow's own variable is the operator's choice: the pipeline leaves the pool as Arrow made it.
    assert _pool_after_parse(tmp_path, {**env, ARROW_POOL_ENV: "system"}) == "system"
