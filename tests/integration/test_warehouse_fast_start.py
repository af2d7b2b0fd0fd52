"""A process that opens an up-to-date warehouse does not load alembic (~0.15 CPU-s of every
run); a new or older warehouse is still migrated by alembic."""

import subprocess
import sys

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from cloudinsights_dagster.warehouse import db


def test_head_revision_is_alembics_head():
    script = ScriptDirectory.from_config(db.alembic_config())
    assert db.head_revision() == script.get_current_head()


def test_an_up_to_date_warehouse_opens_without_alembic(database_url):
    engine = db.get_engine(database_url)  # new: migrated by alembic
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == (
            db.head_revision()
        )
    code = (
        "import sys\n"
        "from cloudinsights_dagster.warehouse.db import get_engine, session_scope\n"
        "from cloudinsights_dagster.warehouse import schema as s\n"
        "import sqlalchemy as sa\n"
        f"with session_scope({database_url!r}) as session:\n"
        "    session.scalars(sa.select(s.Integration)).all()\n"
        "print('alembic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_older_warehouse_is_upgraded(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    from alembic import command

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg = db.alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
    engine.dispose()
    upgraded = db.get_engine(url)
    with upgraded.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == (
            db.head_revision()
        )
        assert "reject_reasons" in sa.inspect(conn).get_table_names()
