"""Where state lives and who the collector is, read from the environment when asked (never at
import), so the code location loads anywhere."""

from __future__ import annotations

import os
from dataclasses import dataclass
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


def load_settings() -> Settings:
    home = Path(os.environ.get("CLOUDINSIGHTS_HOME") or DEFAULT_HOME).resolve()
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
