"""One inventory tick for a batch of locations: assume each location's role, collect, store the
snapshot, and say in integration logs what changed in the collector's access.

Dagster-free: the inventory asset calls `snapshot_locations` with the tick's time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cloudinsights_dagster import aws, catalog
from cloudinsights_dagster.integration_logs import LogEntry, add_logs
from cloudinsights_dagster.inventory.collect import collect_location, enabled_resource_types
from cloudinsights_dagster.inventory.model import ApiOutcome, CollectionResult
from cloudinsights_dagster.inventory.store import SnapshotWrite, latest_snapshot, record_snapshot
from cloudinsights_dagster.registry import Location, Registry
from cloudinsights_dagster.settings import RATE_SHARE_ENV, location_threads
from cloudinsights_dagster.warehouse.db import session_scope

# API calls of one location at once; with the location threads, at most 8 x 4 calls in flight.
API_THREADS_PER_LOCATION = 4


@dataclass
class LocationReport:
    location_key: str
    integration_ids: list[int]
    result: CollectionResult
    write: SnapshotWrite | None = None
    assume_role_error: str | None = None
    # Set when the role could not be assumed because of the collector itself (its credentials,
    # its network): the operator's problem, not the customer's.
    collector_problem: aws.CollectorProblem | None = None
    error: str | None = None  # the snapshot could not be stored
    first_snapshot: bool = False  # the location's baseline: no snapshot before this one
    api_requests: int = 0  # HTTP requests to AWS for this location, retries included
    api_throttles: Counter[str] = field(default_factory=Counter)  # throttled answers by API
    logs: list[LogEntry] = field(default_factory=list)

    @property
    def denied(self) -> list[ApiOutcome]:
        return [o for o in self.result.outcomes if o.outcome == "denied"]

    @property
    def failed(self) -> list[ApiOutcome]:
        return [o for o in self.result.outcomes if o.outcome == "failed"]


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
    sessions: aws.CollectorSessions,
    api_threads: int,
) -> tuple[CollectionResult, aws.AssumeRoleFailed | None]:
    # Several account groups may monitor one location: the first role that works reads it for
    # all, and resource groups are read unless every group disabled them.
    disabled = frozenset.intersection(*(loc.disabled_resource_groups for loc in locations))
    first = locations[0]
    failure: aws.AssumeRoleFailed | None = None
    for location in locations:
        external_id = location.external_id or registry.external_id(location.account_group)
        target = aws.RoleTarget(location.role_arn, external_id)
        try:
            sessions.assume(target)  # once per role per run
        except aws.AssumeRoleFailed as exc:
            failure = exc
            if exc.problem is not None:
                break  # the collector's own problem: no other role would do better
            continue

        def client(service: str, t: aws.RoleTarget = target, loc: Location = location) -> Any:
            return sessions.client(t, service, loc.region, loc.account_id)

        return (
            collect_location(
                None,
                location.account_id,
                location.region,
                disabled,
                max_workers=api_threads,
                client_factory=client,
            ),
            None,
        )
    # No role could be assumed: every API is unknown this time (never a mass delete).
    error = str(failure)
    outcomes = [
        ApiOutcome(rt.name, rt.action, "failed", error, 0)
        for rt in enabled_resource_types(disabled)
    ]
    return CollectionResult(first.key, first.account_id, first.region, [], outcomes), failure


def _throttle_logs(report: LocationReport, at: datetime) -> list[LogEntry]:
    """One entry per location and tick that met throttling: how many answers, which APIs."""
    if not report.api_throttles:
        return []
    total = sum(report.api_throttles.values())
    apis = ", ".join(f"{api} x{n}" for api, n in sorted(report.api_throttles.items()))
    return [
        LogEntry(
            integration_id,
            "throttling",
            "warning",
            f"AWS throttled {total} of {report.api_requests} request(s) in "
            f"{report.location_key} ({apis}); retried with backoff. Lower "
            f"{RATE_SHARE_ENV} if the account's own tools are throttled too",
            at,
            {
                "location": report.location_key,
                "throttles": dict(report.api_throttles),
                "requests": report.api_requests,
            },
        )
        for integration_id in report.integration_ids
    ]


def _access_logs(
    report: LocationReport, previous_outcomes: dict[str, str], at: datetime
) -> list[LogEntry]:
    """Log an API when its outcome changes (denied, failed, recovered), not at every tick."""
    entries = []
    for integration_id in report.integration_ids:
        if report.collector_problem is not None:
            problem = report.collector_problem
            entries.append(
                LogEntry(
                    integration_id,
                    "collector",
                    "error",
                    f"{problem.summary}; {report.location_key} not monitored. Fix: {problem.fix}",
                    at,
                    {
                        "location": report.location_key,
                        "problem": problem.kind,
                        "error": report.assume_role_error,
                    },
                )
            )
            continue
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
    sessions: aws.CollectorSessions | None = None,
    max_parallel_locations: int | None = None,
    api_threads: int = API_THREADS_PER_LOCATION,
) -> list[LocationReport]:
    """Collect and store one snapshot per location; one location's failure never stops others.

    ``sessions`` (default: a new ``CollectorSessions`` with rate budgets) is shared by every
    location of the run: one AssumeRole per role, one client per role, region and service.
    """
    if sessions is None:
        sessions = aws.CollectorSessions(budgets=aws.RateBudgets())
    threads = max_parallel_locations or location_threads()
    grouped = locations_by_key(registry, keys)

    def work(key: str) -> LocationReport:
        locations = grouped[key]
        result, failure = _collect_one(registry, locations, sessions, api_threads)
        report = LocationReport(
            key,
            sorted({loc.integration_id for loc in locations}),
            result,
            assume_role_error=str(failure) if failure else None,
            collector_problem=failure.problem if failure else None,
        )
        report.api_requests, report.api_throttles = sessions.stats.for_location(key)
        try:
            # Each location's snapshot commits on its own, in its worker thread: a failed
            # location never undoes another's.
            with session_scope(registry.database_url) as session:
                previous = latest_snapshot(session, key)
                report.first_snapshot = previous is None
                before = {
                    o["action"]: o["outcome"] for o in (previous.api_outcomes if previous else [])
                }
                report.write = record_snapshot(session, result, snapshot_time)
                if not report.write.already_recorded:
                    report.logs = _access_logs(report, before, snapshot_time) + _throttle_logs(
                        report, snapshot_time
                    )
                    add_logs(session, report.logs)
        except Exception as exc:  # reported per location; the batch goes on
            report.error = f"{type(exc).__name__}: {exc}"
        return report

    present = [k for k in keys if k in grouped]
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="location") as pool:
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
