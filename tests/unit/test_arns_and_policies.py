import json

import pytest

from cloudinsights_dagster import catalog
from cloudinsights_dagster.arns import (
    InvalidIdentifier,
    location_key,
    parse_role_arn,
    parse_topic_arn,
    split_location_key,
    validate_account_id,
    validate_region,
)
from cloudinsights_dagster.policies import (
    TOPIC_PLACEHOLDER,
    flowlogs_permission_policy,
    inventory_permission_policy,
    sns_topic_access_policy,
    trust_policy,
)

PRINCIPAL = "arn:aws:iam::123456789012:role/cloudinsights-collector"


def test_role_arn_parsed_with_path():
    role = parse_role_arn("arn:aws:iam::111122223333:role/team/net/ci-reader")
    assert (role.account_id, role.name, role.partition) == ("111122223333", "ci-reader", "aws")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "arn:aws:iam:111122223333:role/x",  # missing a colon
        "arn:aws:iam::11112222333:role/x",  # 11 digits
        "arn:aws:iam::111122223333:user/x",  # a user, not a role
        "arn:aws:sts::111122223333:assumed-role/x/y",
        "arn:nope:iam::111122223333:role/x",
    ],
)
def test_malformed_role_arns_are_refused_with_the_expected_shape(value):
    with pytest.raises(InvalidIdentifier, match="expected arn:aws:iam::<12-digit account>:role"):
        parse_role_arn(value)


def test_topic_arn_parsed():
    topic = parse_topic_arn("arn:aws:sns:eu-west-1:111122223333:flow-logs")
    assert (topic.region, topic.account_id, topic.name) == (
        "eu-west-1",
        "111122223333",
        "flow-logs",
    )


@pytest.mark.parametrize(
    "value",
    [
        "arn:aws:sns:eu-west-1:1111:flow",
        "arn:aws:sqs:eu-west-1:111122223333:flow",
        "arn:aws:sns:moon-1:111122223333:flow",
        "arn:aws:sns:eu-west-1:111122223333:",
    ],
)
def test_malformed_topic_arns_are_refused(value):
    with pytest.raises(InvalidIdentifier):
        parse_topic_arn(value)


def test_account_ids_and_regions():
    assert validate_account_id("000011112222") == "000011112222"
    with pytest.raises(InvalidIdentifier, match="12 digits"):
        validate_account_id("12345")
    for region in ("us-east-1", "ap-southeast-2", "us-gov-west-1", "eu-central-2"):
        assert validate_region(region) == region
    with pytest.raises(InvalidIdentifier, match="region"):
        validate_region("US-EAST-1")


def test_location_keys_round_trip_and_avoid_dagster_separator():
    key = location_key("111122223333", "us-east-1")
    assert key == "111122223333-us-east-1" and "|" not in key
    assert split_location_key(key) == ("111122223333", "us-east-1")


def test_trust_policy_requires_the_external_id():
    doc = trust_policy(PRINCIPAL, "ext-abc")
    (statement,) = doc["Statement"]
    assert doc["Version"] == "2012-10-17"
    assert statement["Principal"] == {"AWS": PRINCIPAL}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "ext-abc"}}
    with pytest.raises(InvalidIdentifier, match="CLOUDINSIGHTS_COLLECTOR_PRINCIPAL"):
        trust_policy("collector", "ext-abc")


def test_inventory_policy_lists_exactly_the_collector_actions():
    (statement,) = inventory_permission_policy()["Statement"]
    actions = statement["Action"]
    assert actions == catalog.inventory_actions()
    assert all("*" not in a for a in actions)
    assert all(a.split(":")[1].startswith("Describe") for a in actions)
    expected = {rt.action for rt in catalog.RESOURCE_TYPES.values()}
    assert expected | {"ec2:DescribeRegions"} == set(actions)


def test_flowlogs_policy_scopes_objects_to_log_prefixes():
    doc = flowlogs_permission_policy(["logs-a", "logs-b/org/"])
    get, lst = doc["Statement"]
    assert get["Action"] == ["s3:GetObject"]
    assert get["Resource"] == ["arn:aws:s3:::logs-a/AWSLogs/*", "arn:aws:s3:::logs-b/org/AWSLogs/*"]
    assert lst["Action"] == ["s3:ListBucket"]
    assert lst["Resource"] == ["arn:aws:s3:::logs-a", "arn:aws:s3:::logs-b"]
    assert lst["Condition"]["StringLike"]["s3:prefix"] == ["AWSLogs/*", "org/AWSLogs/*"]


def test_sns_topic_policy_has_a_placeholder_and_lets_the_collector_subscribe():
    doc = sns_topic_access_policy(PRINCIPAL)
    text = json.dumps(doc)
    assert TOPIC_PLACEHOLDER in text
    subscribe = doc["Statement"][0]
    assert "sns:Subscribe" in subscribe["Action"]
    assert subscribe["Principal"] == {"AWS": PRINCIPAL}
    assert subscribe["Resource"] == "<TOPIC-ARN>"
