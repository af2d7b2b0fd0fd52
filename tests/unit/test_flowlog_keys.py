"""Flow-log object keys: both folder layouts, text and Parquet, and the keys that are not logs."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cloudinsights_dagster.flowlogs.keys import (
    UnrecognizedKey,
    day_prefixes,
    parse_key,
    parse_key_or_none,
)

ACCOUNT = "111122223333"
FILE = f"{ACCOUNT}_vpcflowlogs_eu-west-1_fl-0123456789abcdef0_20260102T0305Z_fe123456.log.gz"
PLAIN = f"AWSLogs/{ACCOUNT}/vpcflowlogs/eu-west-1/2026/01/02/{FILE}"
HIVE_DIRS = (
    f"AWSLogs/aws-account-id={ACCOUNT}/aws-service=vpcflowlogs/aws-region=eu-west-1/"
    "year=2026/month=01/day=02"
)


def test_plain_key_without_prefix():
    parsed = parse_key(PLAIN)
    assert parsed.account_id == ACCOUNT
    assert parsed.region == "eu-west-1"
    assert parsed.day == "2026-01-02"
    assert parsed.hour is None
    assert parsed.flow_log_id == "fl-0123456789abcdef0"
    assert parsed.is_parquet is False
    assert parsed.hive is False
    assert parsed.prefix == ""
    assert parsed.delivered_at == datetime(2026, 1, 2, 3, 5, tzinfo=UTC)
    assert parsed.location_key == f"{ACCOUNT}-eu-west-1"
    assert "|" not in parsed.location_key


def test_plain_key_with_nested_prefix_and_hour_folder():
    key = f"logs/vpc/AWSLogs/{ACCOUNT}/vpcflowlogs/eu-west-1/2026/01/02/03/{FILE}"
    parsed = parse_key(key)
    assert parsed.prefix == "logs/vpc"
    assert parsed.hour == 3
    assert parsed.day == "2026-01-02"


def test_hive_key_with_hour_and_parquet():
    name = FILE.replace(".log.gz", ".log.parquet")
    parsed = parse_key(f"pfx/{HIVE_DIRS}/hour=23/{name}")
    assert parsed.hive is True
    assert parsed.is_parquet is True
    assert parsed.prefix == "pfx"
    assert parsed.hour == 23
    assert (parsed.account_id, parsed.region, parsed.day) == (ACCOUNT, "eu-west-1", "2026-01-02")


def test_hive_key_without_prefix_or_hour():
    parsed = parse_key(f"{HIVE_DIRS}/{FILE}")
    assert parsed.hive is True
    assert parsed.hour is None
    assert parsed.prefix == ""


@pytest.mark.parametrize("region", ["us-gov-west-1", "ap-southeast-2", "il-central-1"])
def test_other_region_shapes(region):
    name = FILE.replace("eu-west-1", region)
    parsed = parse_key(f"AWSLogs/{ACCOUNT}/vpcflowlogs/{region}/2026/01/02/{name}")
    assert parsed.region == region


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (f"AWSLogs/{ACCOUNT}/vpcflowlogs/eu-west-1/2026/01/02/", "folder"),
        (f"AWSLogs/{ACCOUNT}/CloudTrail/eu-west-1/2026/01/02/x.json.gz", "vpcflowlogs"),
        ("some/other/object.txt", "AWSLogs"),
        (f"AWSLogs/{ACCOUNT}/vpcflowlogs/eu-west-1/2026/1/02/{FILE}", "folders do not match"),
        (PLAIN.replace(".log.gz", ".txt"), "neither .log.gz nor .log.parquet"),
        (PLAIN.replace("_fl-0123456789abcdef0_", "_x_"), "does not match"),
        (PLAIN.replace("/2026/01/02/", "/2026/02/30/"), "invalid date"),
        (PLAIN.replace("/2026/01/02/", "/2026/01/02/24/"), "invalid hour"),
        (PLAIN.replace("20260102T0305Z", "20261302T0305Z"), "invalid timestamp"),
        (
            PLAIN.replace(f"{ACCOUNT}_vpcflowlogs", "444455556666_vpcflowlogs"),
            "file name is for 444455556666/eu-west-1",
        ),
        ("", "empty"),
    ],
)
def test_unrecognized_keys_name_the_key_and_reason(key, reason):
    with pytest.raises(UnrecognizedKey) as excinfo:
        parse_key(key)
    assert reason in str(excinfo.value)
    assert excinfo.value.key == key
    assert repr(key) in str(excinfo.value)
    assert parse_key_or_none(key) is None


def test_day_prefixes_cover_both_layouts_and_normalise_the_prefix():
    expected = [
        f"logs/AWSLogs/{ACCOUNT}/vpcflowlogs/eu-west-1/2026/01/02/",
        f"logs/{HIVE_DIRS}/",
    ]
    assert day_prefixes("logs", ACCOUNT, "eu-west-1", "2026-01-02") == expected
    assert day_prefixes("/logs/", ACCOUNT, "eu-west-1", date(2026, 1, 2)) == expected
    no_prefix = day_prefixes("", ACCOUNT, "eu-west-1", "2026-01-02")
    assert no_prefix[0].startswith("AWSLogs/")
    assert day_prefixes(None, ACCOUNT, "eu-west-1", "2026-01-02") == no_prefix


def test_every_key_of_a_day_starts_with_one_of_its_prefixes():
    keys = [
        f"logs/AWSLogs/{ACCOUNT}/vpcflowlogs/eu-west-1/2026/01/02/{FILE}",
        f"logs/AWSLogs/{ACCOUNT}/vpcflowlogs/eu-west-1/2026/01/02/07/{FILE}",
        f"logs/{HIVE_DIRS}/{FILE}",
        f"logs/{HIVE_DIRS}/hour=07/{FILE}",
    ]
    prefixes = day_prefixes("logs", ACCOUNT, "eu-west-1", "2026-01-02")
    for key in keys:
        parsed = parse_key(key)
        assert parsed.day == "2026-01-02"
        assert any(key.startswith(p) for p in prefixes)
        assert day_prefixes(parsed.prefix, parsed.account_id, parsed.region, parsed.day) == prefixes


def test_day_prefixes_reject_a_bad_day():
    with pytest.raises(ValueError):
        day_prefixes("", ACCOUNT, "eu-west-1", "2026-13-01")
