"""Quality checks of one collection: completeness, referential integrity, duplicate ids."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cloudinsights_dagster.inventory.model import CollectionResult


@dataclass
class CheckOutcome:
    passed: bool
    problems: list[str] = field(default_factory=list)


def completeness(result: CollectionResult) -> CheckOutcome:
    """Every API answered; otherwise which ones were denied or failed, with their errors."""
    problems = [
        f"{result.location_key}: {o.action} {o.outcome} ({o.error})"
        for o in result.outcomes
        if o.outcome != "ok"
    ]
    return CheckOutcome(not problems, problems)


def referential_integrity(result: CollectionResult) -> CheckOutcome:
    """Every ENI's subnet and VPC exist in the snapshot; every route target is known or flagged.

    Only types that were read this time are checked: an unknown type proves nothing missing.
    """
    ids: dict[str, set[str]] = {}
    for record in result.records:
        ids.setdefault(record.resource_type, set()).add(record.resource_id)
    known = {o.resource_type for o in result.outcomes if o.outcome == "ok"}
    problems = []

    def missing(kind: str, value: str | None) -> bool:
        return bool(value) and kind in known and value not in ids.get(kind, set())

    for record in result.records:
        data = record.data
        if record.resource_type == "network_interface":
            for kind, column in (("subnet", "subnet_id"), ("vpc", "vpc_id")):
                if missing(kind, data.get(column)):
                    problems.append(
                        f"{result.location_key}: ENI {record.resource_id} refers to {kind} "
                        f"{data.get(column)}, which is not in the snapshot"
                    )
        elif record.resource_type == "route_table":
            for route in data.get("routes") or []:
                target_type, target_id = route.get("target_type"), route.get("target_id")
                if target_type in (None, "local") or not target_id:
                    continue
                if target_type not in known and target_type not in ids:
                    if target_type not in _TARGETS_NOT_COLLECTED:
                        continue  # its API was denied or disabled: cannot tell
                    problems.append(
                        f"{result.location_key}: route {route.get('destination')} of "
                        f"{record.resource_id} targets {target_type} {target_id}, a kind the "
                        "inventory does not collect"
                    )
                elif missing(target_type, target_id):
                    problems.append(
                        f"{result.location_key}: route {route.get('destination')} of "
                        f"{record.resource_id} targets {target_type} {target_id}, which is not in "
                        "the snapshot (blackhole or in another account)"
                    )
    return CheckOutcome(not problems, problems)


_TARGETS_NOT_COLLECTED = {"local_gateway", "carrier_gateway", "core_network", "gateway"}


def duplicate_ids(result: CollectionResult) -> CheckOutcome:
    counts = Counter(record.key for record in result.records)
    problems = [
        f"{result.location_key}: {rtype} {rid} appears {n} times"
        for (rtype, rid), n in sorted(counts.items())
        if n > 1
    ]
    return CheckOutcome(not problems, problems)


def across_locations(
    check: Callable[[CollectionResult], CheckOutcome], results: Iterable[CollectionResult]
) -> CheckOutcome:
    """One check over every location of a run: passes when it passes everywhere."""
    outcomes = [check(result) for result in results]
    return CheckOutcome(all(o.passed for o in outcomes), [p for o in outcomes for p in o.problems])
