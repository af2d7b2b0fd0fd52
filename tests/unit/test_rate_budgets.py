"""Rate budgets: AWS's documented token buckets, of which the collector uses a share, on a
deterministic clock (the sleep advances it)."""

import threading

import pytest

from cloudinsights_dagster import aws
from cloudinsights_dagster.settings import RATE_SHARE_ENV


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def test_a_bucket_gives_its_burst_then_its_refill_rate():
    clock = FakeClock()
    bucket = aws.TokenBucket(10, 2, clock, clock.sleep)
    assert [bucket.take() for _ in range(10)] == [0.0] * 10  # the burst
    assert clock.sleeps == []
    assert bucket.take() == pytest.approx(0.5)  # then one token every 1/2 s
    assert bucket.take() == pytest.approx(0.5)
    assert clock.now == pytest.approx(1001.0)
    clock.now += 100  # idle: refills up to the capacity, never beyond
    assert bucket.tokens == pytest.approx(10)


def test_concurrent_takers_reserve_successive_tokens():
    """Callers that find the bucket empty queue up: the n-th waits n refill intervals."""
    clock = FakeClock()
    slept: list[float] = []
    bucket = aws.TokenBucket(1, 4, clock, slept.append)  # clock does not move: pure reservation
    waits = [bucket.take() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert slept == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_ec2_buckets_follow_the_documented_categories():
    assert aws.bucket_spec("ec2", "DescribeVpcs", {"MaxResults": 100}) == aws.EC2_NON_MUTATING
    assert aws.bucket_spec("ec2", "DescribeVpcs", {"Filters": [{"Name": "x"}]}).capacity == 100
    unpaged = aws.bucket_spec("ec2", "DescribeVpcs", {})
    assert (unpaged.capacity, unpaged.refill_per_second) == (50, 10)
    assert aws.bucket_spec("ec2", "CreateTags", {}) == aws.EC2_MUTATING
    assert aws.bucket_spec("elasticloadbalancing", "DescribeLoadBalancers") == aws.OTHER_SERVICES


def test_budgets_use_a_share_of_each_api_bucket_per_account_and_region():
    clock = FakeClock()
    budgets = aws.RateBudgets(share=0.5, clock=clock, sleep=clock.sleep)
    # DescribeVpcs with MaxResults: 100 tokens, 20/s at AWS; half of it for the collector.
    vpcs = budgets.bucket("111122223333", "us-east-1", "ec2", "DescribeVpcs", {"MaxResults": 5})
    assert (vpcs.capacity, vpcs.refill_per_second) == (50, 10)
    for _ in range(50):
        budgets.take("111122223333", "us-east-1", "ec2", "DescribeVpcs", {"MaxResults": 5})
    assert clock.sleeps == []
    waited = budgets.take("111122223333", "us-east-1", "ec2", "DescribeVpcs", {"MaxResults": 5})
    assert waited == pytest.approx(0.1)
    # Other APIs, regions and accounts have buckets of their own: no wait there.
    assert budgets.take("111122223333", "us-east-1", "ec2", "DescribeSubnets", {}) == 0.0
    assert budgets.take("111122223333", "eu-west-1", "ec2", "DescribeVpcs", {}) == 0.0
    assert budgets.take("444455556666", "us-east-1", "ec2", "DescribeVpcs", {}) == 0.0
    # 120 DescribeSubnets calls over a fresh unpaginated bucket (25 burst, 5/s): the last one
    # waits (120 - 25) / 5 = 19 s after the start: the long-run rate is the refill rate.
    clock2 = FakeClock()
    b2 = aws.RateBudgets(share=0.5, clock=clock2, sleep=clock2.sleep)
    for _ in range(120):
        b2.take("111122223333", "us-east-1", "ec2", "DescribeSubnets", {})
    assert clock2.now - 1000.0 == pytest.approx(19.0)


def test_rate_share_comes_from_the_environment_with_a_clear_error(monkeypatch):
    monkeypatch.delenv(RATE_SHARE_ENV, raising=False)
    assert aws.RateBudgets().share == 0.5
    monkeypatch.setenv(RATE_SHARE_ENV, "0.2")
    assert aws.RateBudgets().share == 0.2
    for bad in ("0", "1.5", "half", "-1"):
        monkeypatch.setenv(RATE_SHARE_ENV, bad)
        with pytest.raises(
            ValueError, match="CLOUDINSIGHTS_API_RATE_SHARE=.*above 0 and at most 1"
        ):
            aws.RateBudgets()
