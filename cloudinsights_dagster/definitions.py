"""The code location: assembles what the other modules define."""

import dagster as dg

from cloudinsights_dagster.assets.inventory import config_changes, inventory_snapshot
from cloudinsights_dagster.resources import WarehouseResource
from cloudinsights_dagster.schedules.inventory import inventory_job, inventory_schedule
from cloudinsights_dagster.sensors.locations import location_sync_sensor

defs = dg.Definitions(
    assets=[inventory_snapshot, config_changes],
    jobs=[inventory_job],
    schedules=[inventory_schedule],
    sensors=[location_sync_sensor],
    resources={"warehouse": WarehouseResource()},
)
