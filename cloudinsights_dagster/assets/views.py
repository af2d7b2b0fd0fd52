"""What a person looks at: traffic per entity, rejected traffic, change impact, topology."""

import dagster as dg

from cloudinsights_dagster import partitions
from cloudinsights_dagster.assets.common import OWNERS, markdown_table
from cloudinsights_dagster.assets.flowlogs import flowlog_records
from cloudinsights_dagster.assets.inventory import config_changes
from cloudinsights_dagster.resources import WarehouseResource
from cloudinsights_dagster.run_time import run_time
from cloudinsights_dagster.settings import load_settings
from cloudinsights_dagster.warehouse.schema import utcnow

# The views (pyarrow, numpy) are imported by the runs that refresh them, not when the code
# location loads (see assets/flowlogs.py).


@dg.asset(
    partitions_def=partitions.flowlog_days,
    deps=[
        flowlog_records,
        dg.AssetDep(config_changes, partition_mapping=dg.AllPartitionMapping()),
    ],
    group_name="views",
    kinds={"sql"},
    owners=OWNERS,
    description=(
        "Per account group and five-minute window (record time): `entity_throughput` (bytes, "
        "packets, flows in and out per ENI, instance, subnet, VPC and account, accepted and "
        "rejected apart), `rejected_traffic` (by source, destination, port, protocol, with the "
        "destination's security groups, by impact) and `change_impact` (traffic of what each "
        "config change touched, before and after). Only the windows this run's records touch "
        "are re-aggregated, from the partial aggregates of every object of those windows. Full "
        "resolution as Parquet under <flow-log output>/views/; the warehouse keeps the top rows "
        "of each window and rest rows (bounded per location-day, see docs/schema.md)."
    ),
)
def traffic_views(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from cloudinsights_dagster.views.refresh import refresh_run_views

    reports = refresh_run_views(
        warehouse.url, context.run.run_id, utcnow(), views_base=load_settings().flowlogs_output
    )
    talkers = [t for r in reports for t in r.top_talkers]
    reasons: dict[str, int] = {}
    for report in reports:
        for reason, flows in report.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + flows
    rejects = [t for r in reports for t in r.top_rejects]
    return dg.MaterializeResult(
        metadata={
            "locations": len({r.location_key for r in reports}),
            "windows_reaggregated": sum(r.windows for r in reports),
            # Objects merged from the partial aggregates the pipeline wrote (the rest: records).
            "objects_merged": sum(r.objects for r in reports),
            "objects_from_partials": sum(r.partials_used for r in reports),
            "columnar_rows": sum(r.columnar_rows for r in reports),
            "bytes_in": sum(r.bytes_in for r in reports),
            "bytes_out": sum(r.bytes_out for r in reports),
            "rejected_flows": sum(r.rejected_flows for r in reports),
            "change_impacts": sum(r.impacts for r in reports),
            "top_talkers": dg.MetadataValue.md(
                markdown_table(sorted(talkers, key=lambda t: -t[2])[:10], ("entity", "id", "bytes"))
                if talkers
                else "no traffic"
            ),
            "reject_reasons": dg.MetadataValue.md(
                markdown_table(
                    sorted(reasons.items(), key=lambda kv: -kv[1]), ("reason", "rejected flows")
                )
                if reasons
                else "no rejected traffic"
            ),
            "top_rejects": dg.MetadataValue.md(
                markdown_table(rejects[:10], ("source", "destination", "port", "flows"))
                if rejects
                else "no rejected traffic"
            ),
        }
    )


@dg.asset(
    partitions_def=partitions.locations,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[config_changes],
    group_name="views",
    kinds={"sql", "svg"},
    owners=OWNERS,
    description=(
        "Each location's network as of its latest snapshot (`topology_nodes`, `topology_edges`): "
        "VPCs, subnets, gateways, transit-gateway attachments, peerings, endpoints, load balancers "
        "and how they connect, drawn as SVG with the entities changed in the last window marked. "
        "A new version is stored only when the topology changed."
    ),
)
def topology(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    from cloudinsights_dagster.views.topology.store import refresh_latest_topology

    at = run_time(context.run.tags)
    folder = load_settings().home / "topology"
    results = []
    for key in context.partition_keys:
        # One transaction per location: one location's new version never waits on the others.
        with warehouse.session() as session:
            result = refresh_latest_topology(session, key, at, folder)
        if result is not None:
            results.append(result)
    rows = [
        (
            r.location_key,
            len(r.nodes),
            len(r.edges),
            len(r.changed),
            "yes" if r.stored_new_version else "no",
        )
        for r in results
    ]
    # Pictures stay in files: metadata is copied into every partition's materialization, and an
    # inline SVG there cost ~30 KB per location per tick. Only locations with changed entities
    # are listed (5 at most); new versions are counted.
    changed = sorted((r for r in rows if r[3]), key=lambda r: (-r[3], r[0]))
    totals = (
        f"{len(rows)} location(s), {sum(r[1] for r in rows)} nodes, {sum(r[2] for r in rows)} edges"
        f", {sum(r[4] == 'yes' for r in rows)} new version(s)"
    )
    table = (
        markdown_table(changed, ("location", "nodes", "edges", "changed", "new version"), limit=5)
        if changed
        else "no location changed"
    )
    return dg.MaterializeResult(
        metadata={
            "changed_entities": sum(r[3] for r in rows),
            # One SVG per location, rewritten at every tick; a path entry would cost ~270 bytes.
            "summary": dg.MetadataValue.md(
                f"{totals}; pictures: `{folder}/<location>.svg`\n\n{table}"
                if rows
                else "no snapshot yet"
            ),
        }
    )
