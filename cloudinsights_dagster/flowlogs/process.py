"""Process one flow-log partition (location x day): list the day's prefixes in the location's
buckets, then download, parse, check, enrich and write every pending object, one Parquet output
per object. One bad object fails alone; the ledger says what became of each.

Dagster-free: the `flowlog_records` asset calls `process_partition`.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import boto3
import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError

from cloudinsights_dagster import aws
from cloudinsights_dagster.flowlogs.fields import recreate_hint
from cloudinsights_dagster.flowlogs.inventory_table import eni_table
from cloudinsights_dagster.flowlogs.keys import day_prefixes, parse_key_or_none
from cloudinsights_dagster.flowlogs.ledger import (
    ObjectRef,
    known_buckets,
    partition_objects,
    upsert_object,
)
from cloudinsights_dagster.flowlogs.parse import (
    FlowLogCorruptError,
    FlowLogError,
    FlowLogFormatError,
)
from cloudinsights_dagster.integration_logs import LogEntry, add_logs
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import session_scope

SessionFactory = Callable[[aws.RoleTarget, str], boto3.Session]
# Records of a day may start a little before it (aggregation intervals, delivery delay).
INVENTORY_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class Reader:
    """A flow-logs integration that can read buckets of its account."""

    integration_id: int
    account_group: str
    account_id: str
    role_arn: str


@dataclass
class PartitionReport:
    location_key: str
    day: str
    objects: Counter[str] = field(default_factory=Counter)  # status -> count
    records_read: int = 0
    records_loaded: int = 0
    records_filtered: int = 0
    listed: int = 0
    outputs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def readers_for(registry: Registry, location_key: str) -> list[Reader]:
    """Flow-logs integrations of every account group that monitors this location."""
    groups = {loc.account_group for loc in registry.locations() if loc.key == location_key}
    return [
        Reader(info.id, info.account_group, info.account_id, info.role_arn)
        for info in registry.list_integrations()
        if info.integration_type == "flowlogs" and info.account_group in groups
    ]


def default_session_factory(target: aws.RoleTarget, region: str) -> boto3.Session:
    return aws.assumed_role_session(target, region)


def _s3(registry: Registry, reader: Reader, region: str, factory: SessionFactory):
    target = aws.RoleTarget(reader.role_arn, registry.external_id(reader.account_group))
    return aws.client(factory(target, region), "s3", region)


def configured_buckets(database_url: str, location_key: str) -> set[tuple[str, str]]:
    """(bucket, prefix) of the location's flow logs that deliver to S3, from the inventory."""
    with session_scope(database_url) as session:
        rows = session.scalars(
            sa.select(s.InventoryResource.data).where(
                s.InventoryResource.location_key == location_key,
                s.InventoryResource.resource_type == "flow_log",
            )
        )
        return {
            (d["destination_bucket"], d.get("destination_prefix") or "")
            for d in rows
            if d.get("destination_type") == "s3" and d.get("destination_bucket")
        }


def list_day(
    registry: Registry,
    location_key: str,
    day: str,
    readers: list[Reader],
    factory: SessionFactory,
    now: datetime,
    report: PartitionReport,
    reprocess: bool,
) -> list[LogEntry]:
    """Record every object of the day's prefixes in the ledger (new ones pending)."""
    account_id, _, region = location_key.partition("-")
    logs: list[LogEntry] = []
    with session_scope(registry.database_url) as session:
        from_ledger = known_buckets(session, location_key)
    targets: dict[tuple[str, str], set[int]] = {}
    for integration_id, bucket, prefix in from_ledger:
        targets.setdefault((bucket, prefix), set()).add(integration_id)
    for bucket, prefix in configured_buckets(registry.database_url, location_key):
        targets.setdefault((bucket, prefix), set())
    by_id = {r.integration_id: r for r in readers}
    for (bucket, prefix), integration_ids in sorted(targets.items()):
        # A bucket belongs to one account: try its known integration, else every reader.
        candidates = [by_id[i] for i in sorted(integration_ids) if i in by_id] or readers
        for reader in candidates:
            try:
                keys = _list_keys(
                    _s3(registry, reader, region, factory),
                    bucket,
                    day_prefixes(prefix, account_id, region, day),
                    reader.account_id,
                )
            except (ClientError, BotoCoreError) as exc:
                if not integration_ids:
                    continue  # a configured bucket of another account: not this reader's
                logs.append(
                    LogEntry(
                        reader.integration_id,
                        "logDownload",
                        "error",
                        f"could not list s3://{bucket}/ for {location_key} {day}: "
                        f"{aws.error_message(exc)}",
                        now,
                        {
                            "bucket": bucket,
                            "prefix": prefix,
                            "api": "s3:ListObjectsV2",
                            "error": aws.error_message(exc),
                        },
                    )
                )
                report.errors.append(f"list s3://{bucket}: {aws.error_message(exc)}")
                continue
            with session_scope(registry.database_url) as session:
                for key, etag, size in keys:
                    parsed = parse_key_or_none(key)
                    if parsed is None or parsed.location_key != location_key or parsed.day != day:
                        continue
                    ref = ObjectRef(
                        reader.integration_id, bucket, key, etag, size, location_key, day
                    )
                    outcome = upsert_object(session, ref, "backfill", now=now)
                    report.listed += 1
                    if outcome == "duplicate" and reprocess:
                        _reset(session, ref)
            break
    return logs


def _reset(session, ref: ObjectRef) -> None:
    row = session.scalar(
        sa.select(s.FlowLogObject).where(
            s.FlowLogObject.integration_id == ref.integration_id,
            s.FlowLogObject.bucket == ref.bucket,
            s.FlowLogObject.object_key == ref.key,
        )
    )
    if row is not None and row.status in ("loaded", "failed"):
        row.status, row.error = "pending", None


