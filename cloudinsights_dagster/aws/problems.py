"""Problems of the collector itself (its credentials, its network), not of a customer's role."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from .sessions import error_code


@dataclass(frozen=True)
class CollectorProblem:
    """Why the collector could not even ask AWS: its own identity or network, which no change
    to a customer's role can fix."""

    kind: str
    summary: str
    fix: str


NO_CREDENTIALS = CollectorProblem(
    "no_credentials",
    "the collector has no AWS credentials of its own, so it cannot ask STS for any role "
    "(not a problem of the customer's role)",
    "give the process that runs the collector (Dagster daemon and run workers) AWS credentials: "
    "an instance or task role, AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; check "
    "them with `aws sts get-caller-identity` in that environment",
)
ENDPOINT_UNREACHABLE = CollectorProblem(
    "endpoint_unreachable",
    "the collector cannot reach the AWS endpoint (not a problem of the customer's role)",
    "check the collector's network path to AWS STS (proxy, VPC endpoint, DNS, firewall) and "
    "AWS_ENDPOINT_URL: unset it for real AWS, or start the local AWS it points to",
)
SESSION_EXPIRED = CollectorProblem(
    "session_expired",
    "the collector's own AWS session has expired (not a problem of the customer's role)",
    "renew the collector's credentials (e.g. `aws sso login`, a new session token) or give it "
    "an instance or task role, which renews itself",
)
INVALID_CLIENT_TOKEN = CollectorProblem(
    "invalid_client_token",
    "AWS does not recognise the collector's own access key or token (not a problem of the "
    "customer's role)",
    "replace the collector's access key (deleted, deactivated or mistyped) or unset a stale "
    "AWS_SESSION_TOKEN; check with `aws sts get-caller-identity` in the collector's environment",
)
COLLECTOR_PROBLEMS = {
    p.kind: p for p in (NO_CREDENTIALS, ENDPOINT_UNREACHABLE, SESSION_EXPIRED, INVALID_CLIENT_TOKEN)
}
_EXPIRED_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
)
_INVALID_TOKEN_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
    }
)


def collector_problem(exc: BaseException) -> CollectorProblem | None:
    """The collector's own problem behind an error of an STS AssumeRole call, or None when the
    error is about the role (AccessDenied: trust policy, ExternalId, no such role...)."""
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)):
        return NO_CREDENTIALS
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError)):
        return ENDPOINT_UNREACHABLE
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in _EXPIRED_CODES:
            return SESSION_EXPIRED
        if code in _INVALID_TOKEN_CODES:
            return INVALID_CLIENT_TOKEN
    return None


_TEXT_MARKERS = (
    (
        (
            "NoCredentialsError",
            "PartialCredentialsError",
            "CredentialRetrievalError",
            "Unable to locate credentials",
        ),
        NO_CREDENTIALS,
    ),
    (
        (
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ConnectionClosedError",
            "Could not connect to the endpoint URL",
        ),
        ENDPOINT_UNREACHABLE,
    ),
    (tuple(_EXPIRED_CODES), SESSION_EXPIRED),
    (tuple(_INVALID_TOKEN_CODES), INVALID_CLIENT_TOKEN),
)


def collector_problem_in_text(text: str | None) -> CollectorProblem | None:
    """The same classification from a recorded error text (``error_message`` output)."""
    if not text:
        return None
    for markers, problem in _TEXT_MARKERS:
        if any(m in text for m in markers):
            return problem
    return None
