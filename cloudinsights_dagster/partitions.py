"""The partitions every asset, sensor, schedule and test shares."""

import dagster as dg

# One partition per monitored location, keyed "{account_id}-{region}" ('|' is Dagster's
# multi-partition separator, so it may not appear in a key).
locations = dg.DynamicPartitionsDefinition(name="locations")

# Flow logs arrive in S3 day folders; a day is the unit of live ingestion and of backfill.
FLOWLOG_START_DATE = "2026-01-01"
flowlog_days = dg.DailyPartitionsDefinition(start_date=FLOWLOG_START_DATE, end_offset=1)

# Location x day. String keys order dimensions by name: "2026-01-02|111122223333-us-east-1".
flowlog_partitions = dg.MultiPartitionsDefinition({"day": flowlog_days, "location": locations})
