"""The code location: assembles what the other modules define."""

import dagster as dg

from cloudinsights_dagster.resources import WarehouseResource
from cloudinsights_dagster.sensors.locations import location_sync_sensor

defs = dg.Definitions(
    sensors=[location_sync_sensor],
    resources={"warehouse": WarehouseResource()},
)
