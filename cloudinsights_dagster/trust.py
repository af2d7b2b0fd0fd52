"""The integration *Test*: STS AssumeRole with the account group's ExternalId.

It proves the trust relationship only; the permission policy is exercised by monitoring.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from cloudinsights_dagster import aws


@dataclass(frozen=True)
class TrustCheck:
    ok: bool
    role_arn: str
    message: str
    aws_error: str | None = None


def check_trust_relationship(role_arn: str, external_id: str) -> TrustCheck:
    target = aws.RoleTarget(role_arn, external_id, session_name="cloudinsights-test")
    try:
        aws.assume_role_once(target, duration_seconds=900)
    except (ClientError, BotoCoreError) as exc:
        error = aws.error_message(exc)
        problem = aws.collector_problem(exc)
        if problem is not None:  # the collector's own credentials or network, not the role
            return TrustCheck(
                ok=False,
                role_arn=role_arn,
                aws_error=error,
                message=f"could not test role {role_arn}: {problem.summary} ({error}). "
                f"Fix: {problem.fix}",
            )
        if aws.classify_error(exc) != "denied":
            return TrustCheck(
                ok=False,
                role_arn=role_arn,
                aws_error=error,
                message=f"could not test role {role_arn}: STS did not answer ({error}); "
                "check the collector's network access and its own AWS credentials",
            )
        return TrustCheck(
            ok=False,
            role_arn=role_arn,
            aws_error=error,
            message=(
                f"could not assume role {role_arn} ({error}). Either a role with this ARN "
                "doesn't exist, or its trust policy does not allow this collector to assume it "
                "with this account group's ExternalId: paste the trust policy from "
                "`cloudinsights policy trust` into the role again"
            ),
        )
    return TrustCheck(
        ok=True,
        role_arn=role_arn,
        message=(
            f"assumed role {role_arn}: the trust relationship is valid. This test does not "
            "check the permission policy; monitoring reports any denied API"
        ),
    )
