"""Flow-log assets: enriched flow records per day, fed by the queue sensor and backfillable over
any past day (all locations, or some accounts or locations through run config)."""

from datetime import timedelta
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from cloudinsights_dagster import partitions, tags
from cloudinsights_dagster.assets.common import OWNERS
from cloudinsights_dagster.assets.inventory import inventory_snapshot
from cloudinsights_dagster.flowlogs.ledger import Scope
from cloudinsights_dagster.integration_logs import LogEntry, add_logs
from cloudinsights_dagster.resources import WarehouseResource
from cloudinsights_dagster.settings import load_settings
from cloudinsights_dagster.warehouse.schema import utcnow

if TYPE_CHECKING:
    from cloudinsights_dagster.flowlogs.process import DrainReport

# The pipeline (pyarrow, numpy, the parser) is imported by the runs that use it, not when the
# code location loads: an inventory run, a sensor tick or the UI's code server never pay for it.

QUALITY_CHECK = "mandatory_fields_and_domains"
COMPLETENESS_CHECK = "notified_objects_complete"
GE_CHECK = "great_expectations_suite"


class FlowLogRunConfig(dg.Config):
    accounts: list[str] = Field(
        default=[],
        description="Only these AWS account ids' locations (empty: every location of the day).",
    )
    locations: list[str] = Field(
        default=[],
        description="Only these locations, keyed {account_id}-{region} (empty: every location).",
    )
    reconcile: bool = Field(
        default=False,
        description="First list the day's S3 prefixes and load what no notification announced "
        "(backfill runs always do).",
    )
    reprocess: bool = Field(
        default=False,
        description="Process every object of the day (within accounts/locations) again, not only "
        "pending ones (backfill runs always do). Each object's output is replaced, never doubled.",
    )
    max_objects: int = Field(
        default=2000,
        description="Objects this run claims at most; other runs take the rest of the day.",
    )
    max_bytes: int = Field(
        default=8 * 1024**3, description="Compressed bytes this run reads at most (about)."
    )
    lease_seconds: int = Field(
        default=600,
        description="How long a claim lasts without renewal (renewed every third of it while "
        "the run works): after a crash, the objects return to the pool this long after.",
    )


