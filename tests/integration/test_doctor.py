"""`cloudinsights doctor` and the parser's fast-path warning, run as users run them (a real
process), on a real install and on a copy of the package whose C extension was never built."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = sorted((ROOT / "cloudinsights_dagster" / "flowlogs").glob("_fastparse*.so"))
HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status flow-direction traffic-path tcp-flags vpc-id az-id\n"
)
RECORD = (
    "5 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.5 52.95.110.1 49152 443 6 10 8400 "
    "1767225600 1767225660 ACCEPT OK egress 2 19 vpc-0abc use1-az1\n"
)


def run_cli(args, env, cwd):
    return subprocess.run(
        [sys.executable, "-m", "cloudinsights_dagster.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDINSIGHTS_", "AWS_"))}
    env.update(CLOUDINSIGHTS_HOME=str(tmp_path / "home"), DAGSTER_HOME=str(tmp_path / "dagster"))
    env.update(extra)
    return env


def by_check(stdout: str) -> dict[str, dict]:
    return {finding["check"]: finding for finding in json.loads(stdout)}


def test_doctor_on_a_working_install(tmp_path):
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = run_cli(["doctor", "--json"], clean_env(tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    findings = by_check(result.stdout)
    assert {f["level"] for f in findings.values()} == {"ok"}
    assert findings["parser fast path"]["detail"] == "built and in use"
    assert "not created yet" in findings["warehouse"]["detail"]


def test_doctor_fails_on_an_unreachable_warehouse_without_showing_the_password(tmp_path):
    url = "postgresql+psycopg2://root:s3cret-pw@127.0.0.1:9/nowhere"  # port 9: nothing listens
    result = run_cli(["doctor"], clean_env(tmp_path, CLOUDINSIGHTS_DATABASE_URL=url), tmp_path)
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if "warehouse" in x)
    assert line.startswith("error") and "cannot connect to" in line and "127.0.0.1:9" in line
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert "DAGSTER_HOME" not in line


@pytest.fixture
def unbuilt_install(tmp_path) -> Path:
    """The package as an install without a C compiler leaves it: no extension module."""
    copy = tmp_path / "unbuilt"
    shutil.copytree(
        ROOT / "cloudinsights_dagster",
        copy / "cloudinsights_dagster",
        ignore=shutil.ignore_patterns("*.so", "__pycache__"),
    )
    return copy


def test_an_unbuilt_fast_path_is_reported_not_silent(tmp_path, unbuilt_install):
    env = clean_env(tmp_path, PYTHONPATH=str(unbuilt_install))
    result = run_cli(["doctor", "--json"], env, unbuilt_install)
    assert result.returncode == 0, result.stderr  # a warning: everything still works
    finding = by_check(result.stdout)["parser fast path"]
    assert finding["level"] == "warning"
    assert "not built" in finding["detail"] and "make setup" in finding["detail"]

    log = tmp_path / "flows.log"
    log.write_text(HEADER + RECORD)
    checked = run_cli(["flowlogs", "check", str(log)], env, unbuilt_install)
    assert checked.returncode == 0
    assert ": ok: all " in checked.stdout, checked.stderr
    assert checked.stderr.startswith("warning: the flow-log parser's C fast path is not built")

    built = run_cli(["flowlogs", "check", str(log)], clean_env(tmp_path), tmp_path)
    assert built.returncode == 0 and built.stderr == ""


# The C library functions the fast path may call: ISO C's, which every libc has (no glibc or BSD
# extensions such as memrchr), besides the Python C API.
ISO_C = {"calloc", "free", "malloc", "realloc", "memchr", "memcmp", "memcpy", "memmove", "memset"}
ISO_C |= {"strchr", "strlen", "strcmp", "strncmp", "abort"}


@pytest.mark.skipif(shutil.which("nm") is None, reason="nm (binutils) is not installed")
def test_the_fast_path_calls_only_iso_c_and_python():
    if not EXTENSION:
        if os.environ.get("CI"):
            pytest.fail("the parser's C fast path is not built (setup.py, make setup)")
        pytest.skip("the parser's C fast path is not built")
    listing = subprocess.run(
        ["nm", "-D", "--undefined-only", str(EXTENSION[0])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    called = set()
    for row in listing.splitlines():
        kind, symbol = row.split()[-2:]
        if kind == "U":
            called.add(symbol.split("@")[0])
    assert called, listing
    foreign = {s for s in called if not s.startswith(("Py", "_Py")) and s not in ISO_C}
    # Compilers may emit their own helpers (e.g. __stack_chk_fail with -fstack-protector).
    foreign = {s for s in foreign if not s.startswith("__")}
    assert foreign == set(), f"the fast path calls non-ISO C functions: {sorted(foreign)}"
