"""Shared fixtures: a real moto server on 127.0.0.1 and warehouses on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import boto3
import pytest
import requests
from botocore.config import Config
from moto.server import ThreadedMotoServer

# No test may reach real AWS: fake credentials and a fixed region for every boto3 client.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)
# The tests' flow logs are of 2026; the partitions are built when the code location loads.
os.environ.setdefault("CLOUDINSIGHTS_FLOWLOGS_START_DATE", "2026-01-01")

POSTGRES_ADMIN_URL = os.environ.get(
    "CLOUDINSIGHTS_TEST_POSTGRES_URL", "postgresql+psycopg2://root@127.0.0.1:5432/test"
)

FAST_FAIL = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on a free port of 127.0.0.1; yields its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    yield endpoint
    server.stop()


@pytest.fixture
def moto_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A freshly reset moto server, with AWS_ENDPOINT_URL pointing every boto3 client at it."""
    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    yield moto_server
    # Leave IAM enforcement off for the next test whatever this one did.
    requests.post(f"{moto_server}/moto-api/reset-auth", data=b"inf", timeout=10)
    requests.post(f"{moto_server}/moto-api/reset", timeout=10)


@pytest.fixture
def aws_client(moto_endpoint: str):
    """Factory for boto3 clients on the moto server (no retries, so 500s fail fast)."""

    def make(service: str, region: str = "us-east-1", **credentials):
        return boto3.client(
            service, region_name=region, endpoint_url=moto_endpoint, config=FAST_FAIL, **credentials
        )

    return make


def _postgres_reachable() -> bool:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(POSTGRES_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh, empty warehouse URL: SQLite in a temp folder, or a new schema on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.db'}"
        return
    if not _postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but {POSTGRES_ADMIN_URL} is not reachable")
        pytest.skip(f"SKIPPED LOUDLY: no PostgreSQL at {POSTGRES_ADMIN_URL}")
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    # search_path through libpq options: every connection of the warehouse lands in the new schema.
    yield f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def fast_moto_server() -> Iterator[str]:
    """A moto server for deep queues, in its own process: bench/moto_server.py, whose SQS reads
    the clock and the retention period in constant time per message. Yields its endpoint URL;
    not reset between tests (make a queue of your own)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "moto_server.py"
    spec = importlib.util.spec_from_file_location("cloudinsights_bench_moto_server", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with module.launch() as endpoint:
        yield endpoint


@pytest.fixture
def fast_moto_endpoint(fast_moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`moto_endpoint` on the fast, thread-safe server: for tests whose sensor ticks take more
    than one SQS batch (the sensor receives and deletes in parallel; plain moto races then)."""
    requests.post(f"{fast_moto_server}/moto-api/reset", timeout=10)
    monkeypatch.setenv("AWS_ENDPOINT_URL", fast_moto_server)
    yield fast_moto_server
    requests.post(f"{fast_moto_server}/moto-api/reset", timeout=10)


@pytest.fixture(autouse=True)
def no_leaked_dagster_context() -> Iterator[None]:
    """A Dagster instance entered and never closed (a `build_*_context` used without `with`)
    leaves its definitions-state storage current for the whole worker; once that instance is
    collected, any later `Definitions` load in the worker fails with "undefined DagsterInstance
    weakref". Fail the test that leaks, not a later one that happens to share the worker."""
    from dagster._core.storage.defs_state import base

    before = base._current_storage.get()
    yield
    after = base._current_storage.get()
    if after is not before:
        base._current_storage.set(before)
        pytest.fail(
            "this test left a Dagster instance entered: use `with dg.build_sensor_context(...)` / "
            "`with dg.build_schedule_context(...)` / `with dg.DagsterInstance.get()`",
            pytrace=False,
        )
