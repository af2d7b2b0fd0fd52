"""The integrations registry: account groups, their inventory and flow-logs integrations,
integration policies (disabled resource groups and regions) and the monitored locations.

Every rule of the product is checked here, before anything is written, and each write is one
transaction: a rejected request leaves the registry exactly as it was.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudinsights_dagster import catalog
from cloudinsights_dagster.arns import (
    InvalidIdentifier,
    location_key,
    parse_role_arn,
    parse_topic_arn,
    validate_region,
)
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import session_scope

IntegrationType = Literal["inventory", "flowlogs"]
TYPE_TITLES = {"inventory": "inventory monitoring", "flowlogs": "flow logs monitoring"}
MAX_NAME_LENGTH = 200


class RegistryError(Exception):
    """A request breaks a registry rule; the message says which and what to do."""


class NotFound(RegistryError):
    pass


@dataclass(frozen=True)
class IntegrationInfo:
    id: int
    account_group: str
    name: str
    integration_type: IntegrationType
    role_arn: str
    account_id: str
    created_at: datetime
    topic_arns: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    disabled_at: datetime | None = None
    disabled_reason: str | None = None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "account_group": self.account_group,
            "name": self.name,
            "type": self.integration_type,
            "role_arn": self.role_arn,
            "account_id": self.account_id,
            "created_at": self.created_at.isoformat(),
            "topic_arns": list(self.topic_arns),
            "regions": list(self.regions),
            "disabled_at": self.disabled_at.isoformat() if self.disabled_at else None,
            "disabled_reason": self.disabled_reason,
        }


@dataclass(frozen=True)
class DisabledSettings:
    resource_groups: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Location:
    """An AWS account + region monitored by an inventory integration of an account group."""

    key: str
    account_id: str
    region: str
    account_group: str
    integration_id: int
    integration_name: str
    role_arn: str
    disabled_resource_groups: frozenset[str] = field(default_factory=frozenset)


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


def new_external_id() -> str:
    # 192 random bits: unguessable, and within STS's 2-1224 character limit and alphabet.
    return secrets.token_urlsafe(24)


class Registry:
    def __init__(self, database_url: str):
        self.database_url = database_url

    # ------------------------------------------------------------ account groups

    def _group(self, session: Session, name: str, create: bool = False) -> s.AccountGroup:
        name = _clean_name(name, "account group")
        group = session.scalar(sa.select(s.AccountGroup).where(s.AccountGroup.name == name))
        if group is None:
            if not create:
                raise NotFound(f"account group {name!r} does not exist")
            group = s.AccountGroup(name=name, external_id=new_external_id())
            session.add(group)
            session.flush()
        return group

    def external_id(self, account_group: str) -> str:
        """The account group's ExternalId, created on first use and stable afterwards."""
        with session_scope(self.database_url) as session:
            return self._group(session, account_group, create=True).external_id

    def account_groups(self) -> list[str]:
        with session_scope(self.database_url) as session:
            return list(
                session.scalars(sa.select(s.AccountGroup.name).order_by(s.AccountGroup.name))
            )

    # ------------------------------------------------------------ integrations

    def add_inventory(
        self, account_group: str, name: str, role_arn: str, regions: list[str] | None = None
    ) -> IntegrationInfo:
        role = _parse(parse_role_arn, role_arn)
        for region in regions or []:
            _parse(validate_region, region)
        with session_scope(self.database_url) as session:
            group = self._group(session, account_group, create=True)
            self._check_new(session, group, name, "inventory", role.arn)
            integration = s.Integration(
                account_group_id=group.id,
                name=_clean_name(name, "integration"),
                integration_type="inventory",
                role_arn=role.arn,
                account_id=role.account_id,
            )
            session.add(integration)
            session.flush()
            for region in sorted(set(regions or [])):
                session.add(
                    s.IntegrationRegion(
                        integration_id=integration.id, region=region, source="given"
                    )
                )
            _set_pending(session, integration)
            session.flush()
            return self._info(session, integration, group)

    def add_flowlogs(
        self, account_group: str, name: str, role_arn: str, topic_arns: list[str]
    ) -> IntegrationInfo:
        role = _parse(parse_role_arn, role_arn)
        if not topic_arns:
            raise RegistryError(
                "a flow logs integration needs at least one SNS topic ARN (--topic-arn), "
                "one per region where its account holds flow-log buckets"
            )
        topics = [_parse(parse_topic_arn, arn) for arn in topic_arns]
        foreign = [t.arn for t in topics if t.account_id != role.account_id]
        if foreign:
            raise RegistryError(
                f"SNS topic ARN(s) {', '.join(foreign)} belong to a different account than the "
                f"role {role.arn} (account {role.account_id}); a flow logs integration covers one "
                "account: use that account's topics, or create another integration"
            )
        arns = Counter(t.arn for t in topics)
        repeated = sorted(arn for arn, count in arns.items() if count > 1)
        if repeated:
            raise RegistryError(f"SNS topic ARN(s) listed twice: {', '.join(repeated)}")
        with session_scope(self.database_url) as session:
            group = self._group(session, account_group, create=True)
            self._check_new(session, group, name, "flowlogs", role.arn)
            taken = session.execute(
                sa.select(s.IntegrationTopic.topic_arn, s.Integration.name, s.AccountGroup.name)
                .join(s.Integration, s.Integration.id == s.IntegrationTopic.integration_id)
                .join(s.AccountGroup, s.AccountGroup.id == s.Integration.account_group_id)
                .where(s.IntegrationTopic.topic_arn.in_([t.arn for t in topics]))
            ).all()
            if taken:
                described = "; ".join(
                    f"{arn} (integration {iname!r} in account group {gname!r})"
                    for arn, iname, gname in taken
                )
                raise RegistryError(
                    f"SNS topic ARN already defined in another integration: {described}; "
                    "a topic can belong to one integration only"
                )
            integration = s.Integration(
                account_group_id=group.id,
                name=_clean_name(name, "integration"),
                integration_type="flowlogs",
                role_arn=role.arn,
                account_id=role.account_id,
            )
            session.add(integration)
            session.flush()
            for topic in topics:
                session.add(
                    s.IntegrationTopic(
                        integration_id=integration.id, topic_arn=topic.arn, region=topic.region
                    )
                )
            _set_pending(session, integration)
            session.flush()
            return self._info(session, integration, group)

    def _check_new(
        self, session: Session, group: s.AccountGroup, name: str, kind: str, role_arn: str
    ) -> None:
        name = _clean_name(name, "integration")
        clash = session.scalar(
            sa.select(s.Integration).where(
                s.Integration.account_group_id == group.id, s.Integration.name == name
            )
        )
        if clash is not None:
            raise RegistryError(
                f"an integration named {name!r} already exists in account group {group.name!r} "
                f"({TYPE_TITLES[clash.integration_type]}); names must be unique: choose another"
            )
        same_role = session.scalar(
            sa.select(s.Integration).where(
                s.Integration.account_group_id == group.id,
                s.Integration.integration_type == kind,
                s.Integration.role_arn == role_arn,
            )
        )
        if same_role is not None:
            raise RegistryError(
                f"role {role_arn} is already used by {TYPE_TITLES[kind]} integration "
                f"{same_role.name!r} in account group {group.name!r}; each {TYPE_TITLES[kind]} "
                "integration needs its own role (one inventory and one flow logs integration "
                "may share a role)"
            )

    def list_integrations(self, account_group: str | None = None) -> list[IntegrationInfo]:
        with session_scope(self.database_url) as session:
            query = sa.select(s.Integration, s.AccountGroup).join(
                s.AccountGroup, s.AccountGroup.id == s.Integration.account_group_id
            )
            if account_group is not None:
                group = self._group(session, account_group)
                query = query.where(s.Integration.account_group_id == group.id)
            rows = session.execute(query.order_by(s.AccountGroup.name, s.Integration.name)).all()
            return [self._info(session, integration, group) for integration, group in rows]

    def get(self, account_group: str, name: str) -> IntegrationInfo:
        with session_scope(self.database_url) as session:
            group = self._group(session, account_group)
            return self._info(session, self._integration(session, group, name), group)

    def get_by_id(self, integration_id: int) -> IntegrationInfo:
        with session_scope(self.database_url) as session:
            integration = session.get(s.Integration, integration_id)
            if integration is None:
                raise NotFound(f"integration id {integration_id} does not exist")
            group = session.get(s.AccountGroup, integration.account_group_id)
            if group is None:  # the foreign key forbids it
                raise NotFound(f"integration id {integration_id} has no account group")
            return self._info(session, integration, group)

    def remove(self, account_group: str, name: str) -> IntegrationInfo:
        with session_scope(self.database_url) as session:
            group = self._group(session, account_group)
            integration = self._integration(session, group, name)
            info = self._info(session, integration, group)
            # Explicit deletes: SQLite only cascades with foreign keys on, and we don't rely on it.
            for model in (s.IntegrationTopic, s.IntegrationRegion, s.TopicSubscription):
                session.execute(sa.delete(model).where(model.integration_id == integration.id))
            session.execute(
                sa.delete(s.IntegrationStatus).where(
                    s.IntegrationStatus.integration_id == integration.id
                )
            )
            session.delete(integration)
            return info

    def set_regions(self, integration_id: int, regions: list[str], source: str) -> None:
        """Record the enabled regions of an inventory integration's account (replacing old ones)."""
        for region in regions:
            _parse(validate_region, region)
        with session_scope(self.database_url) as session:
            session.execute(
                sa.delete(s.IntegrationRegion).where(
                    s.IntegrationRegion.integration_id == integration_id
                )
            )
            for region in sorted(set(regions)):
                session.add(
                    s.IntegrationRegion(integration_id=integration_id, region=region, source=source)
                )

    def _integration(self, session: Session, group: s.AccountGroup, name: str) -> s.Integration:
        integration = session.scalar(
            sa.select(s.Integration).where(
                s.Integration.account_group_id == group.id, s.Integration.name == name
            )
        )
        if integration is None:
            raise NotFound(f"no integration named {name!r} in account group {group.name!r}")
        return integration

    def _info(
        self, session: Session, integration: s.Integration, group: s.AccountGroup
    ) -> IntegrationInfo:
        topics = session.scalars(
            sa.select(s.IntegrationTopic.topic_arn)
            .where(s.IntegrationTopic.integration_id == integration.id)
            .order_by(s.IntegrationTopic.topic_arn)
        )
        regions = session.scalars(
            sa.select(s.IntegrationRegion.region)
            .where(s.IntegrationRegion.integration_id == integration.id)
            .order_by(s.IntegrationRegion.region)
        )
        return IntegrationInfo(
            id=integration.id,
            account_group=group.name,
            name=integration.name,
            integration_type=integration.integration_type,  # type: ignore[arg-type]
            role_arn=integration.role_arn,
            account_id=integration.account_id,
            created_at=integration.created_at,
            topic_arns=tuple(topics),
            regions=tuple(regions),
            disabled_at=integration.disabled_at,
            disabled_reason=integration.disabled_reason,
        )

    # ------------------------------------------------------------ bulk (organization onboarding)

    def inventory_accounts(self, account_group: str) -> list[InventoryAccount]:
        """The group's inventory integrations in one query (no per-integration look-ups), for
        planning an onboarding of hundreds of accounts."""
        with session_scope(self.database_url) as session:
            group = session.scalar(
                sa.select(s.AccountGroup).where(
                    s.AccountGroup.name == _clean_name(account_group, "account group")
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

    def integration_names(self, account_group: str) -> set[str]:
        """Every integration name of the group (both types), for choosing new unique names."""
        with session_scope(self.database_url) as session:
            return set(
                session.scalars(
                    sa.select(s.Integration.name)
                    .join(s.AccountGroup, s.AccountGroup.id == s.Integration.account_group_id)
                    .where(s.AccountGroup.name == _clean_name(account_group, "account group"))
                )
            )

    def apply_inventory_changes(
        self,
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
            roles[entry.name] = _parse(parse_role_arn, entry.role_arn)
            for region in entry.regions:
                _parse(validate_region, region)
        now = now or s.utcnow()
        with session_scope(self.database_url) as session:
            group = self._group(session, account_group, create=True)
            existing = session.execute(
                sa.select(
                    s.Integration.name, s.Integration.integration_type, s.Integration.role_arn
                ).where(s.Integration.account_group_id == group.id)
            ).all()
            taken_names = {name for name, _, _ in existing}
            taken_roles = {arn for _, kind, arn in existing if kind == "inventory"}
            problems, names, arns = [], set(), set()
            for entry in add:
                name, arn = _clean_name(entry.name, "integration"), roles[entry.name].arn
                if name in taken_names or name in names:
                    problems.append(
                        f"name {name!r} is already used in account group {group.name!r}"
                    )
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
                    "name": _clean_name(entry.name, "integration"),
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

    def set_regions_bulk(self, regions_by_integration: dict[int, list[str]], source: str) -> None:
        """`set_regions` for many integrations in one transaction."""
        for regions in regions_by_integration.values():
            for region in regions:
                _parse(validate_region, region)
        if not regions_by_integration:
            return
        with session_scope(self.database_url) as session:
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

    # ------------------------------------------------------------ integration policies

    def set_enabled(
        self,
        account_group: str,
        enabled: bool,
        resource_group: str | None = None,
        region: str | None = None,
    ) -> DisabledSettings:
        if (resource_group is None) == (region is None):
            raise RegistryError("name exactly one of a resource group or a region")
        if resource_group is not None:
            known = catalog.RESOURCE_GROUPS.get(resource_group)
            if known is None:
                raise RegistryError(
                    f"unknown resource group {resource_group!r}; known: "
                    + ", ".join(sorted(catalog.RESOURCE_GROUPS))
                )
            if not known.can_disable and not enabled:
                raise RegistryError(
                    f'the "{known.title}" resource group cannot be disabled: it is essential '
                    "for the integration to work"
                )
            kind, value = "resource_group", resource_group
        else:
            kind, value = "region", _parse(validate_region, region or "")
        with session_scope(self.database_url) as session:
            group = self._group(session, account_group, create=True)
            existing = session.scalar(
                sa.select(s.DisabledSetting).where(
                    s.DisabledSetting.account_group_id == group.id,
                    s.DisabledSetting.kind == kind,
                    s.DisabledSetting.value == value,
                )
            )
            if enabled and existing is not None:
                session.delete(existing)
            elif not enabled and existing is None:
                session.add(s.DisabledSetting(account_group_id=group.id, kind=kind, value=value))
            session.flush()
            return _disabled(session, group.id)

    def disabled(self, account_group: str) -> DisabledSettings:
        with session_scope(self.database_url) as session:
            return _disabled(session, self._group(session, account_group, create=True).id)

    # ------------------------------------------------------------ locations

    def locations(self) -> list[Location]:
        """Every monitored location: enabled inventory integrations' regions less disabled
        regions (a disabled integration is kept but has no locations)."""
        with session_scope(self.database_url) as session:
            rows = session.execute(
                sa.select(s.Integration, s.AccountGroup, s.IntegrationRegion.region)
                .join(s.AccountGroup, s.AccountGroup.id == s.Integration.account_group_id)
                .join(s.IntegrationRegion, s.IntegrationRegion.integration_id == s.Integration.id)
                .where(
                    s.Integration.integration_type == "inventory",
                    s.Integration.disabled_at.is_(None),
                )
                .order_by(s.Integration.account_id, s.IntegrationRegion.region, s.AccountGroup.name)
            ).all()
            disabled_by_group: dict[int, DisabledSettings] = {}
            locations = []
            for integration, group, region in rows:
                if group.id not in disabled_by_group:
                    disabled_by_group[group.id] = _disabled(session, group.id)
                disabled = disabled_by_group[group.id]
                if region in disabled.regions:
                    continue
                locations.append(
                    Location(
                        key=location_key(integration.account_id, region),
                        account_id=integration.account_id,
                        region=region,
                        account_group=group.name,
                        integration_id=integration.id,
                        integration_name=integration.name,
                        role_arn=integration.role_arn,
                        disabled_resource_groups=disabled.resource_groups,
                    )
                )
            return locations


def _disabled(session: Session, group_id: int) -> DisabledSettings:
    rows = session.execute(
        sa.select(s.DisabledSetting.kind, s.DisabledSetting.value).where(
            s.DisabledSetting.account_group_id == group_id
        )
    ).all()
    return DisabledSettings(
        resource_groups=frozenset(v for k, v in rows if k == "resource_group"),
        regions=frozenset(v for k, v in rows if k == "region"),
    )


def _set_pending(session: Session, integration: s.Integration) -> None:
    session.add(
        s.IntegrationStatus(
            integration_id=integration.id,
            account_group_id=integration.account_group_id,
            status="pending",
            reasons=["saved, not yet monitored"],
            fix=None,
            updated_at=s.utcnow(),
        )
    )


def _clean_name(name: str, what: str) -> str:
    cleaned = (name or "").strip()
    if not cleaned:
        raise RegistryError(f"the {what} name is empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise RegistryError(f"the {what} name is longer than {MAX_NAME_LENGTH} characters")
    return cleaned


def _parse(parser, value):
    try:
        return parser(value)
    except InvalidIdentifier as exc:
        raise RegistryError(str(exc)) from None
