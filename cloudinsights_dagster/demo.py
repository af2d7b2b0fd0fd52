"""`make demo`: the product end to end on the embedded default, with no AWS account.

An in-process moto server on 127.0.0.1 plays AWS; the warehouse is SQLite under
CLOUDINSIGHTS_HOME; Dagster runs in process on the instance under DAGSTER_HOME.
"""

from __future__ import annotations

import json
import os
import sys

from moto.server import ThreadedMotoServer

DEMO_GROUP = "demo"
DEMO_ACCOUNT = "123456789012"  # moto's default account


def start_fake_aws() -> tuple[ThreadedMotoServer, str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="demo",
        AWS_SECRET_ACCESS_KEY="demo",
        AWS_DEFAULT_REGION="us-east-1",
    )
    os.environ.pop("AWS_PROFILE", None)
    return server, endpoint


def main() -> int:
    server, endpoint = start_fake_aws()
    try:
        from cloudinsights_dagster import aws
        from cloudinsights_dagster.policies import trust_policy
        from cloudinsights_dagster.registry import Registry, RegistryError
        from cloudinsights_dagster.settings import load_settings
        from cloudinsights_dagster.trust import check_trust_relationship

        settings = load_settings()
        registry = Registry(settings.database_url)
        print(f"fake AWS at {endpoint}; warehouse {settings.database_url}")
        iam = aws.client(aws.base_session(), "iam")
        principal = f"arn:aws:iam::{DEMO_ACCOUNT}:root"
        trust = trust_policy(principal, registry.external_id(DEMO_GROUP))
        iam.create_role(RoleName="cloudinsights-demo", AssumeRolePolicyDocument=json.dumps(trust))
        role_arn = f"arn:aws:iam::{DEMO_ACCOUNT}:role/cloudinsights-demo"
        try:
            registry.add_inventory(DEMO_GROUP, "demo-inventory", role_arn, ["us-east-1"])
        except RegistryError as exc:
            print(f"(already registered: {exc})")
        check = check_trust_relationship(role_arn, registry.external_id(DEMO_GROUP))
        print(f"test: {check.message}")
        for info in registry.list_integrations(DEMO_GROUP):
            print(f"integration {info.name}: {info.integration_type}, regions {info.regions}")
        print("locations:", ", ".join(loc.key for loc in registry.locations()))
        return 0 if check.ok else 1
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
