"""Config changes side by side with the traffic of what they touched (table ``change_impact``).

:func:`touched_interfaces` resolves a config-change event to the ENIs whose traffic it can
affect, through the location's inventory:

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

:func:`change_impact` then sums the entity_throughput rows of those ENIs over the ``windows``
five-minute windows before the change's window and the ``windows`` windows from it on (the
window holding ``change_time`` counts as "after"), and gives the change in rejected flows and
bytes. ``change_time`` is when a snapshot saw the change: the change itself happened during the
snapshot interval before it, so part of the effect may already show in the last "before"
window; the per-window ``series`` shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..inventory.model import ResourceRecord
from .throughput import (
    WINDOW_SECONDS,
    as_utc,
    encode,
    epoch_seconds,
    lookup,
    seconds_array,
    window_start,
)

MEASURES: tuple[str, ...] = (
    "inbound_bytes",
    "outbound_bytes",
    "inbound_packets",
    "outbound_packets",
    "inbound_flows",
    "outbound_flows",
    "accepted_flows",
    "accepted_bytes",
    "rejected_flows",
    "rejected_bytes",
    "rejected_inbound_flows",
    "rejected_outbound_flows",
)


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
    explicit = set()
    for r in records:
        if r.resource_type == "route_table" and r.data.get("vpc_id") == vpc_id:
            explicit.update(r.data.get("subnet_ids") or ())
    return subnets - explicit


def impact_windows(change_time: datetime | str, windows: int = 3) -> list[datetime]:
    """The 2 x `windows` window starts a change's impact covers (before, then after): a change
    whose windows a late file touched needs its impact recomputed."""
    first = epoch_seconds(window_start(change_time)) - windows * WINDOW_SECONDS
    return [datetime.fromtimestamp(first + i * WINDOW_SECONDS, UTC) for i in range(2 * windows)]


def _zero() -> dict[str, int]:
    return dict.fromkeys(MEASURES, 0)


def change_impact(
    change: Mapping, touched: Iterable[str], throughput: pa.Table, windows: int = 3
) -> dict:
    """The traffic of the `touched` ENIs (entity_type ``eni`` rows of `throughput`, the
    entity_throughput table) in the `windows` windows before the change's window and the
    `windows` windows from it on.

    Returns a dict: the change's identity (location_key, change_time, resource_type,
    resource_id, change_type), ``window_seconds``, ``windows``, ``before_start``,
    ``change_window_start``, ``after_end`` (aware datetimes), ``touched_interfaces`` (sorted),
    ``before`` / ``after`` (each MEASURES -> int; inbound/outbound figures include rejected
    traffic), ``rejected_flows_delta`` / ``rejected_bytes_delta`` (after - before), and
    ``series``: one entry per window (``window_start`` as ISO-8601 text, ``phase``
    before/after, and the MEASURES).
    """
    if windows < 1:
        raise ValueError("windows must be at least 1")
    touched_ids = sorted(set(touched))
    change_time = as_utc(change["change_time"])
    change_window = epoch_seconds(window_start(change_time))
    first = change_window - windows * WINDOW_SECONDS
    end = change_window + windows * WINDOW_SECONDS
    per_window = {first + i * WINDOW_SECONDS: _zero() for i in range(2 * windows)}

    if touched_ids and throughput.num_rows:
        seconds, valid = seconds_array(throughput["window_start"])
        seconds = seconds - np.mod(seconds, WINDOW_SECONDS)
        t_codes, t_values = encode(throughput["entity_type"])
        id_codes, id_values = encode(throughput["entity_id"])
        wanted = dict.fromkeys(touched_ids, 1)
        mask = (
            valid
            & (seconds >= first)
            & (seconds < end)
            & (lookup(t_codes, t_values, {"eni": 1}) == 1)
            & (lookup(id_codes, id_values, wanted) == 1)
        )
        if mask.any():
            rows = throughput.take(pa.array(np.flatnonzero(mask)))
            _accumulate(per_window, seconds[mask], rows)

    before, after = _zero(), _zero()
    series = []
    for w, figures in per_window.items():
        phase = "before" if w < change_window else "after"
        total = before if phase == "before" else after
        for name, value in figures.items():
            total[name] += value
        series.append(
            {
                "window_start": datetime.fromtimestamp(w, UTC).isoformat().replace("+00:00", "Z"),
                "phase": phase,
                **figures,
            }
        )
    return {
        "location_key": change.get("location_key"),
        "change_time": change_time,
        "resource_type": change.get("resource_type"),
        "resource_id": change.get("resource_id"),
        "change_type": change.get("change_type"),
        "window_seconds": WINDOW_SECONDS,
        "windows": windows,
        "before_start": datetime.fromtimestamp(first, UTC),
        "change_window_start": datetime.fromtimestamp(change_window, UTC),
        "after_end": datetime.fromtimestamp(end, UTC),
        "touched_interfaces": touched_ids,
        "before": before,
        "after": after,
        "rejected_flows_delta": after["rejected_flows"] - before["rejected_flows"],
        "rejected_bytes_delta": after["rejected_bytes"] - before["rejected_bytes"],
        "series": series,
    }


def _accumulate(per_window: dict[int, dict[str, int]], seconds: np.ndarray, rows: pa.Table):
    def text(name: str) -> list:
        column = rows[name]
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        return column.to_pylist()

    measures = {m: pc.fill_null(rows[m], 0).to_pylist() for m in ("bytes", "packets", "flows")}
    for i, (direction, action) in enumerate(zip(text("direction"), text("action"), strict=True)):
        figures = per_window[int(seconds[i])]
        flows, bytes_ = measures["flows"][i], measures["bytes"][i]
        if direction in ("inbound", "outbound"):
            figures[f"{direction}_bytes"] += bytes_
            figures[f"{direction}_packets"] += measures["packets"][i]
            figures[f"{direction}_flows"] += flows
        if action == "ACCEPT":
            figures["accepted_flows"] += flows
            figures["accepted_bytes"] += bytes_
        elif action == "REJECT":
            figures["rejected_flows"] += flows
            figures["rejected_bytes"] += bytes_
            if direction in ("inbound", "outbound"):
                figures[f"rejected_{direction}_flows"] += flows


def change_impacts(
    changes: Iterable[Mapping],
    inventory_records: Iterable[ResourceRecord],
    throughput: pa.Table,
    windows: int = 3,
) -> list[dict]:
    """:func:`change_impact` of every change (touched ENIs from `inventory_records`), with the
    throughput table narrowed once to the ENI rows of the windows the changes cover."""
    changes = list(changes)
    records = list(inventory_records)
    if not changes:
        return []
    wanted = {epoch_seconds(w) for c in changes for w in impact_windows(c["change_time"], windows)}
    if throughput.num_rows:
        seconds, valid = seconds_array(throughput["window_start"])
        seconds = seconds - np.mod(seconds, WINDOW_SECONDS)
        t_codes, t_values = encode(throughput["entity_type"])
        mask = (
            valid
            & np.isin(seconds, np.array(sorted(wanted), np.int64))
            & (lookup(t_codes, t_values, {"eni": 1}) == 1)
        )
        throughput = throughput.take(pa.array(np.flatnonzero(mask)))
    return [change_impact(c, touched_interfaces(c, records), throughput, windows) for c in changes]
