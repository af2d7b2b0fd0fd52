"""The ENI inventory, as Arrow, that flow-log enrichment joins records to: every version valid
during the day, so each record meets the inventory of its own time."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
from sqlalchemy.orm import Session

from cloudinsights_dagster.inventory.store import eni_versions

_LIST = pa.list_(pa.string())
SCHEMA = pa.schema(
    [
        ("interface_id", pa.string()),
        ("instance_id", pa.string()),
        ("subnet_id", pa.string()),
        ("vpc_id", pa.string()),
        ("security_group_ids", _LIST),
        ("availability_zone", pa.string()),
        ("owner_account_id", pa.string()),
        ("name", pa.string()),
        ("private_ips", _LIST),
        ("public_ips", _LIST),
        ("valid_from", pa.timestamp("s", tz="UTC")),
        ("valid_to", pa.timestamp("s", tz="UTC")),
    ]
)


def eni_table(
    session: Session, location_keys: list[str], start: datetime, end: datetime
) -> pa.Table:
    versions = eni_versions(session, location_keys, start, end)
    columns: dict[str, list] = {name: [] for name in SCHEMA.names}
    for valid_from, valid_to, data in versions:
        columns["interface_id"].append(data.get("interface_id"))
        columns["instance_id"].append(data.get("instance_id"))
        columns["subnet_id"].append(data.get("subnet_id"))
        columns["vpc_id"].append(data.get("vpc_id"))
        columns["security_group_ids"].append(data.get("security_group_ids") or [])
        columns["availability_zone"].append(data.get("availability_zone"))
        columns["owner_account_id"].append(data.get("owner_id") or data.get("account_id"))
        columns["name"].append(data.get("name"))
        columns["private_ips"].append(data.get("private_ips") or [])
        columns["public_ips"].append(data.get("public_ips") or [])
        columns["valid_from"].append(valid_from)
        columns["valid_to"].append(valid_to)
    return pa.table(columns, schema=SCHEMA)
