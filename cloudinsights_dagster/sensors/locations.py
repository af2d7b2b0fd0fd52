import dagster as dg

from cloudinsights_dagster import partitions
from cloudinsights_dagster.integration_logs import LogEntry, add_logs
from cloudinsights_dagster.locations import discover_missing_regions, partition_changes
from cloudinsights_dagster.resources import WarehouseResource
from cloudinsights_dagster.warehouse.schema import utcnow


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Keeps the `locations` partitions equal to the registered inventory integrations' "
    "regions (less disabled regions); discovers the enabled regions of new integrations.",
)
def location_sync_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult:
    registry = warehouse.registry()
    failures = discover_missing_regions(registry)
    with warehouse.session() as session:
        add_logs(
            session,
            [
                LogEntry(
                    integration_id=f.integration_id,
                    category="assumeRole",
                    severity="error",
                    message=f"could not list the enabled regions of the account through {f.role_arn}",
                    time=utcnow(),
                    details={
                        "role_arn": f.role_arn,
                        "api": "ec2:DescribeRegions",
                        "error": f.error,
                    },
                )
                for f in failures
            ],
        )
    desired = {location.key for location in registry.locations()}
    existing = set(context.instance.get_dynamic_partitions(partitions.LOCATIONS))
    to_add, to_delete = partition_changes(desired, existing)
    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if to_add:
        requests.append(partitions.locations.build_add_request(to_add))
    if to_delete:
        requests.append(partitions.locations.build_delete_request(to_delete))
    context.log.info(f"locations: {len(desired)} monitored, +{len(to_add)} -{len(to_delete)}")
    return dg.SensorResult(dynamic_partitions_requests=requests)
