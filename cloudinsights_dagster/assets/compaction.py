"""Compaction of the flow-record table: each night, a closed day's small per-object files become
one sorted file per location (flowlogs/table.py does the work and keeps exactly-once)."""

from datetime import timedelta

import dagster as dg

from cloudinsights_dagster import partitions, tags
from cloudinsights_dagster.assets.common import OWNERS
from cloudinsights_dagster.assets.flowlogs import flowlog_records
from cloudinsights_dagster.resources import WarehouseResource
from cloudinsights_dagster.settings import load_settings


@dg.asset(
    partitions_def=partitions.flowlog_days,
    deps=[flowlog_records],
    group_name="flow_logs",
    kinds={"parquet"},
    owners=OWNERS,
    description=(
        "The day's flow-record files merged into one sorted file per location (and flow-logs "
        "integration) under flow_records/day=.../location=.../; the ledger is repointed in one "
        "transaction, merged files are deleted after it. Idempotent: a compacted day is left "
        "as it is; objects loaded or reprocessed after it are folded in by the next run."
    ),
)
def flow_records_compacted(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from cloudinsights_dagster.flowlogs.table import compact_day

    day = context.partition_key
    reports = compact_day(warehouse.url, load_settings().flowlogs_output, day)
    done = [r for r in reports if not r.skipped]
    for r in done:
        context.log.info(
            f"{r.location_key}: {r.files_merged} files, {r.rows:,} rows, "
            f"{r.bytes_before:,} -> {r.bytes_after:,} bytes: {r.output}"
        )
    return dg.MaterializeResult(
        metadata={
            "partitions_compacted": len(done),
            "partitions_already_compacted": sum(r.skipped == "already compacted" for r in reports),
            "files_merged": sum(r.files_merged for r in done),
            "rows": sum(r.rows for r in done),
            "bytes_before": sum(r.bytes_before for r in done),
            "bytes_after": sum(r.bytes_after for r in done),
        }
    )


flowlog_compaction_job = dg.define_asset_job(
    "flowlog_compaction_job",
    selection=dg.AssetSelection.assets(flow_records_compacted),
    tags={tags.KIND: "compaction"},
    executor_def=dg.in_process_executor,
    description="Merge one closed day's flow-record files into one file per location.",
)


@dg.schedule(
    job=flowlog_compaction_job,
    cron_schedule="0 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Each night, after the reconciliation (01:30) has loaded what notifications "
    "missed, compact the previous day.",
)
def flowlog_compaction_schedule(context: dg.ScheduleEvaluationContext):
    day = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=f"compaction-{day}", partition_key=day)