def _list_keys(s3, bucket: str, prefixes: list[str], owner: str) -> list[tuple[str, str, int]]:
    found = []
    paginator = s3.get_paginator("list_objects_v2")
    for prefix in prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, ExpectedBucketOwner=owner):
            for item in page.get("Contents", []):
                found.append((item["Key"], item.get("ETag", "").strip('"') or None, item["Size"]))
    return found


def process_partition(
    registry: Registry,
    location_key: str,
    day: str,
    output_base: str,
    now: datetime,
    *,
    session_factory: SessionFactory = default_session_factory,
    reprocess: bool = False,
) -> PartitionReport:
    """List, then process every pending object of one partition; never raises for one object."""
    from cloudinsights_dagster.flowlogs.enrich import EniIndex
    from cloudinsights_dagster.flowlogs.writer import output_path, process_object

    report = PartitionReport(location_key, day)
    readers = readers_for(registry, location_key)
    logs = list_day(registry, location_key, day, readers, session_factory, now, report, reprocess)
    _, _, region = location_key.partition("-")
    day_start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    group_locations: dict[str, list[str]] = {}
    for loc in registry.locations():
        group_locations.setdefault(loc.account_group, []).append(loc.key)
    indexes: dict[str, EniIndex] = {}
    by_id = {r.integration_id: r for r in readers}

    with session_scope(registry.database_url) as session:
        pending = [
            (o.id, o.integration_id, o.bucket, o.object_key)
            for o in partition_objects(session, location_key, day, ["pending"])
        ]
    for object_id, integration_id, bucket, key in pending:
        reader = by_id.get(integration_id)
        details = {"bucket": bucket, "key": key}
        if reader is None:  # its account group no longer monitors this location
            _finish(
                registry,
                object_id,
                "filtered",
                now,
                error=f"{location_key} is not monitored by the integration's account group",
            )
            report.objects["filtered"] += 1
            continue
        group = reader.account_group
        if group not in indexes:
            keys = sorted(set(group_locations.get(group, [])))
            table = eni_table(
                registry.database_url,
                keys,
                day_start - INVENTORY_MARGIN,
                day_start + timedelta(days=1) + INVENTORY_MARGIN,
            )
            accounts = {k.partition("-")[0] for k in keys}
            indexes[group] = EniIndex(table, accounts)
        out = output_path(f"{output_base.rstrip('/')}/integration={integration_id}", bucket, key)
        try:
            with tempfile.NamedTemporaryFile(suffix=".flowlog") as local:
                s3 = _s3(registry, reader, region, session_factory)
                s3.download_fileobj(
                    bucket, key, local, ExtraArgs={"ExpectedBucketOwner": reader.account_id}
                )
                local.flush()
                result = process_object(
                    local.name, out, indexes[group], (), name=f"s3://{bucket}/{key}"
                )
        except (ClientError, BotoCoreError) as exc:
            error = aws.error_message(exc)
            logs.append(
                LogEntry(
                    integration_id,
                    "logDownload",
                    "error",
                    f"could not download s3://{bucket}/{key}: {error}",
                    now,
                    {**details, "api": "s3:GetObject", "error": error},
                )
            )
            _finish(registry, object_id, "failed", now, error=f"download: {error}")
            report.objects["failed"] += 1
            report.errors.append(f"s3://{bucket}/{key}: {error}")
            continue
        except FlowLogError as exc:
            message = str(exc)
            if isinstance(exc, FlowLogFormatError):
                missing = getattr(exc, "missing_fields", None) or []
                message = (
                    (
                        f"s3://{bucket}/{key} lacks mandatory fields {', '.join(missing)}: "
                        f"{recreate_hint(missing)}"
                    )
                    if missing
                    else message
                )
            logs.append(
                LogEntry(
                    integration_id,
                    "logParse",
                    "error",
                    message,
                    now,
                    {
                        **details,
                        "error": str(exc),
                        "kind": "format"
                        if isinstance(exc, FlowLogFormatError)
                        else "corrupt"
                        if isinstance(exc, FlowLogCorruptError)
                        else "parse",
                    },
                )
            )
            _finish(registry, object_id, "failed", now, error=message)
            report.objects["failed"] += 1
            report.errors.append(message)
            continue
        if result.records_filtered:
            accounts = ", ".join(sorted(result.filtered_by_account)) or "?"
            logs.append(
                LogEntry(
                    integration_id,
                    "logFilter",
                    "warning",
                    f"{result.records_filtered} record(s) of s3://{bucket}/{key} belong to accounts "
                    f"no inventory integration of this account group monitors ({accounts}): not loaded",
                    now,
                    {**details, "accounts": sorted(result.filtered_by_account)},
                )
            )
        _finish(registry, object_id, "loaded", now, result=result)
        report.objects["loaded"] += 1
        report.records_read += result.records_read
        report.records_loaded += result.records_loaded
        report.records_filtered += result.records_filtered
        report.outputs.append(out)
    with session_scope(registry.database_url) as session:
        add_logs(session, logs)
    return report


def _finish(
    registry: Registry,
    object_id: int,
    status: str,
    now: datetime,
    *,
    error: str | None = None,
    result=None,
) -> None:
    with session_scope(registry.database_url) as session:
        row = session.get(s.FlowLogObject, object_id)
        row.status, row.error, row.processed_at = status, error, now
        if result is not None:
            row.records_read = result.records_read
            row.records_loaded = result.records_loaded
            row.records_filtered = result.records_filtered
            row.output_path = result.out_path