@dg.asset(
    partitions_def=partitions.flowlog_days,
    # Every location's inventory feeds a day's enrichment (the versions valid at each record).
    deps=[dg.AssetDep(inventory_snapshot, partition_mapping=dg.AllPartitionMapping())],
    group_name="flow_logs",
    kinds={"s3", "parquet"},
    owners=OWNERS,
    check_specs=[
        dg.AssetCheckSpec(
            QUALITY_CHECK,
            asset="flowlog_records",
            blocking=True,
            description="Every record this run loaded: the 17 mandatory columns exist; ports "
            "0-65535, protocol 0-255, action ACCEPT/REJECT, log status OK/NODATA/SKIPDATA, "
            "direction ingress/egress, traffic path 1-8, start <= end (Arrow evaluation of the "
            "Great Expectations suite).",
        ),
    ],
    description=(
        "VPC flow records of one day, enriched with the inventory valid at each record's start "
        "(instance, subnet, VPC, security groups, AZ, owner, Name; peer resolved to a monitored "
        "ENI or marked external). One Parquet file per S3 object under "
        "CLOUDINSIGHTS_FLOWLOGS_OUTPUT; the ledger (`flowlog_objects`) tracks every object. A run "
        "claims the day's pending objects with a lease, so several runs share a day and a dead "
        "run's objects return by themselves. Backfill runs first list the day's prefixes."
    ),
)
def flowlog_records(
    context: dg.AssetExecutionContext, config: FlowLogRunConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from cloudinsights_dagster.flowlogs.process import S3Clients, drain_day
    from cloudinsights_dagster.flowlogs.reconcile import reconcile_day

    day = context.partition_key
    registry = warehouse.registry()
    scope = Scope(tuple(config.locations), tuple(config.accounts))
    backfill = tags.BACKFILL in context.run.tags
    clients = S3Clients(registry)
    metadata: dict = {}
    if config.reconcile or config.reprocess or backfill:
        rec = reconcile_day(
            registry,
            day,
            utcnow(),
            scope=scope,
            reprocess=config.reprocess or backfill,
            clients=clients,
        )
        for error in rec.errors:
            context.log.warning(error)
        metadata.update(
            objects_listed=rec.listed, objects_unannounced=rec.missed_total, requeued=rec.requeued
        )
    report = drain_day(
        registry,
        day,
        load_settings().flowlogs_output,
        context.run.run_id,
        scope=scope,
        max_objects=config.max_objects,
        max_bytes=config.max_bytes,
        lease=timedelta(seconds=config.lease_seconds),
        clients=clients,
    )
    for error in report.errors[:50]:
        context.log.warning(error)
    quality = _quality(report)
    if not quality.passed:
        # A failed check reaches the integrations' status through their logs.
        with warehouse.session() as session:
            add_logs(
                session,
                [
                    LogEntry(
                        integration_id,
                        "check",
                        "error",
                        f"flow records of {day} failed the {QUALITY_CHECK} check: "
                        f"{quality.metadata['summary'].value}"[:2000],
                        utcnow(),
                        {"day": day, "check": QUALITY_CHECK},
                    )
                    for integration_id in sorted(report.integrations)
                ],
            )
    metadata.update(
        locations=len(report.locations),
        objects_claimed=report.claims,
        objects_loaded=report.objects["loaded"],
        objects_failed=report.objects["failed"],
        objects_filtered=report.objects["filtered"],
        objects_taken_over=report.lost_leases,
        records_read=report.records_read,
        records_loaded=report.records_loaded,
        records_filtered=report.records_filtered,
        errors=dg.MetadataValue.md("\n".join(f"- {e}" for e in report.errors[:10]) or "none"),
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[quality])


def _quality(report: "DrainReport") -> dg.AssetCheckResult:
    if not report.outputs:
        return dg.AssetCheckResult(
            check_name=QUALITY_CHECK, passed=True, metadata={"records": 0, "note": "nothing loaded"}
        )
    result = report.quality.result()
    return dg.AssetCheckResult(
        check_name=QUALITY_CHECK,
        passed=result.passed,
        metadata={
            "records": result.records,
            "expectations": result.expectations,
            "failed_expectations": len(result.failed),
            "summary": dg.MetadataValue.md(
                "\n".join(f"- {line}" for line in result.failed) or "every expectation met"
            ),
        },
    )


# Great Expectations validates a sample of this many records of the day, once a day.
GE_SAMPLE_RECORDS = 1_000_000


@dg.asset_check(
    asset=flowlog_records,
    name=GE_CHECK,
    partitions_def=partitions.flowlog_days,
    description="Once a day (flowlog_quality_schedule): the mandatory-field suite run by Great "
    f"Expectations over up to {GE_SAMPLE_RECORDS:,} of the day's loaded records, files "
    "spread over the day.",
)
def great_expectations_suite(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    # pyarrow.dataset pulls in pandas (~0.2 CPU-s): paid by this nightly check, not every run.
    import pyarrow.dataset as pads

    from cloudinsights_dagster.flowlogs.ledger import sample_outputs
    from cloudinsights_dagster.flowlogs.quality import MANDATORY_COLUMNS, validate_records

    day = context.partition_key
    with warehouse.session() as session:
        outputs, objects = sample_outputs(session, day, GE_SAMPLE_RECORDS)
    if not outputs:
        return dg.AssetCheckResult(passed=True, metadata={"records": 0, "note": "nothing loaded"})
    dataset = pads.dataset(outputs, format="parquet")
    columns = [c for c in MANDATORY_COLUMNS if c in dataset.schema.names]
    result = validate_records(dataset.to_table(columns=columns))
    return dg.AssetCheckResult(
        passed=result.passed,
        metadata={
            "records": result.records,
            "objects_sampled": len(outputs),
            "objects_of_day": objects,
            "expectations": result.expectations,
            "summary": dg.MetadataValue.md(
                "\n".join(f"- {line}" for line in result.failed) or "every expectation met"
            ),
        },
    )


@dg.asset_check(
    asset=flowlog_records,
    name=COMPLETENESS_CHECK,
    partitions_def=partitions.flowlog_days,
    description="Nightly (flowlog_reconcile_schedule): list every monitored location's day "
    "prefixes in S3 and compare with the ledger. Objects no notification announced (lost "
    "notifications, a purged queue, a subscription gap) are recorded as pending, so the queue "
    "sensor's next runs load them, and counted here and in the integration log (`reconcile`).",
)
def notified_objects_complete(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    from cloudinsights_dagster.flowlogs.reconcile import reconcile_day

    day = context.partition_key
    report = reconcile_day(warehouse.registry(), day, utcnow())
    for error in report.errors:
        context.log.warning(error)
    return dg.AssetCheckResult(
        passed=report.missed_total == 0 and not report.errors,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "locations": report.locations,
            "objects_listed": report.listed,
            "objects_unannounced": report.missed_total,
            "objects_changed": report.requeued,
            "list_errors": len(report.errors),
        },
    )
