"""S3 object keys of VPC flow-log files: which location (account + region) and day a file
belongs to, and the S3 prefixes that hold one day of files (for backfills).

Two layouts exist, chosen per flow log (AWS "Publish flow logs to Amazon S3"):

    [prefix/]AWSLogs/{account}/vpcflowlogs/{region}/{yyyy}/{mm}/{dd}/[{hh}/]{file}
    [prefix/]AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/
        year={yyyy}/month={mm}/day={dd}/[hour={hh}/]{file}

    {file} = {account}_vpcflowlogs_{region}_{flow-log-id}_{YYYYMMDDTHHmmZ}_{hash}.log.gz
             (or .log.parquet when the flow log delivers Parquet)

The folder date is the delivery date (UTC), the same as the timestamp in the file name. Records
inside a file carry their own start/end times; aggregation uses those, never the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from cloudinsights_dagster.arns import location_key

TEXT_SUFFIX = ".log.gz"
PARQUET_SUFFIX = ".log.parquet"

_ACCOUNT = r"\d{12}"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}"

_PLAIN_RE = re.compile(
    rf"^(?:(?P<prefix>.+?)/)?AWSLogs/(?P<account>{_ACCOUNT})/vpcflowlogs/(?P<region>{_REGION})/"
    r"(?P<year>\d{4})/(?P<month>\d{2})/(?P<day>\d{2})/(?:(?P<hour>\d{2})/)?(?P<file>[^/]+)$"
)
_HIVE_RE = re.compile(
    rf"^(?:(?P<prefix>.+?)/)?AWSLogs/aws-account-id=(?P<account>{_ACCOUNT})/"
    rf"aws-service=vpcflowlogs/aws-region=(?P<region>{_REGION})/"
    r"year=(?P<year>\d{4})/month=(?P<month>\d{2})/day=(?P<day>\d{2})/"
    r"(?:hour=(?P<hour>\d{2})/)?(?P<file>[^/]+)$"
)
_FILE_RE = re.compile(
    rf"^(?P<account>{_ACCOUNT})_vpcflowlogs_(?P<region>{_REGION})_(?P<flow_log_id>fl-[0-9A-Za-z]+)_"
    r"(?P<stamp>\d{8}T\d{4}Z)_(?P<hash>[0-9A-Za-z]+)(?P<suffix>\.log\.gz|\.log\.parquet)$"
)


class UnrecognizedKey(ValueError):
    """An S3 key that is not a VPC flow-log file; the message names the key and the reason."""

    def __init__(self, key: str, reason: str):
        self.key = key
        self.reason = reason
        super().__init__(f"not a VPC flow-log object key ({reason}): {key!r}")


@dataclass(frozen=True)
class FlowLogKey:
    """What an object key says about a flow-log file."""

    key: str
    prefix: str  # the part before AWSLogs/, without the trailing '/'; '' when none
    account_id: str
    region: str
    day: str  # YYYY-MM-DD, the S3 daily folder (UTC delivery date)
    hour: int | None  # the hourly folder when the flow log uses per-hour partitions
    flow_log_id: str
    delivered_at: datetime  # the YYYYMMDDTHHmmZ stamp of the file name (UTC)
    is_parquet: bool
    hive: bool  # Hive-compatible folder names (aws-account-id=...)

    @property
    def location_key(self) -> str:
        return location_key(self.account_id, self.region)


def parse_key(key: str) -> FlowLogKey:
    """Parse a (URL-decoded) S3 key of a flow-log file; raises UnrecognizedKey with the reason."""
    if not isinstance(key, str) or not key:
        raise UnrecognizedKey(str(key), "empty key")
    match = _PLAIN_RE.match(key)
    hive = False
    if match is None:
        match = _HIVE_RE.match(key)
        hive = match is not None
    if match is None:
        raise UnrecognizedKey(key, _why_no_layout(key))

    file_match = _FILE_RE.match(match["file"])
    if file_match is None:
        raise UnrecognizedKey(key, _why_bad_file_name(match["file"]))
    if file_match["account"] != match["account"] or file_match["region"] != match["region"]:
        raise UnrecognizedKey(
            key,
            f"file name is for {file_match['account']}/{file_match['region']} but the folder is "
            f"{match['account']}/{match['region']}",
        )
    try:
        day = date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        raise UnrecognizedKey(
            key, f"invalid date folder {match['year']}/{match['month']}/{match['day']}"
        ) from None
    hour = int(match["hour"]) if match["hour"] is not None else None
    if hour is not None and hour > 23:
        raise UnrecognizedKey(key, f"invalid hour folder {match['hour']}")
    try:
        delivered_at = datetime.strptime(file_match["stamp"], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    except ValueError:
        raise UnrecognizedKey(
            key, f"invalid timestamp {file_match['stamp']} in file name"
        ) from None

    return FlowLogKey(
        key=key,
        prefix=match["prefix"] or "",
        account_id=match["account"],
        region=match["region"],
        day=day.isoformat(),
        hour=hour,
        flow_log_id=file_match["flow_log_id"],
        delivered_at=delivered_at,
        is_parquet=file_match["suffix"] == PARQUET_SUFFIX,
        hive=hive,
    )


def parse_key_or_none(key: str) -> FlowLogKey | None:
    """Like parse_key, but None for keys that are not flow-log files (folder markers, others)."""
    try:
        return parse_key(key)
    except UnrecognizedKey:
        return None


def day_prefixes(prefix: str | None, account_id: str, region: str, day: str | date) -> list[str]:
    """The S3 list prefixes that hold one day of a location's files, in both layouts.

    Listing them (without a delimiter) also finds the per-hour sub-folders.
    """
    the_day = day if isinstance(day, date) else date.fromisoformat(day)
    base = (prefix or "").strip("/")
    base = f"{base}/" if base else ""
    yyyy, mm, dd = f"{the_day.year:04d}", f"{the_day.month:02d}", f"{the_day.day:02d}"
    return [
        f"{base}AWSLogs/{account_id}/vpcflowlogs/{region}/{yyyy}/{mm}/{dd}/",
        f"{base}AWSLogs/aws-account-id={account_id}/aws-service=vpcflowlogs/"
        f"aws-region={region}/year={yyyy}/month={mm}/day={dd}/",
    ]


def _why_no_layout(key: str) -> str:
    if key.endswith("/"):
        return "a folder, not a file"
    if "AWSLogs/" not in key:
        return "no AWSLogs/ folder"
    if "/vpcflowlogs/" not in key and "/aws-service=vpcflowlogs/" not in key:
        return "not under a vpcflowlogs service folder"
    return (
        "folders do not match AWSLogs/{account}/vpcflowlogs/{region}/{yyyy}/{mm}/{dd}/[{hh}/] "
        "or the Hive-compatible aws-account-id=/aws-service=/aws-region=/year=/month=/day= layout"
    )


def _why_bad_file_name(name: str) -> str:
    if not (name.endswith(TEXT_SUFFIX) or name.endswith(PARQUET_SUFFIX)):
        return f"file {name!r} is neither {TEXT_SUFFIX} nor {PARQUET_SUFFIX}"
    return (
        f"file name {name!r} does not match "
        "{account}_vpcflowlogs_{region}_{flow-log-id}_{YYYYMMDDTHHmmZ}_{hash}"
    )
