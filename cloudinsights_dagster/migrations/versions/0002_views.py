"""Views: entity throughput, rejected traffic, change impact, topology.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 23:09:10.278560
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:

    op.create_table(
        "topology_edges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location_key", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("edge_type", sa.String(length=32), nullable=False),
        sa.Column("destination", sa.String(length=128), nullable=True),
        sa.Column("properties", JSON_TYPE, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("topology_edges", schema=None) as batch_op:
        batch_op.create_index("ix_topology_edges_location", ["location_key", "as_of"], unique=False)

    op.create_table(
        "topology_nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location_key", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("node_id", sa.String(length=256), nullable=False),
        sa.Column("node_type", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("vpc_id", sa.String(length=64), nullable=True),
        sa.Column("properties", JSON_TYPE, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("topology_nodes", schema=None) as batch_op:
        batch_op.create_index("ix_topology_nodes_location", ["location_key", "as_of"], unique=False)

    op.create_table(
        "change_impact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_group_id", sa.Integer(), nullable=False),
        sa.Column("config_change_id", sa.Integer(), nullable=False),
        sa.Column("location_key", sa.String(length=64), nullable=False),
        sa.Column("change_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=256), nullable=False),
        sa.Column("change_type", sa.String(length=10), nullable=False),
        sa.Column("touched_interfaces", JSON_TYPE, nullable=False),
        sa.Column("before", JSON_TYPE, nullable=False),
        sa.Column("after", JSON_TYPE, nullable=False),
        sa.Column("rejected_flows_delta", sa.BigInteger(), nullable=False),
        sa.Column("rejected_bytes_delta", sa.BigInteger(), nullable=False),
        sa.Column("series", JSON_TYPE, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_group_id"], ["account_groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["config_change_id"], ["config_changes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_group_id", "config_change_id"),
    )
    with op.batch_alter_table("change_impact", schema=None) as batch_op:
        batch_op.create_index(
            "ix_change_impact_location_time",
            ["account_group_id", "location_key", "change_time"],
            unique=False,
        )

    op.create_table(
        "entity_throughput",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_group_id", sa.Integer(), nullable=False),
        sa.Column("location_key", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entity_type", sa.String(length=12), nullable=False),
        sa.Column("entity_id", sa.String(length=256), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("packets", sa.BigInteger(), nullable=False),
        sa.Column("flows", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_group_id"], ["account_groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("entity_throughput", schema=None) as batch_op:
        batch_op.create_index(
            "ix_entity_throughput_entity",
            ["account_group_id", "entity_type", "entity_id", "window_start"],
            unique=False,
        )
        batch_op.create_index(
            "ix_entity_throughput_window",
            ["account_group_id", "location_key", "window_start"],
            unique=False,
        )

    op.create_table(
        "rejected_traffic",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_group_id", sa.Integer(), nullable=False),
        sa.Column("location_key", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("srcaddr", sa.String(length=64), nullable=True),
        sa.Column("dstaddr", sa.String(length=64), nullable=True),
        sa.Column("dstport", sa.Integer(), nullable=True),
        sa.Column("protocol", sa.Integer(), nullable=True),
        sa.Column("flows", sa.BigInteger(), nullable=False),
        sa.Column("packets", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("destination_interface_id", sa.String(length=64), nullable=True),
        sa.Column("destination_instance_id", sa.String(length=64), nullable=True),
        sa.Column("destination_security_group_ids", JSON_TYPE, nullable=False),
        sa.Column("source_interface_id", sa.String(length=64), nullable=True),
        sa.Column("source_external", sa.Boolean(), nullable=True),
        sa.Column("impact_rank", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["account_group_id"], ["account_groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rejected_traffic", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rejected_traffic_window",
            ["account_group_id", "location_key", "window_start"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("rejected_traffic", schema=None) as batch_op:
        batch_op.drop_index("ix_rejected_traffic_window")

    op.drop_table("rejected_traffic")
    with op.batch_alter_table("entity_throughput", schema=None) as batch_op:
        batch_op.drop_index("ix_entity_throughput_window")
        batch_op.drop_index("ix_entity_throughput_entity")

    op.drop_table("entity_throughput")
    with op.batch_alter_table("change_impact", schema=None) as batch_op:
        batch_op.drop_index("ix_change_impact_location_time")

    op.drop_table("change_impact")
    with op.batch_alter_table("topology_nodes", schema=None) as batch_op:
        batch_op.drop_index("ix_topology_nodes_location")

    op.drop_table("topology_nodes")
    with op.batch_alter_table("topology_edges", schema=None) as batch_op:
        batch_op.drop_index("ix_topology_edges_location")

    op.drop_table("topology_edges")
