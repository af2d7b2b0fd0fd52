"""Integration status: what works and what is broken, in plain words."""

from collections import Counter
from datetime import timedelta

import dagster as dg

from cloudinsights_dagster.assets.common import OWNERS, markdown_table
from cloudinsights_dagster.assets.inventory import config_changes
from cloudinsights_dagster.assets.views import traffic_views
from cloudinsights_dagster.integration_logs import prune_logs
from cloudinsights_dagster.resources import WarehouseResource
from cloudinsights_dagster.settings import load_settings
from cloudinsights_dagster.status import TITLES, compute_status, store_status
from cloudinsights_dagster.warehouse.schema import utcnow


@dg.asset(
    deps=[config_changes, traffic_views],
    group_name="status",
    kinds={"sql"},
    owners=OWNERS,
    description=(
        "Each integration's status (`integration_status`): Pending, Connected, Connected with "
        "warning (denied APIs, unsubscribed topics, flow-log errors in the last 30 minutes, flow "
        "logs that lack mandatory fields) or Failed (role cannot be assumed, no topic subscribed, "
        "monitoring runs failing), with reasons and the fix to try. Also prunes integration logs "
        "older than CLOUDINSIGHTS_LOG_RETENTION_DAYS (default 30)."
    ),
)
def integration_status(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    now = utcnow()
    registry = warehouse.registry()
    retention_days = load_settings().log_retention_days
    with warehouse.session() as session:
        views = compute_status(session, registry, now)
        store_status(session, views, now)
    with warehouse.session() as session:
        pruned = prune_logs(session, now - timedelta(days=retention_days))
    counts: Counter[str] = Counter(view.status for view in views)
    rows = [
        (
            v.integration.account_group,
            v.integration.name,
            v.integration.integration_type,
            v.title,
            "; ".join(v.reasons)[:160] or "-",
        )
        for v in views
    ]
    return dg.MaterializeResult(
        metadata={
            "integrations": len(views),
            **{status: counts.get(status, 0) for status in TITLES},
            "logs_pruned": pruned,
            "status": dg.MetadataValue.md(
                markdown_table(
                    rows, ("account group", "integration", "type", "status", "reasons"), 50
                )
                if rows
                else "no integrations"
            ),
        }
    )
