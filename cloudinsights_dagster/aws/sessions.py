"""The collector's boto3 sessions: the standard credential chain, assumed roles that refresh
themselves before expiry, standard retries, and a classification of AWS errors."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import boto3
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials, RefreshableCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
)

from .loader import botocore_session

RETRY_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=60
)

DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "AuthorizationError",
        "AuthFailure",
        "Forbidden",
        "OptInRequired",
        "InvalidClientTokenId",
    }
)

Outcome = Literal["ok", "denied", "failed"]


# AWS_ENDPOINT_URL and AWS_DEFAULT_REGION are the AWS SDK's own variables, not the project's
# settings (settings.py): they keep the SDK's meaning and are read here, where clients are built,
# so that every boto3 client and Arrow's S3 filesystem (flowlogs.output) get the same answer.
def endpoint_url() -> str | None:
    """The AWS endpoint override (a moto server locally); None means real AWS."""
    return os.environ.get("AWS_ENDPOINT_URL") or None


def default_region() -> str:
    """The region of the standard AWS configuration (AWS_DEFAULT_REGION, AWS_REGION)."""
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    """A one-line description of an AWS error, safe to log (AWS error texts carry no secrets)."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Unknown')}: {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


def classify_error(exc: BaseException) -> Outcome:
    """'denied' for permission errors (never retried, reported with the API); else 'failed'."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in DENIED_CODES or "not authorized" in str(exc).lower():
            return "denied"
        return "failed"
    if isinstance(exc, BotoCoreError):
        return "failed"
    return "failed"


@dataclass(frozen=True)
class RoleTarget:
    """What the collector assumes: a role ARN and the account group's ExternalId."""

    role_arn: str
    external_id: str
    session_name: str = "cloudinsights-collector"

    def __repr__(self) -> str:  # never show the ExternalId
        return f"RoleTarget(role_arn={self.role_arn!r}, session_name={self.session_name!r})"


def base_session(region: str | None = None) -> boto3.Session:
    """The collector's own identity from the standard credential chain (env, profile, IMDS...)."""
    return boto3.Session(
        botocore_session=botocore_session(),
        region_name=region or default_region(),
    )


def client(
    session: boto3.Session, service: str, region: str | None = None, config: Config | None = None
):
    return session.client(
        service,
        region_name=region or session.region_name,
        endpoint_url=endpoint_url(),
        config=config or RETRY_CONFIG,
    )


def assume_role_once(
    target: RoleTarget, source: boto3.Session | None = None, duration_seconds: int = 3600
) -> dict:
    """Call STS AssumeRole with the ExternalId; returns the raw Credentials dict."""
    sts = client(source or base_session(), "sts")
    response = sts.assume_role(
        RoleArn=target.role_arn,
        RoleSessionName=target.session_name,
        ExternalId=target.external_id,
        DurationSeconds=duration_seconds,
    )
    return response["Credentials"]


def assumed_role_session(
    target: RoleTarget, region: str | None = None, source: boto3.Session | None = None
) -> boto3.Session:
    """A session whose credentials come from AssumeRole and refresh before they expire.

    The first AssumeRole happens lazily, on the first API call, so building a session is free.
    """
    source = source or base_session(region)

    def refresh() -> dict:
        creds = assume_role_once(target, source)
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    credentials: RefreshableCredentials = DeferredRefreshableCredentials(
        refresh_using=refresh, method="sts-assume-role"
    )
    core = botocore_session(credentials)
    return boto3.Session(botocore_session=core, region_name=region or source.region_name)
