"""One inventory tick for a batch of locations: assume each location's role, collect, store the
snapshot, and say in integration logs what changed in the collector's access.

Dagster-free: the inventory asset calls `snapshot_locations` with the tick's time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from cloudinsights_dagster import aws, catalog
from cloudinsights_dagster.integration_logs import LogEntry, add_logs
from cloudinsights_dagster.inventory.collect import collect_location, enabled_resource_types
from cloudinsights_dagster.inventory.model import ApiOutcome, CollectionResult
from cloudinsights_dagster.inventory.store import SnapshotWrite, latest_snapshot, record_snapshot
from cloudinsights_dagster.registry import Location, Registry
from cloudinsights_dagster.warehouse.db import session_scope

SessionFactory = Callable[[aws.RoleTarget, str], boto3.Session]


@dataclass
class LocationReport:
    location_key: str
    integration_ids: list[int]
    result: CollectionResult
    write: SnapshotWrite | None = None
    assume_role_error: str | None = None
    error: str | None = None  # the snapshot could not be stored
    logs: list[LogEntry] = field(default_factory=list)

    @property
    def denied(self) -> list[ApiOutcome]:
        return [o for o in self.result.outcomes if o.outcome == "denied"]

    @property
    def failed(self) -> list[ApiOutcome]:
        return [o for o in self.result.outcomes if o.outcome == "failed"]


def default_session_factory(target: aws.RoleTarget, region: str) -> boto3.Session:
    return aws.assumed_role_session(target, region)


def locations_by_key(registry: Registry, keys: Sequence[str]) -> dict[str, list[Location]]:
    """The registered locations among `keys`; one location may belong to several groups."""
    wanted = set(keys)
    grouped: dict[str, list[Location]] = defaultdict(list)
    for location in registry.locations():
        if location.key in wanted:
            grouped[location.key].append(location)
    return grouped


def _collect_one(
    registry: Registry,
    locations: list[Location],
    session_factory: SessionFactory,
) -> tuple[CollectionResult, str | None]:
    # Several account groups may monitor one location: the first role that works reads it for
    # all, and resource groups are read unless every group disabled them.
    disabled = frozenset.intersection(*(loc.disabled_resource_groups for loc in locations))
    first = locations[0]
    error = None
    for location in locations:
        target = aws.RoleTarget(location.role_arn, registry.external_id(location.account_group))
        session = session_factory(target, location.region)
        try:
            session.get_credentials().get_frozen_credentials()  # AssumeRole happens here
        except (ClientError, BotoCoreError) as exc:
            error = f"AssumeRole {location.role_arn}: {aws.error_message(exc)}"
            continue
        return collect_location(session, location.account_id, location.region, disabled), None
    # No role could be assumed: every API is unknown this time (never a mass delete).
    outcomes = [
        ApiOutcome(rt.name, rt.action, "failed", error, 0)
        for rt in enabled_resource_types(disabled)
    ]
    return CollectionResult(first.key, first.account_id, first.region, [], outcomes), error


def _access_logs(
    report: LocationReport, previous_outcomes: dict[str, str], at: datetime
) -> list[LogEntry]:
    """Log an API when its outcome changes (denied, failed, recovered), not at every tick."""
    entries = []
    for integration_id in report.integration_ids:
        if report.assume_role_error:
            entries.append(
                LogEntry(
                    integration_id,
                    "assumeRole",
                    "error",
                    f"could not assume the inventory role for {report.location_key}",
                    at,
                    {"location": report.location_key, "error": report.assume_role_error},
                )
            )
            continue
        for outcome in report.result.outcomes:
            before = previous_outcomes.get(outcome.action, "ok")
            if outcome.outcome == before:
                continue
            if outcome.outcome == "ok":
                entries.append(
                    LogEntry(
                        integration_id,
                        "inventoryApi",
                        "info",
                        f"{outcome.action} works again in {report.location_key}",
                        at,
                        {"location": report.location_key, "api": outcome.action},
                    )
                )
            else:
                entries.append(
                    LogEntry(
                        integration_id,
                        "inventoryApi",
                        "warning" if outcome.outcome == "denied" else "error",
                        f"{outcome.action} {outcome.outcome} in {report.location_key}: "
                        f"{catalog.RESOURCE_TYPES[outcome.resource_type].name} data "
                        "is not updated",
                        at,
                        {
                            "location": report.location_key,
                            "api": outcome.action,
                            "error": outcome.error,
                        },
                    )
                )
    return entries


def snapshot_locations(
    registry: Registry,
    keys: Sequence[str],
    snapshot_time: datetime,
    session_factory: SessionFactory = default_session_factory,
    max_parallel_locations: int = 4,
) -> list[LocationReport]:
    """Collect and store one snapshot per location; one location's failure never stops others."""
    grouped = locations_by_key(registry, keys)

    def work(key: str) -> LocationReport:
        locations = grouped[key]
        result, assume_error = _collect_one(registry, locations, session_factory)
        report = LocationReport(
            key,
            sorted({loc.integration_id for loc in locations}),
            result,
            assume_role_error=assume_error,
        )
        try:
            with session_scope(registry.database_url) as session:
                previous = latest_snapshot(session, key)
                before = {
                    o["action"]: o["outcome"] for o in (previous.api_outcomes if previous else [])
                }
                report.write = record_snapshot(session, result, snapshot_time)
                if not report.write.already_recorded:
                    report.logs = _access_logs(report, before, snapshot_time)
                    add_logs(session, report.logs)
        except Exception as exc:  # reported per location; the batch goes on
            report.error = f"{type(exc).__name__}: {exc}"
        return report

    present = [k for k in keys if k in grouped]
    with ThreadPoolExecutor(max_workers=max(1, max_parallel_locations)) as pool:
        reports = list(pool.map(work, present))
    for key in keys:
        if key not in grouped:
            reports.append(
                LocationReport(
                    key,
                    [],
                    CollectionResult(key, "", "", [], []),
                    error=f"location {key} is not registered (integration removed or "
                    "region disabled)",
                )
            )
    return reports
