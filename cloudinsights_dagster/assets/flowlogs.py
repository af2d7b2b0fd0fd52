"""Flow-log assets: enriched flow records per location x day, fed by the queue sensor and
backfillable over any past day."""

import dagster as dg
import pyarrow.dataset as pads
from pydantic import Field

from cloudinsights_dagster import partitions
from cloudinsights_dagster.assets.common import OWNERS
from cloudinsights_dagster.assets.inventory import inventory_snapshot
from cloudinsights_dagster.flowlogs.process import process_partition
from cloudinsights_dagster.integration_logs import LogEntry, write_logs
from cloudinsights_dagster.resources import WarehouseResource
from cloudinsights_dagster.run_failures import integrations_for_run
from cloudinsights_dagster.settings import load_settings
from cloudinsights_dagster.warehouse.schema import utcnow

QUALITY_CHECK = "mandatory_fields_and_domains"


class FlowLogRunConfig(dg.Config):
    reprocess: bool = Field(
        default=False,
        description="Process every object of the partition again, not only pending ones "
        "(backfill runs always do). Each object's output is replaced, never duplicated.",
    )


@dg.asset(
    partitions_def=partitions.flowlog_partitions,
    deps=[inventory_snapshot],
    group_name="flow_logs",
    kinds={"s3", "parquet"},
    owners=OWNERS,
    check_specs=[
        dg.AssetCheckSpec(
            QUALITY_CHECK,
            asset="flowlog_records",
            blocking=True,
            description="Great Expectations: the 17 mandatory columns exist; ports 0-65535, "
            "protocol 0-255, action ACCEPT/REJECT, log status OK/NODATA/SKIPDATA, direction "
            "ingress/egress, traffic path 1-8, start <= end.",
        )
    ],
    description=(
        "VPC flow records of one location and day, enriched with the inventory valid at each "
        "record's start (instance, subnet, VPC, security groups, AZ, owner, Name; peer resolved "
        "to a monitored ENI or marked external). One Parquet file per S3 object under "
        "CLOUDINSIGHTS_FLOWLOGS_OUTPUT; the ledger (`flowlog_objects`) tracks every object. Lists "
        "the day's prefixes first, so a backfill of a past day finds every file."
    ),
)
def flowlog_records(
    context: dg.AssetExecutionContext, config: FlowLogRunConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    keys = context.partition_key.keys_by_dimension
    location, day = keys["location"], keys["day"]
    reprocess = config.reprocess or "dagster/backfill" in context.run.tags
    report = process_partition(
        warehouse.registry(),
        location,
        day,
        load_settings().flowlogs_output,
        utcnow(),
        reprocess=reprocess,
    )
    for error in report.errors:
        context.log.warning(error)
    quality = _quality(report.outputs)
    if not quality.passed:
        # A failed check reaches the integrations' status through their logs.
        registry = warehouse.registry()
        tags = {"dagster/partition/location": location, "dagster/partition/day": day}
        write_logs(
            warehouse.url,
            [
                LogEntry(
                    integration_id,
                    "check",
                    "error",
                    f"flow records of {location} {day} failed the {QUALITY_CHECK} check: "
                    f"{quality.metadata['summary'].value}"[:2000],
                    utcnow(),
                    {"location": location, "day": day, "check": QUALITY_CHECK},
                )
                for integration_id in integrations_for_run(registry, tags, [location])
            ],
        )
    return dg.MaterializeResult(
        metadata={
            "objects_loaded": report.objects["loaded"],
            "objects_failed": report.objects["failed"],
            "objects_filtered": report.objects["filtered"],
            "objects_listed": report.listed,
            "records_read": report.records_read,
            "records_loaded": report.records_loaded,
            "records_filtered": report.records_filtered,
            "errors": dg.MetadataValue.md(
                "\n".join(f"- {e}" for e in report.errors[:30]) or "none"
            ),
        },
        check_results=[quality],
    )


def _quality(outputs: list[str]) -> dg.AssetCheckResult:
    if not outputs:
        return dg.AssetCheckResult(
            check_name=QUALITY_CHECK, passed=True, metadata={"records": 0, "note": "nothing loaded"}
        )
    from cloudinsights_dagster.flowlogs.quality import validate_records

    table = pads.dataset(outputs, format="parquet").to_table()
    result = validate_records(table)
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
