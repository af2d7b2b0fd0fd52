"""The partitions every asset, sensor, schedule and test shares.

Locations (account + region) are dynamic partitions of the inventory assets. Flow logs are
partitioned by day only: a day is the unit of live ingestion and of backfill, and the locations
of a run are run config (all by default). That keeps the flow-log assets at one partition a day
(365 a year) whatever the number of locations; location x day would pass Dagster's ~100k
partitions guidance at ~300 locations in a year.
"""

import os
from datetime import UTC, date, datetime, timedelta

import dagster as dg

# One partition per monitored location, keyed "{account_id}-{region}" ('|' is Dagster's
# multi-partition separator, so it may not appear in a key).
LOCATIONS = "locations"
locations = dg.DynamicPartitionsDefinition(name=LOCATIONS)

FLOWLOG_START_ENV = "CLOUDINSIGHTS_FLOWLOGS_START_DATE"
# Without a configured start, the flow-log days reach this far back (S3 lifecycle rules
# commonly keep flow logs about this long).
DEFAULT_FLOWLOG_HISTORY_DAYS = 90


def flowlog_start_date(today: date | None = None) -> str:
    """The first flow-log day: $CLOUDINSIGHTS_FLOWLOGS_START_DATE (the deployment's first day,
    or earlier to backfill older logs), else 90 days ago.

    Read when the code location loads, the one setting that is: Dagster needs the partitions to
    build the definitions. It is a date, never a secret."""
    configured = os.environ.get(FLOWLOG_START_ENV, "").strip()
    if configured:
        try:
            return date.fromisoformat(configured).isoformat()
        except ValueError as exc:
            raise ValueError(
                f"{FLOWLOG_START_ENV}={configured!r} is not a date: use YYYY-MM-DD, e.g. 2026-01-01"
            ) from exc
    today = today or datetime.now(UTC).date()
    return (today - timedelta(days=DEFAULT_FLOWLOG_HISTORY_DAYS)).isoformat()


# Days end one day ahead: files of a day start arriving before the day is over.
flowlog_days = dg.DailyPartitionsDefinition(start_date=flowlog_start_date(), end_offset=1)
