"""The `cloudinsights` CLI end to end: real processes, real warehouse, moto for AWS."""

import json
import os
import subprocess
import sys

import boto3
import pytest
import requests

CLI = [sys.executable, "-m", "cloudinsights_dagster.cli"]
ROLE = "arn:aws:iam::111122223333:role/ci"


@pytest.fixture
def run(tmp_path, database_url):
    settings = {
        "CLOUDINSIGHTS_HOME": str(tmp_path / "home"),
        "CLOUDINSIGHTS_DATABASE_URL": database_url,
        "CLOUDINSIGHTS_COLLECTOR_PRINCIPAL": "arn:aws:iam::123456789012:user/collector",
    }

    def invoke(*args, extra_env=None):
        return subprocess.run(
            [*CLI, *args],
            capture_output=True,
            text=True,
            env={
                **{k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
                **settings,
                **(extra_env or {}),
            },
            timeout=120,
        )

    return invoke


def test_exit_codes_and_one_line_errors(run):
    ok = run(
        "integrations",
        "add-inventory",
        "--account-group",
        "g",
        "--name",
        "prod",
        "--role-arn",
        ROLE,
        "--region",
        "us-east-1",
        "--json",
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["regions"] == ["us-east-1"]

    dup = run(
        "integrations",
        "add-inventory",
        "--account-group",
        "g",
        "--name",
        "prod",
        "--role-arn",
        "arn:aws:iam::111122223333:role/other",
    )
    assert dup.returncode == 1
    assert dup.stderr.count("\n") == 1 and "Traceback" not in dup.stderr
    assert "already exists" in dup.stderr

    usage = run("integrations", "add-inventory", "--name", "x")
    assert usage.returncode == 2

    foreign = run(
        "integrations",
        "add-flowlogs",
        "--account-group",
        "g",
        "--name",
        "f",
        "--role-arn",
        ROLE,
        "--topic-arn",
        "arn:aws:sns:us-east-1:111122223333:a",
        "--topic-arn",
        "arn:aws:sns:us-east-1:222233334444:b",
    )
    assert (
        foreign.returncode == 1 and "222233334444:b belong to a different account" in foreign.stderr
    )

    listed = run("integrations", "list", "--account-group", "g", "--json")
    assert [i["name"] for i in json.loads(listed.stdout)] == ["prod"]

    shown = run("integrations", "show", "--account-group", "g", "--name", "prod")
    assert ROLE in shown.stdout

    missing = run("integrations", "show", "--account-group", "g", "--name", "nope")
    assert missing.returncode == 1 and "no integration named 'nope'" in missing.stderr

    removed = run("integrations", "remove", "--account-group", "g", "--name", "prod", "--json")
    assert removed.returncode == 0 and json.loads(removed.stdout)["removed"]["name"] == "prod"


def test_policies_and_settings(run):
    trust = run("policy", "trust", "--account-group", "g")
    assert trust.returncode == 0
    ext = json.loads(trust.stdout)["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"]
    again = json.loads(run("policy", "trust", "--account-group", "g").stdout)
    assert again["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] == ext
    assert json.loads(run("policy", "inventory").stdout)["Statement"][0]["Action"]
    assert "<TOPIC-ARN>" in run("policy", "sns-topic").stdout
    flows = json.loads(run("policy", "flowlogs", "--bucket", "my-logs").stdout)
    assert flows["Statement"][0]["Resource"] == ["arn:aws:s3:::my-logs/AWSLogs/*"]

    no_principal = run("policy", "trust", extra_env={"CLOUDINSIGHTS_COLLECTOR_PRINCIPAL": ""})
    assert (
        no_principal.returncode == 1 and "CLOUDINSIGHTS_COLLECTOR_PRINCIPAL" in no_principal.stderr
    )

    refused = run("settings", "disable", "--account-group", "g", "--resource-group", "ec2")
    assert refused.returncode == 1 and "cannot be disabled" in refused.stderr
    done = run("settings", "disable", "--account-group", "g", "--region", "eu-west-1", "--json")
    assert json.loads(done.stdout) == {
        "disabled_regions": ["eu-west-1"],
        "disabled_resource_groups": [],
    }
    both = run(
        "settings",
        "disable",
        "--account-group",
        "g",
        "--region",
        "eu-west-1",
        "--resource-group",
        "vpn",
    )
    assert both.returncode == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_integration_test_assumes_the_role_with_the_external_id(run, moto_endpoint):
    """Trust is checked by moto only with IAM enforcement on and a same-account role."""
    iam = boto3.client("iam", endpoint_url=moto_endpoint)
    iam.create_user(UserName="collector")
    iam.put_user_policy(
        UserName="collector",
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName="collector")["AccessKey"]
    trust = json.loads(run("policy", "trust", "--account-group", "g").stdout)
    iam.create_role(RoleName="ci", AssumeRolePolicyDocument=json.dumps(trust))
    role = "arn:aws:iam::123456789012:role/ci"
    assert (
        run(
            "integrations",
            "add-inventory",
            "--account-group",
            "g",
            "--name",
            "inv",
            "--role-arn",
            role,
            "--region",
            "us-east-1",
        ).returncode
        == 0
    )
    requests.post(f"{moto_endpoint}/moto-api/reset-auth", data=b"0", timeout=10)
    creds = {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }

    good = run("integrations", "test", "--account-group", "g", "--name", "inv", extra_env=creds)
    assert good.returncode == 0, good.stderr
    assert "trust relationship is valid" in good.stdout and "permission policy" in good.stdout

    # Another account group has another ExternalId: the same role refuses it.
    bad = run(
        "integrations",
        "test",
        "--account-group",
        "other",
        "--role-arn",
        role,
        "--json",
        extra_env=creds,
    )
    assert bad.returncode == 1
    answer = json.loads(bad.stdout)
    assert answer["ok"] is False and "AccessDenied" in answer["aws_error"]
    assert "trust policy" in answer["message"] and role in answer["message"]
    for secret in (key["SecretAccessKey"], key["AccessKeyId"]):
        assert secret not in bad.stdout + bad.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_add_inventory_discovers_regions_and_creates_location_partitions(
    run, moto_endpoint, tmp_path
):
    import dagster as dg

    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {"DAGSTER_HOME": str(dagster_home)}
    added = run(
        "integrations",
        "add-inventory",
        "--account-group",
        "g",
        "--name",
        "inv",
        "--role-arn",
        "arn:aws:iam::111122223333:role/inv",
        "--json",
        extra_env=env,
    )
    assert added.returncode == 0, added.stderr
    regions = json.loads(added.stdout)["regions"]
    assert "us-east-1" in regions and "eu-west-1" in regions
    assert (
        run(
            "settings", "disable", "--account-group", "g", "--region", "eu-west-1", extra_env=env
        ).returncode
        == 0
    )
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        keys = set(instance.get_dynamic_partitions("locations"))
    assert "111122223333-us-east-1" in keys
    assert "111122223333-eu-west-1" not in keys
    assert len(keys) == len(regions) - 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_add_inventory_saves_even_when_regions_cannot_be_discovered(run, moto_endpoint):
    unreachable = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}
    added = run(
        "integrations",
        "add-inventory",
        "--account-group",
        "g",
        "--name",
        "inv",
        "--role-arn",
        "arn:aws:iam::111122223333:role/inv",
        extra_env=unreachable,
    )
    assert added.returncode == 0
    assert "could not list the account's enabled regions" in added.stderr
    assert "not yet discovered" in added.stdout


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_missing_dagster_home_is_a_warning_not_a_failure(run, tmp_path):
    added = run(
        "integrations",
        "add-inventory",
        "--account-group",
        "g",
        "--name",
        "inv",
        "--role-arn",
        ROLE,
        "--region",
        "us-east-1",
        extra_env={"DAGSTER_HOME": str(tmp_path / "missing")},
    )
    assert added.returncode == 0
    assert "is not a directory: location partitions not updated" in added.stderr
