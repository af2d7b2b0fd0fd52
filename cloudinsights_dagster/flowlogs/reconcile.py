"""Completeness of a day: list each monitored location's day prefixes in every bucket its flow
logs deliver to, compare with the ledger, and record what no notification announced (lost
notifications, a purged queue, a subscription gap) as pending, so the day's runs load it.

With `reprocess`, every already processed object of the scope goes back to pending too (a
backfill): each object's output is replaced, never duplicated.

Buckets come from two places: the inventory (`DescribeFlowLogs` destinations) and the ledger
(buckets where the location's objects were seen). Dagster-free: the `flowlog_records` asset
calls `reconcile_day` in backfills and in the daily reconciliation run.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError

from cloudinsights_dagster import aws
from cloudinsights_dagster.flowlogs.keys import day_prefixes, parse_key_or_none
from cloudinsights_dagster.flowlogs.ledger import EVERY_LOCATION, Scope
from cloudinsights_dagster.flowlogs.s3_access import Reader, S3Clients, flowlogs_readers
from cloudinsights_dagster.integration_logs import LogEntry, add_logs
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import session_scope

LIST_THREADS = 8


@dataclass
class ReconcileReport:
    day: str
    locations: int = 0
    listed: int = 0  # objects found in S3
    missed: Counter[int] = field(default_factory=Counter)  # integration -> objects no one notified
    requeued: int = 0  # processed objects set back to pending (reprocess)
    errors: list[str] = field(default_factory=list)

    @property
    def missed_total(self) -> int:
        return sum(self.missed.values())


def _buckets_by_location(
    session, location_keys: list[str]
) -> dict[str, dict[tuple[str, str], set]]:
    """location -> {(bucket, prefix): integrations seen there} from the ledger and inventory."""
    found: dict[str, dict[tuple[str, str], set]] = {k: {} for k in location_keys}
    rows = session.execute(
        sa.select(
            s.FlowLogObject.location_key,
            s.FlowLogObject.integration_id,
            s.FlowLogObject.bucket,
            sa.func.min(s.FlowLogObject.object_key),
        )
        .where(s.FlowLogObject.location_key.in_(location_keys))
        .group_by(
            s.FlowLogObject.location_key, s.FlowLogObject.integration_id, s.FlowLogObject.bucket
        )
    )
    for location, integration_id, bucket, key in rows:
        prefix = key.split("AWSLogs/", 1)[0].rstrip("/")
        found[location].setdefault((bucket, prefix), set()).add(integration_id)
    configured = session.execute(
        sa.select(s.InventoryResource.location_key, s.InventoryResource.data).where(
            s.InventoryResource.location_key.in_(location_keys),
            s.InventoryResource.resource_type == "flow_log",
        )
    )
    for location, data in configured:
        if data.get("destination_type") == "s3" and data.get("destination_bucket"):
            target = (data["destination_bucket"], data.get("destination_prefix") or "")
            found[location].setdefault(target, set())
    return found


def _list(s3, bucket: str, prefixes: list[str], owner: str) -> list[tuple[str, str | None, int]]:
    found = []
    paginator = s3.get_paginator("list_objects_v2")
    for prefix in prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, ExpectedBucketOwner=owner):
            for item in page.get("Contents", []):
                found.append((item["Key"], item.get("ETag", "").strip('"') or None, item["Size"]))
    return found


def reconcile_day(
    registry: Registry,
    day: str,
    now: datetime,
    *,
    scope: Scope = EVERY_LOCATION,
    reprocess: bool = False,
    clients: S3Clients | None = None,
) -> ReconcileReport:
    report = ReconcileReport(day)
    clients = clients or S3Clients(registry)
    readers = flowlogs_readers(registry)
    groups_of: dict[str, set[str]] = {}
    for loc in registry.locations():
        if scope.locations and loc.key not in scope.locations:
            continue
        if scope.accounts and loc.account_id not in scope.accounts:
            continue
        groups_of.setdefault(loc.key, set()).add(loc.account_group)
    locations = sorted(groups_of)
    report.locations = len(locations)
    # Its own transactions, one before and one after the S3 listing: none stays open while the
    # day's prefixes are listed (minutes for a large day).
    with session_scope(registry.database_url) as session:
        targets = _buckets_by_location(session, locations)

    def list_location(location: str):
        """(location, [(reader, bucket, key, etag, size)], [LogEntry], [error])"""
        account_id, _, region = location.partition("-")
        candidates_all = [r for r in readers.values() if r.account_group in groups_of[location]]
        found: list[tuple] = []
        logs: list = []
        errors: list[str] = []
        for (bucket, prefix), integration_ids in sorted(targets[location].items()):
            known = [readers[i] for i in sorted(integration_ids) if i in readers]
            # A bucket belongs to one account: its known integration, else every reader.
            for reader in known or candidates_all:
                try:
                    keys = _list(
                        clients.s3(reader, region),
                        bucket,
                        day_prefixes(prefix, account_id, region, day),
                        reader.account_id,
                    )
                except (ClientError, BotoCoreError) as exc:
                    if not integration_ids:
                        continue  # a configured bucket of another account: not this reader's
                    error = aws.error_message(exc)
                    logs.append(_list_error(reader, bucket, prefix, location, day, error, now))
                    errors.append(f"list s3://{bucket}/ for {location}: {error}")
                    continue
                found.extend((reader, bucket, *item) for item in keys)
                break
        return location, found, logs, errors

    with ThreadPoolExecutor(LIST_THREADS) as pool:
        listings = list(pool.map(list_location, locations))

    logs: list[LogEntry] = []
    with session_scope(registry.database_url) as session:
        for location, found, list_logs, errors in listings:
            logs.extend(list_logs)
            report.errors.extend(errors)
            existing = {
                (row.integration_id, row.bucket, row.object_key): row
                for row in session.scalars(
                    sa.select(s.FlowLogObject).where(
                        s.FlowLogObject.location_key == location, s.FlowLogObject.day == day
                    )
                )
            }
            for reader, bucket, key, etag, size in found:
                parsed = parse_key_or_none(key)
                if parsed is None or parsed.location_key != location or parsed.day != day:
                    continue
                report.listed += 1
                row = existing.get((reader.integration_id, bucket, key))
                if row is None:
                    session.add(_new_row(reader, bucket, key, etag, size, location, day, now))
                    report.missed[reader.integration_id] += 1
                elif etag and row.etag and etag != row.etag:
                    row.etag, row.size, row.status, row.error = etag, size, "pending", None
                    row.claimed_by_run = row.lease_expires_at = None
                    row.attempts = 0
                    report.requeued += 1
                elif reprocess and row.status in ("loaded", "failed"):
                    row.status, row.error, row.attempts = "pending", None, 0
                    report.requeued += 1
        for integration_id, count in sorted(report.missed.items()):
            logs.append(
                LogEntry(
                    integration_id,
                    "reconcile",
                    "warning",
                    f"{count} flow-log object(s) of {day} were in S3 but no notification announced "
                    "them (lost notifications, a purged queue or a subscription gap): now loading",
                    now,
                    {"day": day, "missed": count},
                )
            )
        add_logs(session, logs)
    return report


def _new_row(reader: Reader, bucket, key, etag, size, location, day, now) -> s.FlowLogObject:
    return s.FlowLogObject(
        integration_id=reader.integration_id,
        bucket=bucket,
        object_key=key,
        etag=etag,
        size=size,
        location_key=location,
        day=day,
        source="backfill",
        status="pending",
        first_seen_at=now,
    )


def _list_error(reader: Reader, bucket, prefix, location, day, error, now) -> LogEntry:
    return LogEntry(
        reader.integration_id,
        "logDownload",
        "error",
        f"could not list s3://{bucket}/ for {location} {day}: {error}",
        now,
        {"bucket": bucket, "prefix": prefix, "api": "s3:ListObjectsV2", "error": error},
    )
