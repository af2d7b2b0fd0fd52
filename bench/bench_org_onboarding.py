"""Benchmark: onboarding an AWS Organization of N accounts (a moto server organization) into a
warehouse, then re-running it (nothing new) and after closing 2% of the accounts.

    python bench/bench_org_onboarding.py [--accounts 1000] [--database-url ...]

Counts every SQL statement the warehouse engine executes (a SQLAlchemy cursor event) and the
wall time of each phase: discovery (Organizations API), plan (registry reads) and apply (one
transaction). Regions are given (`--region` in the CLI), so no DescribeRegions is called.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from cloudinsights_dagster import organizations as orgs  # noqa: E402
from cloudinsights_dagster.registry import Registry  # noqa: E402
from cloudinsights_dagster.warehouse.db import get_engine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    for key, value in (("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "x")):
        os.environ.setdefault(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    client = boto3.client("organizations", region_name="us-east-1")
    client.create_organization(FeatureSet="ALL")
    start = time.perf_counter()
    ids = [
        client.create_account(AccountName=f"Workload {i}", Email=f"w{i}@example.com")[
            "CreateAccountStatus"
        ]["AccountId"]
        for i in range(args.accounts - 1)
    ]
    setup_s = time.perf_counter() - start

    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/warehouse.db"
    registry = Registry(url)
    registry.external_id("g")  # migrate and create the group outside the measurement
    statements = {"n": 0}
    sa.event.listen(
        get_engine(url),
        "before_cursor_execute",
        lambda *a, **k: statements.__setitem__("n", statements["n"] + 1),
    )

    def phase(label: str) -> dict:
        statements["n"] = 0
        t0 = time.perf_counter()
        organization = orgs.discover_organization(orgs.organizations_client())
        t1 = time.perf_counter()
        plan = orgs.plan_onboarding(
            registry,
            "g",
            organization,
            "cloudinsights-inventory",
            regions=["us-east-1", "eu-west-1"],
        )
        t2 = time.perf_counter()
        orgs.apply_onboarding(registry, plan)
        t3 = time.perf_counter()
        return {
            "phase": label,
            "counts": plan.counts(),
            "discover_s": round(t1 - t0, 3),
            "plan_s": round(t2 - t1, 3),
            "apply_s": round(t3 - t2, 3),
            "total_s": round(t3 - t0, 3),
            "sql_statements": statements["n"],
        }

    results = [phase("first onboarding"), phase("re-run, nothing new")]
    for account_id in ids[: max(1, args.accounts // 50)]:
        client.close_account(AccountId=account_id)
    results.append(phase("after closing 2%"))
    statements["n"] = 0
    t0 = time.perf_counter()
    locations = len(registry.locations())
    results.append(
        {
            "phase": "Registry.locations()",
            "locations": locations,
            "s": round(time.perf_counter() - t0, 3),
            "sql_statements": statements["n"],
        }
    )
    server.stop()
    backend = sa.engine.make_url(url).get_backend_name()
    print(
        json.dumps(
            {
                "accounts": args.accounts,
                "backend": backend,
                "moto_setup_s": round(setup_s, 1),
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
