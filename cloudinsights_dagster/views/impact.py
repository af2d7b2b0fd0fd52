"""Config changes side by side with the traffic of what they touched (table ``change_impact``).

:func:`change_impact` sums the entity_throughput rows of the ENIs a change touched (see
touched.py) over the ``windows`` five-minute windows before the change's window and the
``windows`` windows from it on (the window holding ``change_time`` counts as "after"), and gives
the change in rejected flows and bytes. ``change_time`` is when a snapshot saw the change: the change itself happened during the
snapshot interval before it, so part of the effect may already show in the last "before"
window; the per-window ``series`` shows it.

Ranking (what a change can explain): a window in which the touched ENIs logged nothing has no
figures (``has_data`` false in the series), not zeros. The change's ``shift`` is the rejected
flows of its own window (the first one it can fully act on, or the next one with data) minus
those of the last window with data before it: a spike two windows later belongs to a later
change, not to this one. :func:`change_effect` says which way the change can move rejects
(``raise``: an allow rule removed or narrowed, a deny entry added, a group detached;
``lower``: the opposite; ``none``: a rename, tags, descriptions; ``either``: anything else), and
``explains`` is true when the shift is significant (at least 20 % of the mean rejected flows
of the windows with data before the change, and at least one flow) and its sign is one the
effect allows. ``score``
orders candidate changes: explaining changes first, by the size of the shift they explain, then
by closeness (a shift in the change's window counts fully, one in the next window half).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..inventory.model import ResourceRecord
from .touched import touched_interfaces
from .vectorized import (
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
    seen: set[int] = set()  # windows with rows of the touched ENIs (the others have no data)

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
            seen = {int(w) for w in np.unique(seconds[mask])}

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
                "has_data": w in seen,
                **figures,
            }
        )
    effect = change_effect(change)
    shift, distance = _shift(per_window, seen, change_window)
    level = [per_window[w]["rejected_flows"] for w in seen if w < change_window]
    noise = max(1.0, SIGNIFICANT * (sum(level) / len(level))) if level else 1.0
    significant = shift is not None and abs(shift) >= noise
    explains = (
        significant
        and shift is not None
        and (
            (shift > 0 and effect in ("raise", "either"))
            or (shift < 0 and effect in ("lower", "either"))
        )
    )
    score = abs(shift) / (1 + distance) if explains and shift is not None else 0.0
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
        "effect": effect,
        "rejected_flows_shift": shift,
        "explains": explains,
        "score": float(score),
        "explanation": _explanation(effect, shift, explains, distance, significant),
    }


def _shift(
    per_window: dict[int, dict[str, int]], seen: set[int], change_window: int
) -> tuple[int | None, int]:
    """(rejected flows of the change's window, or the next with data, minus the last window
    with data before it; how many windows after the change's window that one is)."""
    before = [w for w in per_window if w < change_window and w in seen]
    after = [w for w in per_window if w >= change_window and w in seen]
    if not before or not after:
        return None, 0
    first = after[0]
    value = per_window[first]["rejected_flows"] - per_window[before[-1]]["rejected_flows"]
    return value, (first - change_window) // WINDOW_SECONDS


def _explanation(
    effect: str, shift: int | None, explains: bool, distance: int, significant: bool
) -> str:
    if shift is None:
        return "no traffic of the touched ENIs on both sides of the change"
    if not significant:
        return f"rejected flows did not shift at the change ({shift:+d}, within the usual level)"
    way = "rose" if shift > 0 else "fell"
    if not explains:
        return f"rejected flows {way} by {abs(shift)}, which a change of effect {effect} cannot explain"
    late = f" {distance} window(s) after the change's window" if distance else ""
    return f"rejected flows {way} by {abs(shift)}{late}; the change can explain it ({effect})"


SIGNIFICANT = 0.2  # a shift counts from 20 % of the level before (at least one flow)
_NEUTRAL_FIELDS = ("name", "tags", "description", "group_name")
_RULE_LISTS = ("ip_permissions", "ip_permissions_egress")


def change_effect(change: Mapping) -> str:
    """Which way a config change can move rejected traffic: raise, lower, none or either."""
    fields = list(change.get("changed_fields") or ())
    resource_type = change.get("resource_type")
    if change.get("change_type") != "modified":
        return "either"
    paths = [str(f.get("path", "")) for f in fields]
    roots = [p.split(".", 1)[0].split("[", 1)[0] for p in paths]
    if roots and all(r in _NEUTRAL_FIELDS for r in roots):
        return "none"
    ways: set[str] = set()
    for f, root in zip(fields, roots, strict=True):
        before, after = f.get("before"), f.get("after")
        if root in _NEUTRAL_FIELDS:
            continue
        if resource_type == "security_group" and root in _RULE_LISTS:
            if before is not None and after is None:
                ways.add("raise")
            elif before is None and after is not None:
                ways.add("lower")
            else:
                ways.add("either")
        elif resource_type == "network_acl" and root == "entries":
            entry = before if after is None else after
            allow = str((entry or {}).get("rule_action", "")).lower() == "allow"
            if before is None or after is None:
                added = before is None
                ways.add("lower" if added == allow else "raise")
            else:
                ways.add("either")
        elif resource_type == "network_interface" and root == "security_group_ids":
            old, new = set(before or ()), set(after or ())
            ways.add("raise" if new < old else "lower" if old < new else "either")
        else:
            ways.add("either")
    if not ways:
        return "none"
    return ways.pop() if len(ways) == 1 else "either"


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


def rank_impacts(impacts: Iterable[Mapping]) -> list[Mapping]:
    """Candidate changes, best explanation first: explaining changes by score, then the rest
    (ties by change time, latest first, then resource id)."""
    return sorted(
        impacts,
        key=lambda i: (
            not i.get("explains"),
            -float(i.get("score") or 0.0),
            -as_utc(i["change_time"]).timestamp(),
            str(i.get("resource_id")),
        ),
    )
