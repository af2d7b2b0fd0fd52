"""Every model change has its Alembic migration: autogenerate, run against a warehouse migrated
to head, finds nothing to add, drop or alter (on SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from cloudinsights_dagster.warehouse.db import get_engine
from cloudinsights_dagster.warehouse.schema import Base


def test_models_and_migrations_agree(database_url):
    engine = get_engine(database_url)  # migrated to head on first use
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": False}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], (
        "the models differ from the migrations; write a migration "
        "(`alembic -c <config> revision --autogenerate`) for: " + repr(differences)
    )


def test_autogenerate_sees_a_model_change(database_url):
    """The comparison above can fail: a column the migrations never made is found."""
    engine = get_engine(database_url)
    metadata = sa.MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    sa.Table(
        "integration_logs",
        metadata,
        sa.Column("added_by_a_model_only", sa.Integer),
        extend_existing=True,
    )
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert [(d[0], d[3].name) for d in differences if d[0] == "add_column"] == [
        ("add_column", "added_by_a_model_only")
    ]
