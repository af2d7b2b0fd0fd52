"""The IAM documents users paste into AWS: trust policy, permission policies, SNS topic policy."""

from __future__ import annotations

from cloudinsights_dagster import catalog
from cloudinsights_dagster.arns import InvalidIdentifier

POLICY_VERSION = "2012-10-17"
TOPIC_PLACEHOLDER = "<TOPIC-ARN>"


def _principal_arn(collector_principal: str) -> str:
    value = (collector_principal or "").strip()
    if not value.startswith("arn:") or ":iam::" not in value and ":sts::" not in value:
        raise InvalidIdentifier(
            f"invalid collector principal {value!r}: expected the IAM ARN of the identity that "
            "runs the collector, e.g. arn:aws:iam::123456789012:role/cloudinsights-collector "
            "(set CLOUDINSIGHTS_COLLECTOR_PRINCIPAL)"
        )
    return value


def trust_policy(collector_principal: str, external_id: str) -> dict:
    """Lets the collector assume the role, only with this account group's ExternalId."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "CloudInsightsCollectorAssumeRole",
                "Effect": "Allow",
                "Principal": {"AWS": _principal_arn(collector_principal)},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def inventory_permission_policy() -> dict:
    """Exactly the read-only actions the inventory collector calls (no wildcards)."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "CloudInsightsInventoryReadOnly",
                "Effect": "Allow",
                "Action": catalog.inventory_actions(),
                "Resource": "*",
            }
        ],
    }


def flowlogs_permission_policy(bucket_prefixes: list[str] | None = None) -> dict:
    """s3:GetObject on the flow-log prefixes and s3:ListBucket (for backfills) on the buckets.

    `bucket_prefixes` are `bucket` or `bucket/prefix` strings; without them the policy uses a
    `<BUCKET>` placeholder for the user to replace.
    """
    entries = bucket_prefixes or ["<BUCKET>"]
    object_arns, bucket_arns, list_prefixes = [], [], []
    for entry in entries:
        bucket, _, prefix = entry.strip().strip("/").partition("/")
        prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        object_arns.append(f"arn:aws:s3:::{bucket}/{prefix}AWSLogs/*")
        if f"arn:aws:s3:::{bucket}" not in bucket_arns:
            bucket_arns.append(f"arn:aws:s3:::{bucket}")
        list_prefixes.append(f"{prefix}AWSLogs/*")
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "CloudInsightsReadFlowLogObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": sorted(object_arns),
            },
            {
                "Sid": "CloudInsightsListFlowLogPrefixes",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": sorted(bucket_arns),
                "Condition": {"StringLike": {"s3:prefix": sorted(set(list_prefixes))}},
            },
        ],
    }


def sns_topic_access_policy(collector_principal: str) -> dict:
    """Lets the collector subscribe its queue to the topic; the user replaces <TOPIC-ARN>."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "CloudInsightsCollectorSubscribe",
                "Effect": "Allow",
                "Principal": {"AWS": _principal_arn(collector_principal)},
                "Action": ["sns:Subscribe", "sns:GetTopicAttributes"],
                "Resource": TOPIC_PLACEHOLDER,
            },
            {
                "Sid": "AllowS3ToPublishObjectEvents",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": TOPIC_PLACEHOLDER,
            },
        ],
    }
