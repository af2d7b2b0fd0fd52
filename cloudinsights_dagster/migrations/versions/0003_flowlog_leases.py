"""Flow-log ledger leases: runs claim objects with a lease instead of owning a partition.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("flowlog_objects") as batch:
        batch.add_column(sa.Column("claimed_by_run", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("first_start", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_end", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_flowlog_objects_claimable",
        "flowlog_objects",
        ["status", "day", "lease_expires_at"],
    )
    op.create_index("ix_flowlog_objects_run", "flowlog_objects", ["claimed_by_run"])
    op.create_index("ix_flowlog_objects_span", "flowlog_objects", ["location_key", "first_start"])


def downgrade() -> None:
    op.drop_index("ix_flowlog_objects_span", table_name="flowlog_objects")
    op.drop_index("ix_flowlog_objects_run", table_name="flowlog_objects")
    op.drop_index("ix_flowlog_objects_claimable", table_name="flowlog_objects")
    with op.batch_alter_table("flowlog_objects") as batch:
        batch.drop_column("last_end")
        batch.drop_column("first_start")
        batch.drop_column("attempts")
        batch.drop_column("lease_expires_at")
        batch.drop_column("claimed_by_run")
