"""Which regions of an account are monitored: its enabled regions (DescribeRegions through the
inventory role), less the regions disabled by integration policies."""

from __future__ import annotations

from cloudinsights_dagster import aws


def discover_enabled_regions(role_arn: str, external_id: str) -> list[str]:
    """The account's enabled regions; raises botocore errors for the caller to log."""
    session = aws.assumed_role_session(aws.RoleTarget(role_arn, external_id))
    ec2 = aws.client(session, "ec2")
    answer = ec2.describe_regions(AllRegions=False)
    return sorted(
        r["RegionName"]
        for r in answer["Regions"]
        if r.get("OptInStatus", "opt-in-not-required") != "not-opted-in"
    )
