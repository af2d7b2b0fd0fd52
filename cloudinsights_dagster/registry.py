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
from typing import Literal

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
    # The account group's ExternalId, read with the location so a tick opens no session per
    # location for it ("" when the caller built the location itself: ask the registry).
    external_id: str = field(default="", repr=False)


def new_external_id() -> str:
    # 192 random bits: unguessable, and within STS's 2-1224 character limit and alphabet.
    return secrets.token_urlsafe(24)


class Registry:
    def __init__(self, database_url: str):
        self.database_url = database_url

    # ------------------------------------------------------------ account groups

    def group_row(self, session: Session, name: str, create: bool = False) -> s.AccountGroup:
        """The account group's row (created with its ExternalId when `create`), in `session`."""
        name = clean_name(name, "account group")
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
            return self.group_row(session, account_group, create=True).external_id

    def account_groups(self) -> list[str]:
        with session_scope(self.database_url) as session:
            return list(
                session.scalars(sa.select(s.AccountGroup.name).order_by(s.AccountGroup.name))
            )

    # ------------------------------------------------------------ integrations

    def add_inventory(
        self, account_group: str, name: str, role_arn: str, regions: list[str] | None = None
    ) -> IntegrationInfo:
        role = checked(parse_role_arn, role_arn)
        for region in regions or []:
            checked(validate_region, region)
        with session_scope(self.database_url) as session:
            group = self.group_row(session, account_group, create=True)
            self._check_new(session, group, name, "inventory", role.arn)
            integration = s.Integration(
                account_group_id=group.id,
                name=clean_name(name, "integration"),
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
        role = checked(parse_role_arn, role_arn)
        if not topic_arns:
            raise RegistryError(
                "a flow logs integration needs at least one SNS topic ARN (--topic-arn), "
                "one per region where its account holds flow-log buckets"
            )
        topics = [checked(parse_topic_arn, arn) for arn in topic_arns]
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
            group = self.group_row(session, account_group, create=True)
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
                name=clean_name(name, "integration"),
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
        name = clean_name(name, "integration")
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
                group = self.group_row(session, account_group)
                query = query.where(s.Integration.account_group_id == group.id)
            rows = session.execute(query.order_by(s.AccountGroup.name, s.Integration.name)).all()
            return [self._info(session, integration, group) for integration, group in rows]

    def get(self, account_group: str, name: str) -> IntegrationInfo:
        with session_scope(self.database_url) as session:
            group = self.group_row(session, account_group)
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
            group = self.group_row(session, account_group)
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
            checked(validate_region, region)
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
            kind, value = "region", checked(validate_region, region or "")
        with session_scope(self.database_url) as session:
            group = self.group_row(session, account_group, create=True)
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
            return _disabled(session, self.group_row(session, account_group, create=True).id)

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
                        external_id=group.external_id,
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


def clean_name(name: str, what: str) -> str:
    cleaned = (name or "").strip()
    if not cleaned:
        raise RegistryError(f"the {what} name is empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise RegistryError(f"the {what} name is longer than {MAX_NAME_LENGTH} characters")
    return cleaned


def checked(parser, value):
    try:
        return parser(value)
    except InvalidIdentifier as exc:
        raise RegistryError(str(exc)) from None
