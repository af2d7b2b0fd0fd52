"""Config-change events from two consecutive snapshots of one location.

Snapshots map ``(resource_type, resource_id)`` to normalized data (see ``model``). Unchanged
records are recognised with one C-level equality test each, which for normalized data agrees
with comparing content hashes but serializes nothing (Python's ``1 == 1.0 == True`` is the only
difference, and a normalized field never changes type); only records that differ are walked
field by field. A null field that appears or vanishes is no change (so adding a field to a
collector does not turn every resource into a modification).

Lists of identity-keyed dicts (every element has a ``"key"``) are matched by key, so reordering
is never a change, and changes read ``ip_permissions[tcp/443/10.0.0.0/8]`` (a rule added or
removed) or ``routes[0.0.0.0/0].target_id`` (a field of a kept element). Other lists compare as
wholes (they are sorted by the transforms). Dict fields recurse: ``tags.Name``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

ChangeType = Literal["created", "deleted", "modified"]

_ABSENT: Any = None  # what a missing field or element reads as in before/after


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Change:
    resource_type: str
    resource_id: str
    change_type: ChangeType
    fields: tuple[FieldChange, ...] = ()


def diff_snapshots(
    previous: Mapping[tuple[str, str], dict],
    current: Mapping[tuple[str, str], dict],
    unknown_types: Collection[str] = (),
) -> list[Change]:
    """Changes from ``previous`` to ``current``, sorted by (type, id).

    Resource types in ``unknown_types`` (their API was denied or failed this time) produce no
    event at all: their absence from ``current`` says nothing about AWS. Created and deleted
    events carry no fields (the snapshots hold the data); modified events carry one
    :class:`FieldChange` per changed leaf, keyed element or whole list.
    """
    unknown = frozenset(unknown_types)
    changes: list[Change] = []
    prev_get = previous.get
    for key, after in current.items():
        if unknown and key[0] in unknown:
            continue
        before = prev_get(key)
        if before is None:
            changes.append(Change(key[0], key[1], "created"))
        elif before != after:
            fields = diff_fields(before, after)
            if fields:  # else only null-valued fields appeared/vanished or keyed lists reordered
                changes.append(Change(key[0], key[1], "modified", tuple(fields)))
    for key in previous.keys() - current.keys():
        if not (unknown and key[0] in unknown):
            changes.append(Change(key[0], key[1], "deleted"))
    changes.sort(key=lambda c: (c.resource_type, c.resource_id))
    return changes


def diff_fields(before: Any, after: Any, path: str = "") -> list[FieldChange]:
    """Field-level differences between two normalized values (empty when equal)."""
    out: list[FieldChange] = []
    _diff(before, after, path, out)
    return out


def _is_keyed(items: list) -> bool:
    return all(isinstance(item, dict) and "key" in item for item in items)


def _diff(before: Any, after: Any, path: str, out: list[FieldChange]) -> None:
    if before == after and type(before) is type(after):
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for name in sorted(before.keys() | after.keys(), key=str):
            sub = f"{path}.{name}" if path else str(name)
            _diff(before.get(name, _ABSENT), after.get(name, _ABSENT), sub, out)
        return
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and (before or after)
        and _is_keyed(before)
        and _is_keyed(after)
    ):
        old = {str(item["key"]): item for item in before}
        new = {str(item["key"]): item for item in after}
        if len(old) == len(before) and len(new) == len(after):  # keys unique: match by key
            for k in sorted(old.keys() | new.keys()):
                sub = f"{path}[{k}]"
                if k not in old:
                    out.append(FieldChange(sub, _ABSENT, new[k]))
                elif k not in new:
                    out.append(FieldChange(sub, old[k], _ABSENT))
                else:
                    _diff(old[k], new[k], sub, out)
            return
    out.append(FieldChange(path, before, after))
