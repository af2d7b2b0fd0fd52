"""The run's AWS sessions on a real moto server: one AssumeRole per role per run, one client per
role/region/service, every request and throttle counted per API; and the collector's own
failures (no credentials, unreachable endpoint, expired or invalid session) named as such, with
the operator's fix, apart from a customer's role that cannot be assumed."""

from __future__ import annotations

import importlib.util
import socket
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botocore.config import Config
from warehouse_calls import in_transaction

from cloudinsights_dagster import aws, catalog
from cloudinsights_dagster.integration_logs import LogFilter, query_logs
from cloudinsights_dagster.inventory.monitor import snapshot_locations
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.status import FIX_TRUST, compute_status

_spec = importlib.util.spec_from_file_location(
    "inventory_fault_proxy", Path(__file__).with_name("test_inventory_collect.py")
)
_faults = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_faults)
FaultProxy, THROTTLED = _faults.FaultProxy, _faults.THROTTLED

A, B = "111122223333", "444455556666"
ROLE_A = f"arn:aws:iam::{A}:role/ci-inventory"
ROLE_B = f"arn:aws:iam::{B}:role/ci-inventory"
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FEW_RETRIES = Config(retries={"total_max_attempts": 2, "mode": "standard"}, connect_timeout=2)
SERVICES = sorted({rt.service for rt in catalog.RESOURCE_TYPES.values()})


@pytest.fixture
def registry(tmp_path):
    reg = Registry(f"sqlite:///{tmp_path / 'warehouse.db'}")
    reg.add_inventory("g1", "inv-a", ROLE_A, ["us-east-1", "eu-west-1"])
    reg.add_inventory("g1", "inv-b", ROLE_B, ["us-east-1"])
    return reg


def keys_of(registry):
    return sorted(loc.key for loc in registry.locations())


def status_by_name(registry, now):
    return {
        v.integration.name: v
        for v in in_transaction(registry.database_url, compute_status, registry, now, "g1")
    }


def test_one_assume_role_per_role_and_every_request_counted(registry, moto_endpoint, monkeypatch):
    with FaultProxy(moto_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)  # the server counts what it sees
        sessions = aws.CollectorSessions(stats=aws.ApiStats(), budgets=aws.RateBudgets())
        reports = snapshot_locations(registry, keys_of(registry), T0, sessions)
    assert [r.error for r in reports] == [None, None, None]
    assert sessions.assume_role_calls == 2  # two roles, three locations
    assert proxy.seen["AssumeRole"] == 2
    # One STS client, then one client per role, region and service: nothing per location call.
    assert sessions.clients_created == 1 + 3 * len(SERVICES)
    # Our counts agree with what the server saw, per location and in total.
    seen_without_sts = sum(proxy.seen.values()) - proxy.seen["AssumeRole"]
    assert sum(r.api_requests for r in reports) == sessions.stats.total_requests == seen_without_sts
    for report in reports:
        assert report.api_requests >= len(catalog.RESOURCE_TYPES)  # every API at least once
        assert not report.api_throttles
    by_api = {k.api for k in sessions.stats.requests}
    assert {"ec2:DescribeVpcs", "elasticloadbalancing:DescribeLoadBalancers"} <= by_api


