"""VPC flow-log configurations (ec2:DescribeFlowLogs): where each flow log delivers (bucket ARN,
prefix, file format, partitioning) and in which field order (``log_format``)."""

from __future__ import annotations

import re
from typing import Any

from ..model import ResourceRecord
from ._common import fetch_all, records, tags, ts

DEFAULT_LOG_FORMAT = (
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
    "${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"
)
_FIELD = re.compile(r"\$\{([a-z0-9-]+)\}")

_RESOURCE_KINDS = {
    "vpc-": "vpc",
    "subnet-": "subnet",
    "eni-": "network_interface",
    "tgw-attach-": "transit_gateway_attachment",
    "tgw-": "transit_gateway",
}


def get_flow_logs(client: Any) -> list[dict]:
    return fetch_all(client, "describe_flow_logs", "FlowLogs")


def log_fields(log_format: str | None) -> list[str]:
    """``${version} ${account-id} ...`` -> ``["version", "account-id", ...]`` (file order)."""
    return _FIELD.findall(log_format or DEFAULT_LOG_FORMAT)


def resource_kind(resource_id: str | None) -> str | None:
    for prefix, kind in _RESOURCE_KINDS.items():
        if resource_id and resource_id.startswith(prefix):
            return kind
    return None


def s3_destination(arn: str | None) -> tuple[str | None, str | None]:
    """``arn:aws:s3:::bucket/some/prefix`` -> (``bucket``, ``some/prefix``)."""
    if not arn or not arn.startswith("arn:") or ":s3:::" not in arn:
        return None, None
    path = arn.split(":::", 1)[1]
    bucket, _, prefix = path.partition("/")
    return bucket or None, prefix.strip("/") or None


def _flow_log(f: dict) -> dict:
    t = tags(f.get("Tags"))
    destination_type = f.get("LogDestinationType") or (
        "cloud-watch-logs" if f.get("LogGroupName") else None
    )
    destination = f.get("LogDestination")
    bucket, prefix = s3_destination(destination) if destination_type == "s3" else (None, None)
    options = f.get("DestinationOptions") or {}
    log_format = f.get("LogFormat") or DEFAULT_LOG_FORMAT
    resource_id = f.get("ResourceId")
    kind = resource_kind(resource_id)
    return {
        "flow_log_id": f["FlowLogId"],
        "name": t.get("Name"),
        "resource_id": resource_id,
        "resource_kind": kind,
        "vpc_id": resource_id if kind == "vpc" else None,
        "subnet_id": resource_id if kind == "subnet" else None,
        "interface_id": resource_id if kind == "network_interface" else None,
        "traffic_type": f.get("TrafficType"),
        "destination_type": destination_type,
        "destination": destination,
        "destination_bucket": bucket,
        "destination_prefix": prefix,
        "log_group_name": f.get("LogGroupName"),
        "deliver_logs_permission_arn": f.get("DeliverLogsPermissionArn"),
        "deliver_cross_account_role": f.get("DeliverCrossAccountRole"),
        "file_format": options.get("FileFormat", "plain-text"),
        "hive_compatible_partitions": bool(options.get("HiveCompatiblePartitions", False)),
        "per_hour_partition": bool(options.get("PerHourPartition", False)),
        "log_format": log_format,
        "log_fields": log_fields(log_format),
        "status": f.get("FlowLogStatus"),
        "deliver_logs_status": f.get("DeliverLogsStatus"),
        "deliver_logs_error_message": f.get("DeliverLogsErrorMessage"),
        "max_aggregation_interval": f.get("MaxAggregationInterval"),
        "creation_time": ts(f.get("CreationTime")),
        "tags": t,
    }


def transform_flow_logs(items: list[dict]) -> list[ResourceRecord]:
    return records("flow_log", items, lambda f: f.get("FlowLogId"), _flow_log)
