"""The collector's access to AWS, Dagster-free. Nothing here touches the network until a client
makes a call.

* `sessions`: the standard credential chain, assumed roles that refresh themselves, standard
  retries, and a classification of AWS errors;
* `loader`: one botocore model loader per process, each service's client class built once;
* `stats`: requests and throttled answers counted per account, region and API;
* `budgets`: AWS's documented token buckets, of which the collector uses a share;
* `problems`: failures of the collector itself (credentials, network), not of a customer's role;
* `collector`: the sessions and clients of one run.
"""

from .budgets import (
    EC2_MUTATING,
    EC2_NON_MUTATING,
    EC2_UNFILTERED_UNPAGINATED,
    OTHER_SERVICES,
    BucketSpec,
    RateBudgets,
    TokenBucket,
    bucket_spec,
)
from .collector import AssumeRoleFailed, CollectorSessions
from .loader import botocore_session, shared_loader
from .problems import (
    COLLECTOR_PROBLEMS,
    ENDPOINT_UNREACHABLE,
    INVALID_CLIENT_TOKEN,
    NO_CREDENTIALS,
    SESSION_EXPIRED,
    CollectorProblem,
    collector_problem,
    collector_problem_in_text,
)
from .sessions import (
    DENIED_CODES,
    RETRY_CONFIG,
    Outcome,
    RoleTarget,
    assume_role_once,
    assumed_role_session,
    base_session,
    classify_error,
    client,
    default_region,
    endpoint_url,
    error_code,
    error_message,
)
from .stats import THROTTLE_CODES, ApiKey, ApiStats, instrument

__all__ = [
    "COLLECTOR_PROBLEMS",
    "DENIED_CODES",
    "EC2_MUTATING",
    "EC2_NON_MUTATING",
    "EC2_UNFILTERED_UNPAGINATED",
    "ENDPOINT_UNREACHABLE",
    "INVALID_CLIENT_TOKEN",
    "NO_CREDENTIALS",
    "OTHER_SERVICES",
    "RETRY_CONFIG",
    "SESSION_EXPIRED",
    "THROTTLE_CODES",
    "ApiKey",
    "ApiStats",
    "AssumeRoleFailed",
    "BucketSpec",
    "CollectorProblem",
    "CollectorSessions",
    "Outcome",
    "RateBudgets",
    "RoleTarget",
    "TokenBucket",
    "assume_role_once",
    "assumed_role_session",
    "base_session",
    "botocore_session",
    "bucket_spec",
    "classify_error",
    "client",
    "collector_problem",
    "collector_problem_in_text",
    "default_region",
    "endpoint_url",
    "error_code",
    "error_message",
    "instrument",
    "shared_loader",
]
