"""The inventory's temporal versions of ENIs, security groups and network ACLs that reject
reasons are evaluated against, queried by time, and loaded from the warehouse."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Version:
    """One temporal version of an inventory resource (epoch seconds; valid_to None: current)."""

    resource_type: str
    resource_id: str
    valid_from: int
    valid_to: int | None
    data: Mapping


def _ts(moment: datetime | int) -> int:
    if isinstance(moment, datetime):
        return int(moment.timestamp())
    return int(moment)


class InventoryHistory:
    """The versions of ENIs, security groups and network ACLs, queried by time."""

    def __init__(self, versions: Iterable[Version]):
        by_key: dict[tuple[str, str], list[Version]] = defaultdict(list)
        for v in versions:
            by_key[(v.resource_type, v.resource_id)].append(v)
        self._versions = {k: sorted(vs, key=lambda v: v.valid_from) for k, vs in by_key.items()}
        self._starts = {k: [v.valid_from for v in vs] for k, vs in self._versions.items()}
        self._acls_by_vpc: dict[str | None, list[str]] = defaultdict(list)
        for (rtype, rid), vs in self._versions.items():
            if rtype == "network_acl":
                for vpc in {v.data.get("vpc_id") for v in vs}:
                    self._acls_by_vpc[vpc].append(rid)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple]) -> InventoryHistory:
        """(resource_type, resource_id, valid_from, valid_to, data) rows (datetimes or seconds)."""
        return cls(
            Version(t, i, _ts(f), None if to is None else _ts(to), d) for t, i, f, to, d in rows
        )

    def versions(self, resource_type: str, resource_id: str) -> list[Version]:
        return self._versions.get((resource_type, resource_id), [])

    def at(self, resource_type: str, resource_id: str, t: int) -> Version | None:
        key = (resource_type, resource_id)
        starts = self._starts.get(key)
        if not starts:
            return None
        i = bisect_right(starts, t) - 1
        if i < 0:
            return None
        v = self._versions[key][i]
        return v if v.valid_to is None or v.valid_to > t else None

    def acl_ids(self, vpc_id: str | None) -> list[str]:
        return self._acls_by_vpc.get(vpc_id, [])

    def acl_for(self, subnet_id: str | None, vpc_id: str | None, t: int) -> Version | None:
        """The ACL associated with the subnet at t, else the VPC's default ACL."""
        default = None
        for acl_id in self.acl_ids(vpc_id):
            v = self.at("network_acl", acl_id, t)
            if v is None:
                continue
            if subnet_id and subnet_id in (v.data.get("subnet_ids") or ()):
                return v
            if v.data.get("is_default"):
                default = v
        return default

    def change_points(self, eni_id: str) -> list[int]:
        """Every time the ENI, one of its groups or one of its VPC's ACLs got a new version."""
        points: set[int] = set()
        groups: set[str] = set()
        vpcs: set[str | None] = set()
        for v in self.versions("network_interface", eni_id):
            points.add(v.valid_from)
            if v.valid_to is not None:
                points.add(v.valid_to)
            groups.update(v.data.get("security_group_ids") or ())
            vpcs.add(v.data.get("vpc_id"))
        for g in groups:
            for v in self.versions("security_group", g):
                points.add(v.valid_from)
                if v.valid_to is not None:
                    points.add(v.valid_to)
        for vpc in vpcs:
            for acl_id in self.acl_ids(vpc):
                for v in self.versions("network_acl", acl_id):
                    points.add(v.valid_from)
                    if v.valid_to is not None:
                        points.add(v.valid_to)
        return sorted(points)


@dataclass
class InventoryState:
    """The rule set (or why none) of an ENI in one segment."""

    key: tuple | None  # versions that make up the rule set (None: unknown)
    detail: str | None
    group_versions: dict[str, Version]
    eni_version: Version | None


def state_at(history: InventoryHistory, eni_id: str, t: int) -> InventoryState:
    eni = history.at("network_interface", eni_id, t)
    if eni is None:
        return InventoryState(None, f"no inventory of {eni_id} at that time", {}, None)
    groups: dict[str, Version] = {}
    for g in sorted(eni.data.get("security_group_ids") or ()):
        v = history.at("security_group", g, t)
        if v is None:
            return InventoryState(None, f"no inventory of security group {g} at that time", {}, eni)
        groups[g] = v
    acl = history.acl_for(eni.data.get("subnet_id"), eni.data.get("vpc_id"), t)
    key = (
        tuple((g, v.valid_from) for g, v in groups.items()),
        None if acl is None else (acl.resource_id, acl.valid_from),
    )
    return InventoryState(key, None, groups, eni)


def history_from_session(session, location_keys: Iterable[str], start: datetime, end: datetime):
    """The ENI, security-group and ACL versions of these locations that were valid at some time
    before `end` and not closed before `start` (pass a `start` early enough for the history of
    removed rules: a week before the records, say)."""
    import sqlalchemy as sa

    from cloudinsights_dagster.warehouse import schema as s

    keys = list(location_keys)
    rows = session.execute(
        sa.select(
            s.InventoryResource.resource_type,
            s.InventoryResource.resource_id,
            s.InventoryResource.valid_from,
            s.InventoryResource.valid_to,
            s.InventoryResource.data,
        ).where(
            s.InventoryResource.location_key.in_(keys),
            s.InventoryResource.resource_type.in_(
                ["network_interface", "security_group", "network_acl"]
            ),
            s.InventoryResource.valid_from < end,
            sa.or_(s.InventoryResource.valid_to.is_(None), s.InventoryResource.valid_to > start),
        )
    )
    return InventoryHistory.from_rows(
        (t, i, _aware(f), None if to is None else _aware(to), d) for t, i, f, to, d in rows
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
