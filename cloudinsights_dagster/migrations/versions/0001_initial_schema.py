"""Initial schema: registry, inventory, flow-log ledger, integration status and logs.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 22:30:00.515717
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Stored as JSONB on PostgreSQL, JSON text elsewhere.
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:

    op.create_table(
        "account_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "config_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location_key", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=30), nullable=False),
        sa.Column("change_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("previous_snapshot_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=256), nullable=False),
        sa.Column("change_type", sa.String(length=10), nullable=False),
        sa.Column("changed_fields", JSON_TYPE, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("config_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_config_changes_location_time", ["location_key", "change_time"], unique=False
        )

    op.create_table(
        "inventory_resources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location_key", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=30), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=256), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("data", JSON_TYPE, nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("inventory_resources", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inventory_resources_asof", ["location_key", "valid_from", "valid_to"], unique=False
        )
        batch_op.create_index(
            "ix_inventory_resources_lookup",
            ["location_key", "resource_type", "resource_id"],
            unique=False,
        )

    op.create_table(
        "inventory_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location_key", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=30), nullable=False),
        sa.Column("snapshot_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completeness", sa.String(length=10), nullable=False),
        sa.Column("api_outcomes", JSON_TYPE, nullable=False),
        sa.Column("resource_counts", JSON_TYPE, nullable=False),
        sa.Column("unknown_types", JSON_TYPE, nullable=False),
        sa.Column("changes", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("location_key", "snapshot_time"),
    )
    with op.batch_alter_table("inventory_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inventory_snapshots_location_key"), ["location_key"], unique=False
        )

    op.create_table(
        "integration_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_group_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_group_id"], ["account_groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_group_id", "kind", "value"),
    )
    with op.batch_alter_table("integration_policies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_integration_policies_account_group_id"),
            ["account_group_id"],
            unique=False,
        )

    op.create_table(
        "integrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_group_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("integration_type", sa.String(length=20), nullable=False),
        sa.Column("role_arn", sa.String(length=2048), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_group_id"], ["account_groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "account_group_id",
            "integration_type",
            "role_arn",
            name="uq_integrations_group_type_role",
        ),
        sa.UniqueConstraint("account_group_id", "name", name="uq_integrations_group_name"),
    )
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_integrations_account_group_id"), ["account_group_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_integrations_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "flowlog_objects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=255), nullable=False),
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("etag", sa.String(length=128), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("location_key", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("records_read", sa.Integer(), nullable=True),
        sa.Column("records_loaded", sa.Integer(), nullable=True),
        sa.Column("records_filtered", sa.Integer(), nullable=True),
        sa.Column("output_path", sa.String(length=2048), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("integration_id", "bucket", "object_key", name="uq_flowlog_objects"),
    )
    with op.batch_alter_table("flowlog_objects", schema=None) as batch_op:
        batch_op.create_index(
            "ix_flowlog_objects_partition", ["location_key", "day", "status"], unique=False
        )

    op.create_table(
        "integration_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account_group_id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=True),
        sa.Column("integration_name", sa.String(length=200), nullable=False),
        sa.Column("integration_type", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", JSON_TYPE, nullable=False),
        sa.ForeignKeyConstraint(["account_group_id"], ["account_groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("integration_logs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_integration_logs_group_time", ["account_group_id", "time"], unique=False
        )

    op.create_table(
        "integration_regions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=30), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("integration_id", "region"),
    )
    with op.batch_alter_table("integration_regions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_integration_regions_integration_id"), ["integration_id"], unique=False
        )

    op.create_table(
        "integration_status",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("account_group_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("reasons", JSON_TYPE, nullable=False),
        sa.Column("fix", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_group_id"], ["account_groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("integration_id"),
    )
    with op.batch_alter_table("integration_status", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_integration_status_account_group_id"), ["account_group_id"], unique=False
        )

    op.create_table(
        "integration_topics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("topic_arn", sa.String(length=2048), nullable=False),
        sa.Column("region", sa.String(length=30), nullable=False),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("topic_arn"),
    )
    with op.batch_alter_table("integration_topics", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_integration_topics_integration_id"), ["integration_id"], unique=False
        )

    op.create_table(
        "topic_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("topic_arn", sa.String(length=2048), nullable=False),
        sa.Column("subscription_arn", sa.String(length=2048), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("topic_arn"),
    )
    with op.batch_alter_table("topic_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_topic_subscriptions_integration_id"), ["integration_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("topic_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_topic_subscriptions_integration_id"))

    op.drop_table("topic_subscriptions")
    with op.batch_alter_table("integration_topics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_integration_topics_integration_id"))

    op.drop_table("integration_topics")
    with op.batch_alter_table("integration_status", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_integration_status_account_group_id"))

    op.drop_table("integration_status")
    with op.batch_alter_table("integration_regions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_integration_regions_integration_id"))

    op.drop_table("integration_regions")
    with op.batch_alter_table("integration_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_integration_logs_group_time")

    op.drop_table("integration_logs")
    with op.batch_alter_table("flowlog_objects", schema=None) as batch_op:
        batch_op.drop_index("ix_flowlog_objects_partition")

    op.drop_table("flowlog_objects")
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_integrations_account_id"))
        batch_op.drop_index(batch_op.f("ix_integrations_account_group_id"))

    op.drop_table("integrations")
    with op.batch_alter_table("integration_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_integration_policies_account_group_id"))

    op.drop_table("integration_policies")
    with op.batch_alter_table("inventory_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_snapshots_location_key"))

    op.drop_table("inventory_snapshots")
    with op.batch_alter_table("inventory_resources", schema=None) as batch_op:
        batch_op.drop_index("ix_inventory_resources_lookup")
        batch_op.drop_index("ix_inventory_resources_asof")

    op.drop_table("inventory_resources")
    with op.batch_alter_table("config_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_config_changes_location_time")

    op.drop_table("config_changes")
    op.drop_table("account_groups")
