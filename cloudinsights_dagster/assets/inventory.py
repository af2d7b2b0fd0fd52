"""Inventory assets: five-minute snapshots per location and the config changes between them."""

from collections import Counter

import dagster as dg

from cloudinsights_dagster import partitions
from cloudinsights_dagster.assets.common import OWNERS, markdown_table
from cloudinsights_dagster.inventory import checks
from cloudinsights_dagster.inventory.monitor import snapshot_locations
from cloudinsights_dagster.inventory.store import compute_pending_changes
from cloudinsights_dagster.resources import WarehouseResource
from cloudinsights_dagster.run_time import run_time
from cloudinsights_dagster.warehouse.db import session_scope

COMPLETENESS = "snapshot_complete"
REFERENTIAL = "references_resolve"
DUPLICATES = "no_duplicate_ids"


def _check(name: str, outcome: checks.CheckOutcome, severity: dg.AssetCheckSeverity):
    return dg.AssetCheckResult(
        check_name=name,
        passed=outcome.passed,
        severity=severity,
        metadata={
            "problems": len(outcome.problems),
            "details": dg.MetadataValue.md(
                "\n".join(f"- {p}" for p in outcome.problems[:50]) or "none"
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
    reports = snapshot_locations(warehouse.registry(), keys, at)

    counts: Counter[str] = Counter()
    denied_rows, location_rows, problems = [], [], []
    results = [r.result for r in reports]
    for report in reports:
        if report.error:
            problems.append(f"{report.location_key}: {report.error}")
            context.log.error(f"{report.location_key}: {report.error}")
        counts.update(report.result.counts_by_type)
        for outcome in report.denied + report.failed:
            denied_rows.append(
                (report.location_key, outcome.action, outcome.outcome, (outcome.error or "")[:120])
            )
        location_rows.append(
            (
                report.location_key,
                report.result.completeness,
                len(report.result.records),
                report.write.versions_opened if report.write else "-",
                report.write.versions_closed if report.write else "-",
            )
        )
    completeness = checks.across_locations(checks.completeness, results)
    referential = checks.across_locations(checks.referential_integrity, results)
    duplicates = checks.across_locations(checks.duplicate_ids, results)
    context.log.info(f"snapshot at {at.isoformat()} of {len(keys)} location(s)")
    if problems and len(problems) == len(reports):
        raise dg.Failure(
            description="no location could be stored: " + "; ".join(problems[:5]),
            metadata={"locations": len(keys)},
        )
    return dg.MaterializeResult(
        metadata={
            "snapshot_time": at.isoformat(),
            "locations": len(keys),
            "resources": sum(counts.values()),
            "denied_or_failed_apis": len(denied_rows),
            "resources_by_type": dg.MetadataValue.md(
                markdown_table(sorted(counts.items()), ("resource type", "count"), limit=40)
            ),
            "locations_table": dg.MetadataValue.md(
                markdown_table(
                    location_rows,
                    ("location", "completeness", "resources", "new versions", "closed versions"),
                )
            ),
            "denied_apis": dg.MetadataValue.md(
                markdown_table(denied_rows, ("location", "API", "outcome", "error"))
                if denied_rows
                else "none"
            ),
        },
        check_results=[
            _check(COMPLETENESS, completeness, dg.AssetCheckSeverity.WARN),
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
        with session_scope(warehouse.url) as session:
            for snapshot in compute_pending_changes(session, key):
                snapshots += 1
                for change in snapshot.changes:
                    by_type[f"{change.resource_type} {change.change_type}"] += 1
                    by_kind[change.change_type] += 1
    return dg.MaterializeResult(
        metadata={
            "snapshots_compared": snapshots,
            "changes": sum(by_kind.values()),
            "created": by_kind["created"],
            "deleted": by_kind["deleted"],
            "modified": by_kind["modified"],
            "changes_by_type": dg.MetadataValue.md(
                markdown_table(sorted(by_type.items()), ("change", "count"), limit=40)
                if by_type
                else "no changes"
            ),
        }
    )
