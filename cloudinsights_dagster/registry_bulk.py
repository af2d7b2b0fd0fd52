"""The registry's bulk writes for organization onboarding (organizations.py): hundreds of
accounts read, added, disabled and re-enabled in a handful of statements and one transaction,
with every rule of the single-integration calls (registry.py) still checked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from cloudinsights_dagster.arns import parse_role_arn, validate_region
from cloudinsights_dagster.registry import (
    IntegrationInfo,
    Registry,
    RegistryError,
    checked,
    clean_name,
)
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import session_scope


@dataclass(frozen=True)
class InventoryAccount:
    """An inventory integration as organization onboarding sees it."""

    id: int
    name: str
    account_id: str
    role_arn: str
    organization_id: str | None
    disabled_at: datetime | None
    disabled_reason: str | None
    region_count: int


@dataclass(frozen=True)
class NewInventory:
    name: str
    role_arn: str
    regions: tuple[str, ...] = ()
    organization_id: str | None = None


def inventory_accounts(registry: Registry, account_group: str) -> list[InventoryAccount]:
    """The group's inventory integrations in one query (no per-integration look-ups), for
    planning an onboarding of hundreds of accounts."""
    with session_scope(registry.database_url) as session:
        group = session.scalar(
            sa.select(s.AccountGroup).where(
                s.AccountGroup.name == clean_name(account_group, "account group")
            )
        )
        if group is None:
            return []
        rows = session.execute(
            sa.select(
                s.Integration,
                sa.select(sa.func.count())
                .where(s.IntegrationRegion.integration_id == s.Integration.id)
                .scalar_subquery(),
            )
            .where(
                s.Integration.account_group_id == group.id,
                s.Integration.integration_type == "inventory",
            )
            .order_by(s.Integration.account_id, s.Integration.id)
        ).all()
        return [
            InventoryAccount(
                id=i.id,
                name=i.name,
                account_id=i.account_id,
                role_arn=i.role_arn,
                organization_id=i.organization_id,
                disabled_at=i.disabled_at,
                disabled_reason=i.disabled_reason,
                region_count=int(count or 0),
            )
            for i, count in rows
        ]


def integration_names(registry: Registry, account_group: str) -> set[str]:
    """Every integration name of the group (both types), for choosing new unique names."""
    with session_scope(registry.database_url) as session:
        return set(
            session.scalars(
                sa.select(s.Integration.name)
                .join(s.AccountGroup, s.AccountGroup.id == s.Integration.account_group_id)
                .where(s.AccountGroup.name == clean_name(account_group, "account group"))
            )
        )


def apply_inventory_changes(
    registry: Registry,
    account_group: str,
    add: list[NewInventory],
    disable: dict[int, str] | None = None,
    enable: list[int] | None = None,
    now: datetime | None = None,
) -> list[IntegrationInfo]:
    """Add many inventory integrations, disable and re-enable others, in ONE transaction
    with a handful of statements whatever the count: all of it is saved, or none.

    Every rule of `add_inventory` holds (unique names, one integration per role); a breach
    names each offending entry and nothing is written. Returns the added integrations.
    """
    disable, enable = disable or {}, enable or []
    roles = {}
    for entry in add:
        roles[entry.name] = checked(parse_role_arn, entry.role_arn)
        for region in entry.regions:
            checked(validate_region, region)
    now = now or s.utcnow()
    with session_scope(registry.database_url) as session:
        group = registry.group_row(session, account_group, create=True)
        existing = session.execute(
            sa.select(
                s.Integration.name, s.Integration.integration_type, s.Integration.role_arn
            ).where(s.Integration.account_group_id == group.id)
        ).all()
        taken_names = {name for name, _, _ in existing}
        taken_roles = {arn for _, kind, arn in existing if kind == "inventory"}
        problems, names, arns = [], set(), set()
        for entry in add:
            name, arn = clean_name(entry.name, "integration"), roles[entry.name].arn
            if name in taken_names or name in names:
                problems.append(f"name {name!r} is already used in account group {group.name!r}")
            if arn in taken_roles or arn in arns:
                problems.append(f"role {arn} is already used by an inventory integration")
            names.add(name)
            arns.add(arn)
        if problems:
            shown = "; ".join(problems[:10])
            more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
            raise RegistryError(f"nothing saved: {shown}{more}")
        rows = [
            {
                "account_group_id": group.id,
                "name": clean_name(entry.name, "integration"),
                "integration_type": "inventory",
                "role_arn": roles[entry.name].arn,
                "account_id": roles[entry.name].account_id,
                "organization_id": entry.organization_id,
                "created_at": now,
            }
            for entry in add
        ]
        if rows:
            session.execute(sa.insert(s.Integration), rows)
        added = (
            {
                i.name: i
                for i in session.scalars(
                    sa.select(s.Integration).where(
                        s.Integration.account_group_id == group.id,
                        s.Integration.name.in_([r["name"] for r in rows]),
                    )
                )
            }
            if rows
            else {}
        )
        regions: list[dict[str, Any]] = [
            {"integration_id": added[e.name.strip()].id, "region": region, "source": "given"}
            for e in add
            for region in sorted(set(e.regions))
        ]
        if regions:
            session.execute(sa.insert(s.IntegrationRegion), regions)
        if added:
            session.execute(
                sa.insert(s.IntegrationStatus),
                [
                    {
                        "integration_id": i.id,
                        "account_group_id": group.id,
                        "status": "pending",
                        "reasons": ["saved, not yet monitored"],
                        "fix": None,
                        "updated_at": now,
                    }
                    for i in added.values()
                ],
            )
        # One executemany by primary key, however many are disabled; only the group's own.
        if disable:
            own = set(
                session.scalars(
                    sa.select(s.Integration.id).where(
                        s.Integration.account_group_id == group.id,
                        s.Integration.id.in_(list(disable)),
                    )
                )
            )
            updates = [
                {"id": i, "disabled_at": now, "disabled_reason": reason}
                for i, reason in disable.items()
                if i in own
            ]
            if updates:
                session.execute(sa.update(s.Integration), updates)
        if enable:
            session.execute(
                sa.update(s.Integration)
                .where(s.Integration.account_group_id == group.id, s.Integration.id.in_(enable))
                .values(disabled_at=None, disabled_reason=None)
            )
        regions_by_id: dict[int, list[str]] = {}
        for r in regions:
            regions_by_id.setdefault(r["integration_id"], []).append(r["region"])
        return [
            IntegrationInfo(
                id=i.id,
                account_group=group.name,
                name=i.name,
                integration_type="inventory",
                role_arn=i.role_arn,
                account_id=i.account_id,
                created_at=i.created_at,
                regions=tuple(regions_by_id.get(i.id, ())),
            )
            for i in sorted(added.values(), key=lambda i: i.account_id)
        ]


def set_regions_bulk(
    registry: Registry, regions_by_integration: dict[int, list[str]], source: str
) -> None:
    """`set_regions` for many integrations in one transaction."""
    for regions in regions_by_integration.values():
        for region in regions:
            checked(validate_region, region)
    if not regions_by_integration:
        return
    with session_scope(registry.database_url) as session:
        ids = list(regions_by_integration)
        session.execute(
            sa.delete(s.IntegrationRegion).where(s.IntegrationRegion.integration_id.in_(ids))
        )
        rows = [
            {"integration_id": i, "region": region, "source": source}
            for i, regions in regions_by_integration.items()
            for region in sorted(set(regions))
        ]
        if rows:
            session.execute(sa.insert(s.IntegrationRegion), rows)
