"""Every CLOUDINSIGHTS_* variable the package reads, and what each may hold: read from the
environment when asked (never at import), so the code location loads anywhere and a bad value
fails the one thing that uses it with a message naming the variable, the value and what is
allowed. The one setting read when the code location loads is `flowlog_start_date` (Dagster
needs the partitions to build the definitions).

The AWS SDK's own variables (AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, the credential chain) are
read where clients are built, in `aws.sessions`; DAGSTER_HOME is Dagster's, read by `doctor`
and the CLI. Only `demo` sets CLOUDINSIGHTS_* variables, for the processes it starts."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

DEFAULT_HOME = ".cloudinsights"


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    flowlogs_output: str  # a local folder or s3://bucket/prefix for enriched Parquet
    collector_principal: str | None  # IAM ARN that assumes the customers' roles
    queue_url: str | None  # the collector's SQS queue
    queue_region: str
    log_retention_days: int  # integration logs older than this are pruned by integration_status


@dataclass(frozen=True)
class ParserSettings:
    fast_path: bool  # CLOUDINSIGHTS_FASTPARSE=0 parses text with Arrow's CSV reader alone
    inflater: str  # CLOUDINSIGHTS_GZIP: "isal" (when installed) or "zlib" (Arrow's)


INFLATERS = ("isal", "zlib")


def parser_settings() -> ParserSettings:
    """How flow-log text is inflated and parsed: read per file, so a change needs no restart."""
    inflater = os.environ.get("CLOUDINSIGHTS_GZIP", "").strip().lower() or "isal"
    if inflater not in INFLATERS:
        raise ValueError(
            f"CLOUDINSIGHTS_GZIP={inflater!r}: use one of {', '.join(INFLATERS)} (default isal)"
        )
    return ParserSettings(
        fast_path=os.environ.get("CLOUDINSIGHTS_FASTPARSE", "1").strip() != "0",
        inflater=inflater,
    )


# Arrow's own variable (Arrow reads it): when set, it chooses the memory pool, and
# arrow_memory.use_pipeline_memory_pool leaves the pool alone.
ARROW_POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"


def arrow_pool_chosen() -> bool:
    return bool(os.environ.get(ARROW_POOL_ENV, "").strip())


def home_folder() -> Path:
    """The state folder: $CLOUDINSIGHTS_HOME, else ./.cloudinsights (absolute)."""
    return Path(os.environ.get("CLOUDINSIGHTS_HOME") or DEFAULT_HOME).resolve()


def load_settings() -> Settings:
    home = home_folder()
    database_url = (
        os.environ.get("CLOUDINSIGHTS_DATABASE_URL") or f"sqlite:///{home / 'warehouse.db'}"
    )
    return Settings(
        home=home,
        database_url=database_url,
        flowlogs_output=os.environ.get("CLOUDINSIGHTS_FLOWLOGS_OUTPUT") or str(home / "flowlogs"),
        collector_principal=os.environ.get("CLOUDINSIGHTS_COLLECTOR_PRINCIPAL") or None,
        queue_url=os.environ.get("CLOUDINSIGHTS_QUEUE_URL") or None,
        queue_region=os.environ.get("CLOUDINSIGHTS_QUEUE_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1",
        log_retention_days=_positive_int("CLOUDINSIGHTS_LOG_RETENTION_DAYS", 30),
    )


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name}={raw!r}: use a whole number of at least 1 (default {default})")
    return int(raw)


# The CLI's default --account-group; click reads it (`envvar=`) when a command is parsed.
ACCOUNT_GROUP_ENV = "CLOUDINSIGHTS_ACCOUNT_GROUP"

RATE_SHARE_ENV = "CLOUDINSIGHTS_API_RATE_SHARE"
DEFAULT_RATE_SHARE = 0.5


def rate_share(value: str | None = None) -> float:
    """The share of each account's API budget the collector may use (0 < share <= 1);
    ``value``, when given, replaces the environment's and is checked the same way."""
    return _number(
        RATE_SHARE_ENV,
        value,
        DEFAULT_RATE_SHARE,
        lambda share: 0 < share <= 1,
        "give the share of each account's AWS API rate the collector may use, a number above 0 "
        "and at most 1 (default 0.5)",
    )


def _number(
    name: str, value: float | str | None, default: float, valid: Callable[[float], bool], want: str
) -> float:
    """A number from `value` or else the environment variable `name` (unset or empty: the
    default); a clear error naming the variable when it is no number or not `valid`."""
    text = os.environ.get(name) if value is None else str(value)
    if text is None or text == "":
        return default
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if not valid(number):
        raise ValueError(f"{name}={text!r}: {want}")
    return number


LOCATION_THREADS_ENV = "CLOUDINSIGHTS_INVENTORY_LOCATION_THREADS"
DEFAULT_LOCATION_THREADS = 8


def location_threads(value: str | None = None) -> int:
    """Locations collected at once in an inventory run (1 to 256)."""
    text = value if value is not None else os.environ.get(LOCATION_THREADS_ENV)
    if text is None or text == "":
        return DEFAULT_LOCATION_THREADS
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise ValueError(
            f"{LOCATION_THREADS_ENV}={text!r}: give the number of locations a run collects at "
            "once, a whole number from 1 to 256 (default 8)"
        )
    return int(text)


RUN_RETENTION_INVENTORY_DAYS_ENV = "CLOUDINSIGHTS_RUN_RETENTION_INVENTORY_DAYS"
RUN_RETENTION_DAYS_ENV = "CLOUDINSIGHTS_RUN_RETENTION_DAYS"
DEFAULT_RUN_RETENTION_INVENTORY_DAYS = 3.0
DEFAULT_RUN_RETENTION_DAYS = 14.0


def run_retention_inventory_days(value: float | None = None) -> float:
    """Days finished inventory runs are kept; ``value`` (run config) replaces the environment's."""
    return _days(RUN_RETENTION_INVENTORY_DAYS_ENV, value, DEFAULT_RUN_RETENTION_INVENTORY_DAYS)


def run_retention_days(value: float | None = None) -> float:
    """Days every other finished run is kept; ``value`` (run config) replaces the environment's."""
    return _days(RUN_RETENTION_DAYS_ENV, value, DEFAULT_RUN_RETENTION_DAYS)


def _days(name: str, value: float | str | None, default: float) -> float:
    return _number(
        name,
        value,
        default,
        lambda days: days > 0,
        "give how many days finished runs are kept, a number above 0",
    )


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
