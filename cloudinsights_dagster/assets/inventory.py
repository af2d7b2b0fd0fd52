"""Inventory assets: five-minute snapshots per location and the config changes between them."""

from collections import Counter

import dagster as dg

from cloudinsights_dagster import aws, partitions, tags
from cloudinsights_dagster.assets.common import OWNERS, markdown_table
from cloudinsights_dagster.inventory import checks
from cloudinsights_dagster.inventory.monitor import snapshot_locations
from cloudinsights_dagster.inventory.store import compute_pending_changes
from cloudinsights_dagster.resources import WarehouseResource
from cloudinsights_dagster.run_time import run_time

# Dagster copies a range run's metadata into every partition's materialization (and the step
# output): keep it small and bounded, whatever the number of locations (a few hundred bytes each).
SUMMARY_ROWS = 10
# Tables in materialization metadata: every row is repeated in each partition's event.
LOCATION_ROWS = 5

COMPLETENESS = "snapshot_complete"
REFERENTIAL = "references_resolve"
DUPLICATES = "no_duplicate_ids"


def _check(
    name: str, outcome: checks.CheckOutcome, severity: dg.AssetCheckSeverity, **figures: int
):
    return dg.AssetCheckResult(
        check_name=name,
        passed=outcome.passed,
        severity=severity,
        metadata={
            **figures,
            "problems": len(outcome.problems),
            "details": dg.MetadataValue.md(
                "\n".join(f"- {p}" for p in outcome.problems[:SUMMARY_ROWS]) or "none"
            ),
        },
    )


