"""Rate budgets: AWS's documented token buckets, of which the collector uses a share."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cloudinsights_dagster.settings import rate_share


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
