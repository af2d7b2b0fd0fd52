"""Every run tag the project reads or writes, in one place: Dagster's own (set by Dagster for
partitions, backfills and schedules) and the project's (`cloudinsights/...`), which the queued
coordinator's limits, the sensors and the status pages key on. Plain strings, no Dagster import."""

# Dagster's
PARTITION = "dagster/partition"
PARTITION_RANGE_START = "dagster/asset_partition_range_start"
PARTITION_RANGE_END = "dagster/asset_partition_range_end"
BACKFILL = "dagster/backfill"
SCHEDULED_TIME = "dagster/scheduled_execution_time"

# The project's
KIND = "cloudinsights/kind"  # inventory | flowlogs | quality | reconcile | ... (run limits)
LOCATIONS = "cloudinsights/locations"  # how many locations an inventory run snapshots
SNAPSHOT_TIME = "cloudinsights/snapshot_time"  # set by tests and the demo to replay ticks
AWS_REQUESTS = "cloudinsights/aws_requests"
AWS_THROTTLES = "cloudinsights/aws_throttles"
ASSUME_ROLE_CALLS = "cloudinsights/assume_role_calls"

FLOWLOGS_KIND = "flowlogs"