@dg.asset(
    partitions_def=partitions.locations,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="inventory",
    kinds={"aws", "ec2"},
    owners=OWNERS,
    check_specs=[
        dg.AssetCheckSpec(
            COMPLETENESS,
            asset="inventory_snapshot",
            description="Every inventory API answered (WARN lists denied/failed).",
        ),
        dg.AssetCheckSpec(
            REFERENTIAL,
            asset="inventory_snapshot",
            description="ENIs' subnets and VPCs exist; route targets are known.",
        ),
        dg.AssetCheckSpec(
            DUPLICATES,
            asset="inventory_snapshot",
            description="No resource id appears twice in a snapshot.",
        ),
    ],
    description=(
        "The network inventory of each location (AWS account + region) through the inventory "
        "role: VPCs, subnets, route tables, gateways, ENIs, instances, security groups, load "
        "balancers, flow-log configurations and more. Stored as temporal versions in "
        "`inventory_resources`, one `inventory_snapshots` row per location and tick. A denied or "
        "failed API leaves that resource type unknown, never deleted."
    ),
)
def inventory_snapshot(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    at = run_time(context.run.tags)
    keys = list(context.partition_keys)
    sessions = aws.CollectorSessions(budgets=aws.RateBudgets())
    reports = snapshot_locations(warehouse.registry(), keys, at, sessions)
    stats = sessions.stats
    # Run tags, not per-partition metadata: once per run, searchable in the runs list.
    context.instance.add_run_tags(
        context.run.run_id,
        {
            tags.AWS_REQUESTS: str(stats.total_requests),
            tags.AWS_THROTTLES: str(stats.total_throttles),
            tags.ASSUME_ROLE_CALLS: str(sessions.assume_role_calls),
        },
    )
    collector_problems = sorted(
        {r.collector_problem.summary for r in reports if r.collector_problem}
    )

    counts: Counter[str] = Counter()
    denied_rows, location_rows, problems = [], [], []
    results = [r.result for r in reports]
    for report in reports:
        if report.error:
            problems.append(f"{report.location_key}: {report.error}")
        counts.update(report.result.counts_by_type)
        for outcome in report.denied + report.failed:
            denied_rows.append(
                (report.location_key, outcome.action, outcome.outcome, (outcome.error or "")[:120])
            )
        opened = report.write.versions_opened if report.write else 0
        closed = report.write.versions_closed if report.write else 0
        state = "not stored" if report.error else report.result.completeness
        # Only the locations worth a look (not complete, not stored, or changed since their
        # previous snapshot) are listed; first snapshots (baselines) are counted.
        if state != "complete" or ((opened or closed) and not report.first_snapshot):
            location_rows.append(
                (report.location_key, state, len(report.result.records), opened, closed)
            )
    rank = {"not stored": 0, "failed": 1, "partial": 2}
    location_rows.sort(key=lambda r: (rank.get(r[1], 3), -(r[3] + r[4]), r[0]))
    completeness = checks.across_locations(checks.completeness, results)
    referential = checks.across_locations(checks.referential_integrity, results)
    duplicates = checks.across_locations(checks.duplicate_ids, results)
    # One line per run, not per location: the event log grows with runs, not locations.
    context.log.info(
        f"snapshot at {at.isoformat()} of {len(keys)} location(s), {len(problems)} not stored; "
        f"{stats.total_requests} AWS requests, {stats.total_throttles} throttled, "
        f"{sessions.assume_role_calls} AssumeRole, {stats.waited_seconds:.1f} s waited on rate "
        "budgets"
    )
    for summary_line in collector_problems:
        context.log.error(f"collector problem: {summary_line}")
    if problems:
        context.log.error("not stored: " + "; ".join(problems[:SUMMARY_ROWS]))
    if problems and len(problems) == len(reports):
        raise dg.Failure(
            description="no location could be stored: " + "; ".join(problems[:5]),
            metadata={"locations": len(keys)},
        )
    baselines = sum(1 for r in reports if r.first_snapshot and not r.error)
    summary = [
        # Counts by resource type are in the warehouse (`inventory_snapshots`), not here.
        f"{len(keys)} location(s) at {at.isoformat()}"
        + (f" ({baselines} first snapshot(s))" if baselines else "")
        + f", {len(denied_rows)} denied or failed API call(s); {stats.total_requests} AWS "
        f"requests, {stats.total_throttles} throttled",
        *(f"**collector problem**: {line}" for line in collector_problems),
        markdown_table(
            location_rows,
            ("location", "completeness", "resources", "new versions", "closed versions"),
            limit=LOCATION_ROWS,
        )
        if location_rows
        else "every location complete and unchanged",
    ]
    if denied_rows:
        summary.append(
            markdown_table(
                [(loc, api, outcome, err[:60]) for loc, api, outcome, err in denied_rows],
                ("location", "denied or failed API", "outcome", "error"),
                limit=LOCATION_ROWS,
            )
        )
    # Each metadata entry costs ~170 bytes of envelope in every partition's event: few entries.
    return dg.MaterializeResult(
        metadata={
            "resources": sum(counts.values()),
            "summary": dg.MetadataValue.md("\n\n".join(summary)),
        },
        check_results=[
            # A run's check evaluation is stored once per run, not per partition: the place for
            # the run's AWS figures.
            _check(
                COMPLETENESS,
                completeness,
                dg.AssetCheckSeverity.WARN,
                aws_requests=stats.total_requests,
                aws_throttles=stats.total_throttles,
                assume_role_calls=sessions.assume_role_calls,
            ),
            _check(REFERENTIAL, referential, dg.AssetCheckSeverity.WARN),
            _check(DUPLICATES, duplicates, dg.AssetCheckSeverity.ERROR),
        ],
    )


@dg.asset(
    partitions_def=partitions.locations,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[inventory_snapshot],
    group_name="inventory",
    kinds={"sql"},
    owners=OWNERS,
    description=(
        "Config-change events (`config_changes`): created, deleted and modified resources between "
        "consecutive snapshots of a location, with field-level before/after. Lists compare by "
        "identity, so reordering is not a change; a location's first snapshot is its baseline."
    ),
)
def config_changes(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    by_type: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    snapshots = 0
    for key in context.partition_keys:
        with warehouse.session() as session:
            for snapshot in compute_pending_changes(session, key):
                snapshots += 1
                for change in snapshot.changes:
                    by_type[f"{change.resource_type} {change.change_type}"] += 1
                    by_kind[change.change_type] += 1
    counts = ", ".join(f"{kind} {by_kind[kind]}" for kind in ("created", "deleted", "modified"))
    summary = f"{snapshots} snapshot(s) compared: {counts}"
    if by_type:
        summary += "\n\n" + markdown_table(
            sorted(by_type.items(), key=lambda kv: -kv[1]), ("change", "count"), limit=LOCATION_ROWS
        )
    return dg.MaterializeResult(
        metadata={"changes": sum(by_kind.values()), "summary": dg.MetadataValue.md(summary)}
    )
