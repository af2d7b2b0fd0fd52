"""The ENIs whose traffic a config change can affect, resolved through the location's
inventory (:func:`touched_interfaces`, used by impact.py):

* ``network_interface``: the ENI itself;
* ``security_group``: the ENIs that have the group;
* ``route_table`` / ``network_acl``: the ENIs in the subnets it is associated with (a main route
  table also governs the VPC's subnets without an explicit association), including subnets an
  association the change added or removed names;
* ``subnet`` / ``vpc``: the ENIs in it;
* ``instance``: its ENIs;
* ``nat_gateway`` / ``vpc_endpoint``: their own ENIs;
* anything else: none.

Pass the inventory as of the change (for a deleted resource, the snapshot before it, or both:
the union is fine).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..inventory.model import ResourceRecord


def _ids_in(value: Any, fields: tuple[str, ...]) -> set[str]:
    """Every string under one of `fields` (a value or a list of values) anywhere in `value`."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in fields:
                items = item if isinstance(item, list) else [item]
                found.update(i for i in items if isinstance(i, str) and i)
            else:
                found |= _ids_in(item, fields)
    elif isinstance(value, list):
        for item in value:
            found |= _ids_in(item, fields)
    return found


def _changed_ids(change: Mapping, fields: tuple[str, ...]) -> set[str]:
    """Ids under `fields` in the before/after values of the change's field changes."""
    found: set[str] = set()
    for field in change.get("changed_fields") or ():
        path = str(field.get("path", ""))
        leaf = path.rsplit(".", 1)[-1]
        for side in ("before", "after"):
            value = field.get(side)
            if leaf in fields:
                items = value if isinstance(value, list) else [value]
                found.update(i for i in items if isinstance(i, str) and i)
            found |= _ids_in(value, fields)
    return found


def touched_interfaces(change: Mapping, inventory_records: Iterable[ResourceRecord]) -> set[str]:
    """The interface ids whose traffic a config change can affect (see the module doc)."""
    resource_type = change["resource_type"]
    resource_id = change["resource_id"]
    records = list(inventory_records)
    enis = [r.data for r in records if r.resource_type == "network_interface"]
    own = next(
        (
            r.data
            for r in records
            if r.resource_type == resource_type and r.resource_id == resource_id
        ),
        None,
    )

    def where(field: str, values: set[str]) -> set[str]:
        return {e["interface_id"] for e in enis if e.get(field) in values and e.get("interface_id")}

    if resource_type == "network_interface":
        return {resource_id}
    if resource_type == "security_group":
        return {
            e["interface_id"]
            for e in enis
            if resource_id in (e.get("security_group_ids") or ()) and e.get("interface_id")
        }
    if resource_type == "subnet":
        return where("subnet_id", {resource_id})
    if resource_type == "vpc":
        return where("vpc_id", {resource_id})
    if resource_type == "instance":
        ids = where("instance_id", {resource_id})
        if own:
            ids.update(own.get("network_interface_ids") or ())
        return ids
    if resource_type in ("route_table", "network_acl"):
        subnets = _changed_ids(change, ("subnet_id", "subnet_ids"))
        if own:
            subnets.update(own.get("subnet_ids") or ())
            subnets |= _ids_in(own.get("associations") or [], ("subnet_id",))
            if resource_type == "route_table" and own.get("main"):
                subnets |= _implicit_subnets(own, records, enis)
        return where("subnet_id", subnets)
    if resource_type in ("nat_gateway", "vpc_endpoint"):
        ids = _changed_ids(change, ("network_interface_ids", "network_interface_id"))
        if own:
            ids.update(own.get("network_interface_ids") or ())
        return ids
    return set()


def _implicit_subnets(main: Mapping, records: list[ResourceRecord], enis: list[dict]) -> set[str]:
    """The subnets of a main route table's VPC that no route table is explicitly associated with."""
    vpc_id = main.get("vpc_id")
    subnets = {
        r.resource_id
        for r in records
        if r.resource_type == "subnet" and r.data.get("vpc_id") == vpc_id
    } | {e["subnet_id"] for e in enis if e.get("vpc_id") == vpc_id and e.get("subnet_id")}
    explicit: set[str] = set()
    for r in records:
        if r.resource_type == "route_table" and r.data.get("vpc_id") == vpc_id:
            explicit.update(r.data.get("subnet_ids") or ())
    return subnets - explicit
