"""boto3 sessions for the collector: the standard credential chain, assumed roles that refresh
themselves before expiry, standard retries, and a classification of AWS errors.

Nothing here touches the network until a client makes a call.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import boto3
import botocore.client
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials, RefreshableCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

# Throttling and 5xx are retried with backoff by botocore's standard mode; AccessDenied is not.
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


# --- One model loader per process -------------------------------------------------------------
# Building a client reads and parses the service's JSON models (endpoints, service-2, paginators):
# ~0.1 CPU-s per new session. Every session made here shares one loader, so a process parses each
# model once, however many roles, regions and clients a run uses.

_SHARED_LOADER_LOCK = threading.Lock()
_SHARED_LOADER: botocore.loaders.Loader | None = None


def shared_loader() -> botocore.loaders.Loader:
    global _SHARED_LOADER
    with _SHARED_LOADER_LOCK:
        if _SHARED_LOADER is None:
            _SHARED_LOADER = botocore.loaders.create_loader()
            # boto3 appends its data folder to the loader of every Session it wraps: on a shared
            # loader, keep each folder once or every lookup walks a growing list.
            _SHARED_LOADER._search_paths = _UniquePaths(_SHARED_LOADER._search_paths)
            _cache_client_classes()
        return _SHARED_LOADER


class _UniquePaths(list):
    def append(self, path) -> None:
        if path not in self:
            super().append(path)


_MODELS: dict[tuple[str, str | None], Any] = {}
# Client classes that boto3 sessions customize when they are built (S3's upload_file and
# download_file...): built per session, or a plain botocore session's class would lose them.
_SESSION_CUSTOMIZED_CLASSES = frozenset({"s3"})
_CLASSES: dict[tuple[str, int], type] = {}


def _cache_client_classes() -> None:
    """Build each service's model and client class once per process for sessions on the shared
    loader. botocore builds them for every client: an EC2 client class has ~700 generated
    methods (~10 ms CPU per client), and a run makes a client per role, region and service.
    Other sessions (boto3 defaults) are left as botocore makes them. Both objects are read-only
    once built, so clients may share them."""
    creator = botocore.client.ClientCreator
    if getattr(creator, "_cloudinsights_cached", False):
        return
    load_model, create_class = creator._load_service_model, creator._create_client_class

    def cached_model(self, service_name, api_version=None):
        if self._loader is not _SHARED_LOADER:
            return load_model(self, service_name, api_version)
        key = (service_name, api_version)
        with _SHARED_LOADER_LOCK:
            found = _MODELS.get(key)
        if found is None:
            found = load_model(self, service_name, api_version)
            with _SHARED_LOADER_LOCK:
                found = _MODELS.setdefault(key, found)
        return found

    def cached_class(self, service_name, service_model):
        if self._loader is not _SHARED_LOADER or service_name in _SESSION_CUSTOMIZED_CLASSES:
            return create_class(self, service_name, service_model)
        key = (service_name, id(service_model))
        with _SHARED_LOADER_LOCK:
            found = _CLASSES.get(key)
        if found is None:
            found = create_class(self, service_name, service_model)
            with _SHARED_LOADER_LOCK:
                found = _CLASSES.setdefault(key, found)
        return found

    creator._load_service_model = cached_model
    creator._create_client_class = cached_class
    creator._cloudinsights_cached = True


def botocore_session(credentials: Any = None) -> botocore.session.Session:
    """A botocore session on the process's shared model loader; the standard credential chain
    unless ``credentials`` (e.g. refreshable assumed-role credentials) are given."""
    core = botocore.session.Session()
    core.register_component("data_loader", shared_loader())
    if credentials is not None:
        core._credentials = credentials  # botocore's documented-in-practice hook for providers
    return core


# --- Counting requests and throttles per API --------------------------------------------------

THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "BandwidthLimitExceeded",
        "SlowDown",
        "EC2ThrottledException",
        "PriorRequestNotComplete",
    }
)


@dataclass(frozen=True)
class ApiKey:
    account_id: str
    region: str
    api: str  # "ec2:DescribeVpcs"

    @property
    def location(self) -> str:
        return f"{self.account_id}-{self.region}"


class ApiStats:
    """Thread-safe counts of HTTP requests (every attempt, retries included), throttled answers
    and seconds spent waiting on a rate budget, per account, region and API."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[ApiKey] = Counter()
        self.throttles: Counter[ApiKey] = Counter()
        self.waited_seconds = 0.0

    def count_request(self, key: ApiKey) -> None:
        with self._lock:
            self.requests[key] += 1

    def count_throttle(self, key: ApiKey) -> None:
        with self._lock:
            self.throttles[key] += 1

    def count_wait(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self.waited_seconds += seconds

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_throttles(self) -> int:
        return sum(self.throttles.values())

    def for_location(self, location: str) -> tuple[int, Counter[str]]:
        """(requests, throttles by API) of one location (``account-region``)."""
        with self._lock:
            requests = sum(n for k, n in self.requests.items() if k.location == location)
            throttles = Counter(
                {k.api: n for k, n in self.throttles.items() if k.location == location}
            )
        return requests, throttles


def _api_of(event_name: str, service: str) -> str:
    return f"{service}:{event_name.rsplit('.', 1)[-1]}"


def instrument(
    client: Any,
    account_id: str,
    region: str,
    stats: ApiStats | None = None,
    budgets: RateBudgets | None = None,
) -> Any:
    """Hook a botocore client: each call first takes a token from its rate budget (waiting when
    the budget is spent), each HTTP attempt is counted, each throttled answer too."""
    service = client.meta.service_model.signing_name or client.meta.service_model.service_name
    events = client.meta.events

    if budgets is not None:

        def take_token(params: dict, model: Any, **_: Any) -> None:
            waited = budgets.take(account_id, region, service, model.name, params)
            if stats is not None:
                stats.count_wait(waited)

        events.register("before-parameter-build", take_token)
    if stats is not None:

        def count_request(event_name: str, **_: Any) -> None:
            stats.count_request(ApiKey(account_id, region, _api_of(event_name, service)))

        def count_throttle(event_name: str, response: Any = None, **_: Any) -> None:
            if not response:
                return
            http, parsed = response
            code = (parsed or {}).get("Error", {}).get("Code")
            if code in THROTTLE_CODES or getattr(http, "status_code", 0) == 429:
                stats.count_throttle(ApiKey(account_id, region, _api_of(event_name, service)))

        events.register("before-send", count_request)
        events.register("needs-retry", count_throttle)
    return client


# --- Rate budgets: AWS's token buckets, of which we use a share --------------------------------


@dataclass(frozen=True)
class BucketSpec:
    capacity: float  # tokens: the burst
    refill_per_second: float
    source: str  # where the figures come from


# EC2 throttles each API separately, per account and region, with a token bucket per API
# (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html): non-mutating
# Describe*/Get*/List* actions 100 tokens, 20 per second; unfiltered and unpaginated
# non-mutating calls 50 tokens, 10 per second; mutating actions 50 tokens, 5 per second.
EC2_NON_MUTATING = BucketSpec(100, 20, "EC2 documented: non-mutating actions")
EC2_UNFILTERED_UNPAGINATED = BucketSpec(
    50, 10, "EC2 documented: unfiltered and unpaginated non-mutating actions"
)
EC2_MUTATING = BucketSpec(50, 5, "EC2 documented: mutating actions")
# Other services publish no bucket figures for their Describe calls: a conservative guess.
OTHER_SERVICES = BucketSpec(20, 5, "not documented: conservative default")
RATE_SHARE_ENV = "CLOUDINSIGHTS_API_RATE_SHARE"
DEFAULT_RATE_SHARE = 0.5
_READ_PREFIXES = ("Describe", "Get", "List", "Search")


def bucket_spec(service: str, operation: str, params: dict | None = None) -> BucketSpec:
    """The documented token bucket of one API call (``params``: the call's parameters)."""
    if service != "ec2":
        return OTHER_SERVICES
    if not operation.startswith(_READ_PREFIXES):
        return EC2_MUTATING
    params = params or {}
    if not params.get("Filters") and "MaxResults" not in params and "NextToken" not in params:
        return EC2_UNFILTERED_UNPAGINATED
    return EC2_NON_MUTATING


def rate_share(value: str | None = None) -> float:
    """The share of each account's API budget the collector may use (0 < share <= 1)."""
    text = value if value is not None else os.environ.get(RATE_SHARE_ENV)
    if text is None or text == "":
        return DEFAULT_RATE_SHARE
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0 < share <= 1:
        raise ValueError(
            f"{RATE_SHARE_ENV}={text!r}: give the share of each account's AWS API rate the "
            "collector may use, a number above 0 and at most 1 (default 0.5)"
        )
    return share


class TokenBucket:
    """A token bucket that makes callers wait rather than fail: a caller that finds it empty
    reserves the next token and sleeps until it has refilled. Thread-safe; the clock and the
    sleep are inputs so tests are deterministic."""

    def __init__(
        self,
        capacity: float,
        refill_per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if capacity < 1 or refill_per_second <= 0:
            raise ValueError(
                f"a token bucket needs capacity >= 1 and a positive refill rate, "
                f"not {capacity} and {refill_per_second}"
            )
        self.capacity = capacity
        self.refill_per_second = refill_per_second
        self._clock, self._sleep = clock, sleep
        self._tokens = float(capacity)
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.refill_per_second)
        self._updated = now

    @property
    def tokens(self) -> float:
        with self._lock:
            self._refill(self._clock())
            return self._tokens

    def take(self) -> float:
        """Take one token; returns the seconds waited for it (0.0 when one was there)."""
        with self._lock:
            self._refill(self._clock())
            self._tokens -= 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.refill_per_second
        if wait:
            self._sleep(wait)
        return wait


class RateBudgets:
    """One token bucket per (account, region, service, API), sized as ``share`` of the bucket
    AWS keeps for that account: the rest stays for the customer's own tools and consoles."""

    def __init__(
        self,
        share: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.share = rate_share() if share is None else rate_share(str(share))
        self._clock, self._sleep = clock, sleep
        self._buckets: dict[tuple[str, str, str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(
        self, account_id: str, region: str, service: str, operation: str, params: dict | None = None
    ) -> TokenBucket:
        key = (account_id, region, service, operation)
        with self._lock:
            found = self._buckets.get(key)
            if found is None:
                spec = bucket_spec(service, operation, params)
                found = self._buckets[key] = TokenBucket(
                    max(1.0, spec.capacity * self.share),
                    spec.refill_per_second * self.share,
                    self._clock,
                    self._sleep,
                )
            return found

    def take(
        self, account_id: str, region: str, service: str, operation: str, params: dict | None = None
    ) -> float:
        return self.bucket(account_id, region, service, operation, params).take()


# --- Problems of the collector itself, not of a customer's role -------------------------------


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


# --- The sessions and clients of one run -------------------------------------------------------


class AssumeRoleFailed(Exception):
    """AssumeRole failed for a role; ``problem`` is set when the collector itself is at fault."""

    def __init__(self, target: RoleTarget, cause: BaseException) -> None:
        self.target, self.cause = target, cause
        self.problem = collector_problem(cause)
        self.message = error_message(cause)
        super().__init__(f"AssumeRole {target.role_arn}: {self.message}")


class CollectorSessions:
    """Everything one run needs to reach AWS, built once and shared by its threads: the
    collector's own identity (the standard credential chain), one AssumeRole per role per run
    (credentials that refresh themselves before expiry), and one client per (role, region,
    service), each instrumented with the run's ``ApiStats`` and ``RateBudgets``.

    A collector problem (no credentials, unreachable endpoint...) found once is the answer for
    every further role of the run: no role would fare better, and each try could take a timeout.
    """

    def __init__(
        self,
        *,
        config: Config | None = None,
        stats: ApiStats | None = None,
        budgets: RateBudgets | None = None,
        sts_region: str | None = None,
    ) -> None:
        self.config = config or RETRY_CONFIG
        self.stats = stats if stats is not None else ApiStats()
        self.budgets = budgets
        self.endpoint_url = endpoint_url()
        self.sts_region = sts_region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        self._lock = threading.RLock()  # client creation from a session is not thread-safe
        self._source = botocore_session()
        self._sts: Any = None
        self._roles: dict[RoleTarget, botocore.session.Session] = {}
        self._role_errors: dict[RoleTarget, AssumeRoleFailed] = {}
        self._role_locks: dict[RoleTarget, threading.Lock] = {}
        self._collector_error: AssumeRoleFailed | None = None
        self._identity_answered = False
        self._first_call = threading.Lock()
        self._clients: dict[tuple[str | None, str, str], Any] = {}
        self.assume_role_calls = 0
        self.clients_created = 0

    def _make_client(self, core: botocore.session.Session, service: str, region: str) -> Any:
        self.clients_created += 1
        return core.create_client(
            service, region_name=region, endpoint_url=self.endpoint_url, config=self.config
        )

    def _sts_client(self) -> Any:
        with self._lock:
            if self._sts is None:
                self._sts = self._make_client(self._source, "sts", self.sts_region)
            return self._sts

    def _role_session(self, target: RoleTarget) -> botocore.session.Session:
        with self._lock:
            found = self._roles.get(target)
            if found is not None:
                return found

            def refresh() -> dict:
                with self._lock:
                    self.assume_role_calls += 1
                answer = self._sts_client().assume_role(
                    RoleArn=target.role_arn,
                    RoleSessionName=target.session_name,
                    ExternalId=target.external_id,
                    DurationSeconds=3600,
                )["Credentials"]
                return {
                    "access_key": answer["AccessKeyId"],
                    "secret_key": answer["SecretAccessKey"],
                    "token": answer["SessionToken"],
                    "expiry_time": answer["Expiration"].isoformat(),
                }

            credentials = DeferredRefreshableCredentials(
                refresh_using=refresh, method="sts-assume-role"
            )
            found = self._roles[target] = botocore_session(credentials)
            self._role_locks[target] = threading.Lock()
            return found

    def assume(self, target: RoleTarget) -> None:
        """AssumeRole now (once per role per run); raises ``AssumeRoleFailed``.

        Until STS has answered once, calls go one at a time: if the collector itself is at
        fault, the first answer says so for every role, and no thread waits on its own timeout.
        """
        if not self._identity_answered:
            with self._first_call:
                self._assume(target)
                return
        self._assume(target)

    def _assume(self, target: RoleTarget) -> None:
        core = self._role_session(target)
        with self._role_locks[target]:
            if self._collector_error is not None:
                raise AssumeRoleFailed(target, self._collector_error.cause)
            if target in self._role_errors:
                raise self._role_errors[target]
            try:
                core.get_credentials().get_frozen_credentials()
            except (ClientError, BotoCoreError) as exc:
                failure = AssumeRoleFailed(target, exc)
                self._role_errors[target] = failure
                if failure.problem is not None:
                    self._collector_error = failure
                else:
                    self._identity_answered = True  # STS judged the role, not the collector
                raise failure from exc
            self._identity_answered = True

    def client(self, target: RoleTarget, service: str, region: str, account_id: str) -> Any:
        """The run's client of ``service`` in ``region`` through the role (built once)."""
        key = (target.role_arn, region, service)
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                found = self._make_client(self._role_session(target), service, region)
                instrument(found, account_id, region, self.stats, self.budgets)
                self._clients[key] = found
            return found
