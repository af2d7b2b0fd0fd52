"""The warehouse schema: SQLAlchemy 2 models. Documented for users in docs/schema.md.

Changing a model means adding an Alembic migration under cloudinsights_dagster/migrations.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JsonType = sa.JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset of its own)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the warehouse stores UTC-aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JsonType, list[Any]: JsonType, datetime: UtcDateTime}


def utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- registry


class AccountGroup(Base):
    __tablename__ = "account_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    external_id: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Integration(Base):
    __tablename__ = "integrations"
    __table_args__ = (
        sa.UniqueConstraint("account_group_id", "name", name="uq_integrations_group_name"),
        sa.UniqueConstraint(
            "account_group_id",
            "integration_type",
            "role_arn",
            name="uq_integrations_group_type_role",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("account_groups.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    integration_type: Mapped[str] = mapped_column(sa.String(20))  # inventory | flowlogs
    role_arn: Mapped[str] = mapped_column(sa.String(2048))
    account_id: Mapped[str] = mapped_column(sa.String(12), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when organization onboarding registered it: only such integrations are disabled when
    # their account leaves that organization (a hand-registered one may belong to another org).
    organization_id: Mapped[str | None] = mapped_column(sa.String(64))
    # A disabled integration is kept (never deleted) but not monitored: no locations.
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(sa.Text)


class IntegrationTopic(Base):
    __tablename__ = "integration_topics"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(
        sa.ForeignKey("integrations.id", ondelete="CASCADE"), index=True
    )
    # A topic ARN appears in at most one integration, across all account groups.
    topic_arn: Mapped[str] = mapped_column(sa.String(2048), unique=True)
    region: Mapped[str] = mapped_column(sa.String(30))


class IntegrationRegion(Base):
    """The regions of an inventory integration's account that are monitored (locations)."""

    __tablename__ = "integration_regions"
    __table_args__ = (sa.UniqueConstraint("integration_id", "region"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(
        sa.ForeignKey("integrations.id", ondelete="CASCADE"), index=True
    )
    region: Mapped[str] = mapped_column(sa.String(30))
    source: Mapped[str] = mapped_column(sa.String(20))  # given | discovered


class DisabledSetting(Base):
    """Integration policies: resource groups and regions switched off for an account group."""

    __tablename__ = "integration_policies"
    __table_args__ = (sa.UniqueConstraint("account_group_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("account_groups.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(20))  # resource_group | region
    value: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---------------------------------------------------------------- inventory


class InventorySnapshot(Base):
    __tablename__ = "inventory_snapshots"
    __table_args__ = (sa.UniqueConstraint("location_key", "snapshot_time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_key: Mapped[str] = mapped_column(sa.String(64), index=True)
    account_id: Mapped[str] = mapped_column(sa.String(12))
    region: Mapped[str] = mapped_column(sa.String(30))
    snapshot_time: Mapped[datetime]
    completeness: Mapped[str] = mapped_column(sa.String(10))  # complete | partial | failed
    api_outcomes: Mapped[list[Any]]  # [{resource_type, action, outcome, error, count}]
    resource_counts: Mapped[dict[str, Any]]
    unknown_types: Mapped[list[Any]]
    # Config-change events found against the previous snapshot; null until computed.
    changes: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InventoryResource(Base):
    """Temporal resource versions: a row is current from valid_from until valid_to (null: now)."""

    __tablename__ = "inventory_resources"
    __table_args__ = (
        sa.Index("ix_inventory_resources_lookup", "location_key", "resource_type", "resource_id"),
        sa.Index("ix_inventory_resources_asof", "location_key", "valid_from", "valid_to"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    location_key: Mapped[str] = mapped_column(sa.String(64))
    account_id: Mapped[str] = mapped_column(sa.String(12))
    region: Mapped[str] = mapped_column(sa.String(30))
    resource_type: Mapped[str] = mapped_column(sa.String(64))
    resource_id: Mapped[str] = mapped_column(sa.String(256))
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[dict[str, Any]]
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]


class ConfigChange(Base):
    __tablename__ = "config_changes"
    __table_args__ = (sa.Index("ix_config_changes_location_time", "location_key", "change_time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_key: Mapped[str] = mapped_column(sa.String(64))
    account_id: Mapped[str] = mapped_column(sa.String(12))
    region: Mapped[str] = mapped_column(sa.String(30))
    change_time: Mapped[datetime]  # the snapshot that saw the change
    previous_snapshot_time: Mapped[datetime]
    resource_type: Mapped[str] = mapped_column(sa.String(64))
    resource_id: Mapped[str] = mapped_column(sa.String(256))
    change_type: Mapped[str] = mapped_column(sa.String(10))  # created | deleted | modified
    changed_fields: Mapped[list[Any]]  # [{path, before, after}]


# ---------------------------------------------------------------- flow logs


class FlowLogObject(Base):
    """The ledger: every S3 object seen by a notification or a backfill listing."""

    __tablename__ = "flowlog_objects"
    __table_args__ = (
        sa.UniqueConstraint("integration_id", "bucket", "object_key", name="uq_flowlog_objects"),
        sa.Index("ix_flowlog_objects_partition", "location_key", "day", "status"),
        # Claimable work (pending, or claimed with an expired lease) is an index lookup.
        sa.Index("ix_flowlog_objects_claimable", "status", "day", "lease_expires_at"),
        sa.Index("ix_flowlog_objects_run", "claimed_by_run"),
        sa.Index("ix_flowlog_objects_span", "location_key", "first_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(
        sa.ForeignKey("integrations.id", ondelete="CASCADE")
    )
    bucket: Mapped[str] = mapped_column(sa.String(255))
    object_key: Mapped[str] = mapped_column(sa.String(1024))
    etag: Mapped[str | None] = mapped_column(sa.String(128))
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    location_key: Mapped[str] = mapped_column(sa.String(64))
    day: Mapped[str] = mapped_column(sa.String(10))  # YYYY-MM-DD
    source: Mapped[str] = mapped_column(sa.String(20))  # notification | backfill
    # pending | claimed | loaded | filtered | failed
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")
    # A run claims objects with a lease; a run that dies lets its lease expire and the objects
    # become claimable again (see flowlogs/ledger.py).
    claimed_by_run: Mapped[str | None] = mapped_column(sa.String(64))
    lease_expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    # The records' own time span (not the delivery time in the key): which windows it feeds.
    first_start: Mapped[datetime | None]
    last_end: Mapped[datetime | None]
    records_read: Mapped[int | None]
    records_loaded: Mapped[int | None]
    records_filtered: Mapped[int | None]
    output_path: Mapped[str | None] = mapped_column(sa.String(2048))
    error: Mapped[str | None] = mapped_column(sa.Text)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class TopicSubscription(Base):
    __tablename__ = "topic_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(
        sa.ForeignKey("integrations.id", ondelete="CASCADE"), index=True
    )
    topic_arn: Mapped[str] = mapped_column(sa.String(2048), unique=True)
    subscription_arn: Mapped[str | None] = mapped_column(sa.String(2048))
    status: Mapped[str] = mapped_column(sa.String(12))  # subscribed | failed
    error: Mapped[str | None] = mapped_column(sa.Text)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---------------------------------------------------------------- status and logs


class IntegrationLog(Base):
    __tablename__ = "integration_logs"
    __table_args__ = (sa.Index("ix_integration_logs_group_time", "account_group_id", "time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    time: Mapped[datetime]
    account_group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("account_groups.id", ondelete="CASCADE")
    )
    integration_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("integrations.id", ondelete="SET NULL")
    )
    integration_name: Mapped[str] = mapped_column(sa.String(200))
    integration_type: Mapped[str] = mapped_column(sa.String(20))
    category: Mapped[str] = mapped_column(sa.String(40))
    severity: Mapped[str] = mapped_column(sa.String(10))  # info | warning | error
    message: Mapped[str] = mapped_column(sa.Text)
    details: Mapped[dict[str, Any]]


class IntegrationStatus(Base):
    __tablename__ = "integration_status"

    integration_id: Mapped[int] = mapped_column(
        sa.ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    account_group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("account_groups.id", ondelete="CASCADE"), index=True
    )
    # pending | connected | connected_with_warning | failed
    status: Mapped[str] = mapped_column(sa.String(30))
    reasons: Mapped[list[Any]]
    fix: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[datetime]


# ---------------------------------------------------------------- views


class EntityThroughput(Base):
    """Traffic per account group, location, five-minute window (record time) and entity."""

    __tablename__ = "entity_throughput"
    __table_args__ = (
        sa.Index("ix_entity_throughput_window", "account_group_id", "location_key", "window_start"),
        sa.Index(
            "ix_entity_throughput_entity",
            "account_group_id",
            "entity_type",
            "entity_id",
            "window_start",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("account_groups.id", ondelete="CASCADE")
    )
    location_key: Mapped[str] = mapped_column(sa.String(64))
    window_start: Mapped[datetime]
    entity_type: Mapped[str] = mapped_column(
        sa.String(12)
    )  # eni | instance | subnet | vpc | account
    entity_id: Mapped[str] = mapped_column(sa.String(256))
    direction: Mapped[str] = mapped_column(sa.String(8))  # inbound | outbound
    action: Mapped[str] = mapped_column(sa.String(8))  # ACCEPT | REJECT
    bytes: Mapped[int] = mapped_column(sa.BigInteger)
    packets: Mapped[int] = mapped_column(sa.BigInteger)
    flows: Mapped[int] = mapped_column(sa.BigInteger)


class RejectedTraffic(Base):
    __tablename__ = "rejected_traffic"
    __table_args__ = (
        sa.Index("ix_rejected_traffic_window", "account_group_id", "location_key", "window_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("account_groups.id", ondelete="CASCADE")
    )
    location_key: Mapped[str] = mapped_column(sa.String(64))
    window_start: Mapped[datetime]
    srcaddr: Mapped[str | None] = mapped_column(sa.String(64))
    dstaddr: Mapped[str | None] = mapped_column(sa.String(64))
    dstport: Mapped[int | None]
    protocol: Mapped[int | None]
    flows: Mapped[int] = mapped_column(sa.BigInteger)
    packets: Mapped[int] = mapped_column(sa.BigInteger)
    bytes: Mapped[int] = mapped_column(sa.BigInteger)
    destination_interface_id: Mapped[str | None] = mapped_column(sa.String(64))
    destination_instance_id: Mapped[str | None] = mapped_column(sa.String(64))
    destination_security_group_ids: Mapped[list[Any]]
    source_interface_id: Mapped[str | None] = mapped_column(sa.String(64))
    source_external: Mapped[bool | None]
    impact_rank: Mapped[int]


class ChangeImpact(Base):
    """The traffic of the entities a config change touched, before and after it."""

    __tablename__ = "change_impact"
    __table_args__ = (
        sa.UniqueConstraint("account_group_id", "config_change_id"),
        sa.Index(
            "ix_change_impact_location_time", "account_group_id", "location_key", "change_time"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("account_groups.id", ondelete="CASCADE")
    )
    config_change_id: Mapped[int] = mapped_column(
        sa.ForeignKey("config_changes.id", ondelete="CASCADE")
    )
    location_key: Mapped[str] = mapped_column(sa.String(64))
    change_time: Mapped[datetime]
    resource_type: Mapped[str] = mapped_column(sa.String(64))
    resource_id: Mapped[str] = mapped_column(sa.String(256))
    change_type: Mapped[str] = mapped_column(sa.String(10))
    touched_interfaces: Mapped[list[Any]]
    before: Mapped[dict[str, Any]]
    after: Mapped[dict[str, Any]]
    rejected_flows_delta: Mapped[int] = mapped_column(sa.BigInteger)
    rejected_bytes_delta: Mapped[int] = mapped_column(sa.BigInteger)
    series: Mapped[list[Any]]
    computed_at: Mapped[datetime]
    # What the change can explain (views/impact.py): effect raise/lower/none/either, the shift
    # of rejected flows at its window (None: no data on one side), and its ranking score.
    effect: Mapped[str | None] = mapped_column(sa.String(8))
    rejected_flows_shift: Mapped[int | None] = mapped_column(sa.BigInteger)
    explains: Mapped[bool | None]
    score: Mapped[float | None] = mapped_column(sa.Float)
    explanation: Mapped[str | None] = mapped_column(sa.String(256))


class RejectReason(Base):
    """Why rejected flows were rejected (views/reasons.py), per window, ENI, peer, port."""

    __tablename__ = "reject_reasons"
    __table_args__ = (
        sa.Index("ix_reject_reasons_window", "account_group_id", "location_key", "window_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("account_groups.id", ondelete="CASCADE")
    )
    location_key: Mapped[str] = mapped_column(sa.String(64))
    window_start: Mapped[datetime]
    interface_id: Mapped[str | None] = mapped_column(sa.String(64))
    direction: Mapped[str | None] = mapped_column(sa.String(8))
    peer_address: Mapped[str | None] = mapped_column(sa.String(64))
    peer_interface_id: Mapped[str | None] = mapped_column(sa.String(64))
    dstport: Mapped[int | None]
    protocol: Mapped[int | None]
    reason: Mapped[str] = mapped_column(sa.String(16))
    rule_id: Mapped[str | None] = mapped_column(sa.String(512))
    previous_rule_id: Mapped[str | None] = mapped_column(sa.String(512))
    change_resource_type: Mapped[str | None] = mapped_column(sa.String(64))
    change_resource_id: Mapped[str | None] = mapped_column(sa.String(256))
    change_time: Mapped[datetime | None]
    config_change_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("config_changes.id", ondelete="SET NULL")
    )
    detail: Mapped[str | None] = mapped_column(sa.String(256))
    flows: Mapped[int] = mapped_column(sa.BigInteger)
    packets: Mapped[int] = mapped_column(sa.BigInteger)
    bytes: Mapped[int] = mapped_column(sa.BigInteger)


class TopologyNode(Base):
    __tablename__ = "topology_nodes"
    __table_args__ = (sa.Index("ix_topology_nodes_location", "location_key", "as_of"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_key: Mapped[str] = mapped_column(sa.String(64))
    as_of: Mapped[datetime]  # the snapshot this topology version was built from
    node_id: Mapped[str] = mapped_column(sa.String(256))
    node_type: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str | None] = mapped_column(sa.String(256))
    vpc_id: Mapped[str | None] = mapped_column(sa.String(64))
    properties: Mapped[dict[str, Any]]


class TopologyEdge(Base):
    __tablename__ = "topology_edges"
    __table_args__ = (sa.Index("ix_topology_edges_location", "location_key", "as_of"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_key: Mapped[str] = mapped_column(sa.String(64))
    as_of: Mapped[datetime]
    source: Mapped[str] = mapped_column(sa.String(256))
    target: Mapped[str] = mapped_column(sa.String(256))
    edge_type: Mapped[str] = mapped_column(sa.String(32))
    destination: Mapped[str | None] = mapped_column(sa.String(128))
    properties: Mapped[dict[str, Any]]
