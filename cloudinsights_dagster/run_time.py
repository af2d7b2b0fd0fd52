"""The time a run stands for: its schedule tick when there is one, otherwise now."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from cloudinsights_dagster.tags import SCHEDULED_TIME, SNAPSHOT_TIME

SCHEDULED_TIME_TAG = SCHEDULED_TIME
SNAPSHOT_TIME_TAG = SNAPSHOT_TIME


def run_time(tags: Mapping[str, str], now: datetime | None = None) -> datetime:
    for tag in (SNAPSHOT_TIME_TAG, SCHEDULED_TIME_TAG):
        value = tags.get(tag)
        if value:
            parsed = datetime.fromisoformat(value)
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    return (now or datetime.now(UTC)).replace(microsecond=0)
