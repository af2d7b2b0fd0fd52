"""Counting requests and throttled answers per account, region and API (botocore event hooks)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .budgets import RateBudgets

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
