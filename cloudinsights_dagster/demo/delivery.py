"""The demo estate's flow-log deliveries: each window's files, uploaded to the log archive's
buckets as AWS delivers them (S3 -> SNS -> the collector's queue)."""

from __future__ import annotations

from dataclasses import dataclass

from cloudinsights_dagster.demo.estate import (
    COLLECTOR_ACCOUNT,
    FLOWLOGS_GROUP,
    PLAN,
    QUEUE_REGION,
    UNMONITORED_ACCOUNT,
    WATCHED,
    Estate,
    archive_bucket,
    https_open,
)
from cloudinsights_dagster.demo.traffic import (
    CUSTOM_FIELDS,
    DEFAULT_FIELDS,
    Eni,
    flow_log_gzip,
    object_key,
    window_records,
)

UNMONITORED_ENIS = (
    Eni("eni-0a4444444444444a1", "10.44.0.10", "vpc-0a44444444444444a", "subnet-0a444444444444a", "-"),
    Eni("eni-0a4444444444444a2", "10.44.0.11", "vpc-0a44444444444444a", "subnet-0a444444444444a", "-"),
)  # fmt: skip


@dataclass(frozen=True)
class Delivery:
    bucket: str
    key: str
    records: int
    note: str  # what the product should make of it


def _deliveries_of_window(estate: Estate) -> list[tuple[str, str, str, tuple[str, ...], int, str]]:
    """(account, region, bucket, fields, records, note) per flow log, per window."""
    out = []
    for plan in PLAN:
        if not plan.flow_logs or plan.group != FLOWLOGS_GROUP:
            continue
        for region in plan.regions:
            bucket = archive_bucket(region if plan.log_archive else QUEUE_REGION)
            if plan.flow_log_format:
                out.append((plan.account_id, region, bucket, CUSTOM_FIELDS, 1200, "loads"))
            else:
                out.append((plan.account_id, region, bucket, DEFAULT_FIELDS, 200,
                            "fails: AWS's default format lacks mandatory fields"))  # fmt: skip
    out.append((UNMONITORED_ACCOUNT, QUEUE_REGION, archive_bucket(QUEUE_REGION), CUSTOM_FIELDS,
                200, "filtered: no inventory integration monitors that account"))  # fmt: skip
    return out


def deliver_window(estate: Estate, window_start: int, changes_applied: int) -> list[Delivery]:
    """Upload the files of the five minutes after `window_start` (epoch seconds), delivered ten
    minutes later as AWS does, into the archive buckets (S3 -> SNS -> the collector's queue)."""
    delivered = []
    for n, (account, region, bucket, fields, count, note) in enumerate(
        _deliveries_of_window(estate)
    ):
        world = estate.worlds.get((account, region))
        if world is None:
            enis, flow_log_id = list(UNMONITORED_ENIS), "fl-0a4444444444444a"
        else:
            enis, flow_log_id = estate.enis(account, region), world.flow_log_id
        watched = (account, region) == WATCHED
        rows = window_records(
            account,
            enis,
            window_start,
            count,
            seed=window_start + n,
            https_open=https_open(changes_applied) or not watched,
        )
        key = object_key(account, region, flow_log_id, window_start + 600, f"w{n}")
        s3 = estate.admin_client(COLLECTOR_ACCOUNT, region, "s3")
        s3.put_object(Bucket=bucket, Key=key, Body=flow_log_gzip(rows, fields))
        delivered.append(Delivery(bucket, key, len(rows), note))
    return delivered
