"""Direct Connect connections (directconnect:DescribeConnections; pages on ``nextToken``
without a botocore paginator)."""

from __future__ import annotations

from typing import Any

from ..model import ResourceRecord
from ._common import fetch_all, records, tags


def get_connections(client: Any) -> list[dict]:
    return fetch_all(client, "describe_connections", "connections", token_key="nextToken")


def _connection(c: dict) -> dict:
    t = tags(c.get("tags"), key="key", value="value")
    return {
        "connection_id": c["connectionId"],
        "name": c.get("connectionName"),
        "owner_id": c.get("ownerAccount"),
        "state": c.get("connectionState"),
        "location": c.get("location"),
        "bandwidth": c.get("bandwidth"),
        "vlan": c.get("vlan"),
        "partner_name": c.get("partnerName"),
        "provider_name": c.get("providerName"),
        "lag_id": c.get("lagId"),
        "aws_device": c.get("awsDeviceV2") or c.get("awsDevice"),
        "aws_logical_device_id": c.get("awsLogicalDeviceId"),
        "has_logical_redundancy": c.get("hasLogicalRedundancy"),
        "jumbo_frame_capable": c.get("jumboFrameCapable"),
        "mac_sec_capable": c.get("macSecCapable"),
        "encryption_mode": c.get("encryptionMode"),
        "tags": t,
    }


def transform_connections(items: list[dict]) -> list[ResourceRecord]:
    return records("direct_connect_connection", items, lambda c: c.get("connectionId"), _connection)