def test_throttles_are_counted_per_api_and_logged(registry, moto_endpoint, monkeypatch):
    with FaultProxy(moto_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        proxy.faults["DescribeVpcs"] = [THROTTLED, THROTTLED]
        sessions = aws.CollectorSessions(stats=aws.ApiStats(), budgets=aws.RateBudgets())
        reports = snapshot_locations(registry, [f"{B}-us-east-1"], T0, sessions)
    (report,) = reports
    assert report.result.completeness == "complete"  # retried with backoff until it answered
    assert dict(report.api_throttles) == {"ec2:DescribeVpcs": 2}
    assert sessions.stats.total_throttles == 2
    (entry,) = in_transaction(
        registry.database_url, query_logs, LogFilter("g1", category="throttling")
    )
    assert entry["severity"] == "warning" and entry["integration"] == "inv-b"
    assert "throttled 2 of" in entry["message"] and "ec2:DescribeVpcs x2" in entry["message"]
    assert entry["details"]["throttles"] == {"ec2:DescribeVpcs": 2}


def _assert_collector_problem(registry, reports, kind: str, fix_words: str) -> None:
    assert {r.collector_problem.kind for r in reports} == {kind}
    assert all(r.result.completeness == "failed" and not r.result.records for r in reports)
    logs = in_transaction(registry.database_url, query_logs, LogFilter("g1", category="collector"))
    assert {e["integration"] for e in logs} == {"inv-a", "inv-b"}
    assert all(e["details"]["problem"] == kind for e in logs)
    assert not in_transaction(
        registry.database_url, query_logs, LogFilter("g1", category="assumeRole")
    )
    for view in status_by_name(registry, datetime.now(UTC)).values():
        assert view.status == "failed"
        assert "not a problem of the customer's role" in view.reasons[0]
        assert fix_words in view.fix and view.fix != FIX_TRUST
        assert "trust policy" not in view.fix


def test_no_credentials_is_the_collectors_problem(registry, moto_endpoint, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    sessions = aws.CollectorSessions(config=FEW_RETRIES)
    reports = snapshot_locations(registry, keys_of(registry), T0, sessions)
    assert "NoCredentialsError" in reports[0].assume_role_error
    _assert_collector_problem(registry, reports, "no_credentials", "AWS credentials")


def test_unreachable_endpoint_is_the_collectors_problem(registry, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    sessions = aws.CollectorSessions(config=FEW_RETRIES)
    reports = snapshot_locations(registry, keys_of(registry), T0, sessions)
    assert "Could not connect to the endpoint URL" in reports[0].assume_role_error
    # Found once, it answers for every other role: no second wait on a dead endpoint.
    assert sessions.assume_role_calls == 1
    _assert_collector_problem(registry, reports, "endpoint_unreachable", "AWS_ENDPOINT_URL")


class StsErrors:
    """A local STS that answers every request with one error, as real STS words it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
            f"<Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>local</RequestId></ErrorResponse>"
        ).encode()
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests += 1
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("status", "code", "message", "kind", "fix_words"),
    [
        (
            400,
            "ExpiredToken",
            "The security token included in the request is expired",
            "session_expired",
            "renew the collector's credentials",
        ),
        (
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
            "invalid_client_token",
            "access key",
        ),
    ],
)
def test_expired_or_invalid_collector_session(
    registry, monkeypatch, status, code, message, kind, fix_words
):
    sts = StsErrors(status, code, message)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", sts.url)
        sessions = aws.CollectorSessions(config=FEW_RETRIES)
        reports = snapshot_locations(registry, keys_of(registry), T0, sessions)
    finally:
        sts.close()
    assert code in reports[0].assume_role_error
    assert sts.requests == 1  # the first answer settles it for the run
    _assert_collector_problem(registry, reports, kind, fix_words)


def test_a_role_that_cannot_be_assumed_is_the_customers_problem(registry, monkeypatch):
    sts = StsErrors(
        403, "AccessDenied", f"User is not authorized to perform: sts:AssumeRole on {ROLE_A}"
    )
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", sts.url)
        sessions = aws.CollectorSessions(config=FEW_RETRIES)
        reports = snapshot_locations(registry, keys_of(registry), T0, sessions)
    finally:
        sts.close()
    assert all(r.collector_problem is None and r.assume_role_error for r in reports)
    assert sessions.assume_role_calls == 2  # each role is tried once: one role's trust is its own
    assert not in_transaction(
        registry.database_url, query_logs, LogFilter("g1", category="collector")
    )
    assert in_transaction(registry.database_url, query_logs, LogFilter("g1", category="assumeRole"))
    for view in status_by_name(registry, datetime.now(UTC)).values():
        assert view.status == "failed" and "the role cannot be assumed" in view.reasons[0]
        assert view.fix == FIX_TRUST


def test_collector_problem_classification():
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    assert aws.collector_problem(NoCredentialsError()) is aws.NO_CREDENTIALS
    assert (
        aws.collector_problem(EndpointConnectionError(endpoint_url="x")) is aws.ENDPOINT_UNREACHABLE
    )
    expired = ClientError({"Error": {"Code": "ExpiredToken", "Message": "m"}}, "AssumeRole")
    assert aws.collector_problem(expired) is aws.SESSION_EXPIRED
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "m"}}, "AssumeRole")
    assert aws.collector_problem(denied) is None
    assert aws.collector_problem_in_text("AssumeRole x: AccessDenied: no") is None
    assert (
        aws.collector_problem_in_text("NoCredentialsError: Unable to locate credentials")
        is aws.NO_CREDENTIALS
    )


def test_integration_test_names_the_collectors_own_problem(moto_endpoint, monkeypatch, tmp_path):
    """`cloudinsights integrations test`: a collector without credentials is not told to fix
    the customer's trust policy."""
    from cloudinsights_dagster.trust import check_trust_relationship

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    check = check_trust_relationship(ROLE_A, "ext-id-123456")
    assert not check.ok
    assert "the collector has no AWS credentials" in check.message
    assert "aws sts get-caller-identity" in check.message
    assert "trust policy" not in check.message
