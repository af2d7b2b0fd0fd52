"""The partitions every asset, sensor, schedule and test shares.

Locations (account + region) are dynamic partitions of the inventory assets. Flow logs are
partitioned by day only: a day is the unit of live ingestion and of backfill, and the locations
of a run are run config (all by default). That keeps the flow-log assets at one partition a day
(365 a year) whatever the number of locations; location x day would pass Dagster's ~100k
partitions guidance at ~300 locations in a year.
"""

import dagster as dg

from cloudinsights_dagster.settings import flowlog_start_date

# One partition per monitored location, keyed "{account_id}-{region}" ('|' is Dagster's
# multi-partition separator, so it may not appear in a key).
LOCATIONS = "locations"
locations = dg.DynamicPartitionsDefinition(name=LOCATIONS)

# Days end one day ahead: files of a day start arriving before the day is over. The start is
# read here, when the code location loads: Dagster needs the partitions to build the definitions.
flowlog_days = dg.DailyPartitionsDefinition(start_date=flowlog_start_date(), end_offset=1)
