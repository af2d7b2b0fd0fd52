"""Parsing and validation of the identifiers users paste: account ids, regions, role and SNS
topic ARNs. Each failure says which value is wrong and what shape was expected."""

from __future__ import annotations

import re
from dataclasses import dataclass

ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b")
# IAM role paths and names: https://docs.aws.amazon.com/IAM/latest/APIReference/API_Role.html
ROLE_ARN_RE = re.compile(
    r"^arn:(?P<partition>[a-z-]+):iam::(?P<account>\d{12}):role/"
    r"(?P<path>(?:[\x21-\x7e]+/)*)(?P<name>[\w+=,.@-]{1,64})$"
)
TOPIC_ARN_RE = re.compile(
    r"^arn:(?P<partition>[a-z-]+):sns:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<name>[A-Za-z0-9_-]{1,256}(?:\.fifo)?)$"
)


class InvalidIdentifier(ValueError):
    """A pasted identifier does not have the shape AWS uses."""


@dataclass(frozen=True)
class RoleArn:
    arn: str
    partition: str
    account_id: str
    name: str


@dataclass(frozen=True)
class TopicArn:
    arn: str
    partition: str
    region: str
    account_id: str
    name: str


def validate_account_id(value: str) -> str:
    if not ACCOUNT_ID_RE.match(value or ""):
        raise InvalidIdentifier(f"invalid AWS account id {value!r}: expected exactly 12 digits")
    return value


def validate_region(value: str) -> str:
    if not REGION_RE.match(value or ""):
        raise InvalidIdentifier(
            f"invalid AWS region {value!r}: expected a region code such as us-east-1"
        )
    return value


def parse_role_arn(value: str) -> RoleArn:
    value = (value or "").strip()
    match = ROLE_ARN_RE.match(value)
    if not match or match["partition"] not in PARTITIONS:
        raise InvalidIdentifier(
            f"invalid IAM role ARN {value!r}: expected arn:aws:iam::<12-digit account>:role/<name>"
        )
    return RoleArn(value, match["partition"], match["account"], match["name"])


def parse_topic_arn(value: str) -> TopicArn:
    value = (value or "").strip()
    match = TOPIC_ARN_RE.match(value)
    if not match or match["partition"] not in PARTITIONS:
        raise InvalidIdentifier(
            f"invalid SNS topic ARN {value!r}: expected "
            "arn:aws:sns:<region>:<12-digit account>:<topic name>"
        )
    validate_region(match["region"])
    return TopicArn(value, match["partition"], match["region"], match["account"], match["name"])


def location_key(account_id: str, region: str) -> str:
    """A location (account + region) as a Dagster partition key; '|' is reserved by Dagster."""
    return f"{account_id}-{region}"


def split_location_key(key: str) -> tuple[str, str]:
    account_id, _, region = key.partition("-")
    validate_account_id(account_id)
    validate_region(region)
    return account_id, region
