"""Reject reasons (table reject_reasons) and what a change can explain (change_impact columns).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reject_reasons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_group_id", sa.Integer(), nullable=False),
        sa.Column("location_key", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interface_id", sa.String(length=64), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=True),
        sa.Column("peer_address", sa.String(length=64), nullable=True),
        sa.Column("peer_interface_id", sa.String(length=64), nullable=True),
        sa.Column("dstport", sa.Integer(), nullable=True),
        sa.Column("protocol", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("rule_id", sa.String(length=512), nullable=True),
        sa.Column("previous_rule_id", sa.String(length=512), nullable=True),
        sa.Column("change_resource_type", sa.String(length=64), nullable=True),
        sa.Column("change_resource_id", sa.String(length=256), nullable=True),
        sa.Column("change_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("config_change_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=256), nullable=True),
        sa.Column("flows", sa.BigInteger(), nullable=False),
        sa.Column("packets", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_group_id"], ["account_groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["config_change_id"], ["config_changes.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reject_reasons", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reject_reasons_window",
            ["account_group_id", "location_key", "window_start"],
            unique=False,
        )
    with op.batch_alter_table("change_impact") as batch:
        batch.add_column(sa.Column("effect", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("rejected_flows_shift", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("explains", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("score", sa.Float(), nullable=True))
        batch.add_column(sa.Column("explanation", sa.String(length=256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("change_impact") as batch:
        for column in ("explanation", "score", "explains", "rejected_flows_shift", "effect"):
            batch.drop_column(column)
    with op.batch_alter_table("reject_reasons", schema=None) as batch_op:
        batch_op.drop_index("ix_reject_reasons_window")
    op.drop_table("reject_reasons")
