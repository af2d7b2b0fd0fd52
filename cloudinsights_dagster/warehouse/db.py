"""Engines for the warehouse, migrated to the latest schema on first use.

The rule (README, "Layout"): library functions take a `Session` as their first argument and
never commit it; only the edges (assets, sensors, CLI, the Registry) and the few workers listed in
tests/unit/test_session_rule.py call `session_scope` / `get_engine`."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_ENGINES: dict[str, sa.Engine] = {}
_LOCK = threading.Lock()
# Any constant: serializes concurrent first-use migrations on one PostgreSQL database.
_PG_MIGRATION_LOCK_ID = 727_100_001


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # Dagster runs in parallel processes
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _create_engine(url: str) -> sa.Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


_REVISION = re.compile(r"^(down_)?revision(?:: [^=]+)? = (?:\"([^\"]+)\"|None)", re.M)


def head_revision() -> str | None:
    """The newest migration, read from the scripts' ``revision`` / ``down_revision`` lines
    (alembic itself costs ~0.15 CPU-s to import, in every run process)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in MIGRATIONS_DIR.joinpath("versions").glob("*.py"):
        for down, value in _REVISION.findall(script.read_text()):
            if value:
                (parents if down else revisions).add(value)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None  # several heads: let alembic decide


def _at_head(engine: sa.Engine) -> bool:
    head = head_revision()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            current = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
            return list(current) == [head]
    except sa.exc.DBAPIError:  # no alembic_version table yet: a new warehouse
        return False


def migrate(engine: sa.Engine) -> None:
    """Apply every pending migration (idempotent; safe under concurrent first use). A warehouse
    already at the newest migration is only checked, without loading alembic."""
    if _at_head(engine):
        return
    from alembic import command

    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_MIGRATION_LOCK_ID}
            )
        elif engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE") if not conn.in_transaction() else None
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def get_engine(url: str) -> sa.Engine:
    """The process-wide engine for a warehouse URL, migrated on first use."""
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _create_engine(url)
            migrate(engine)
            _ENGINES[url] = engine
        return engine


def dispose_all() -> None:
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any error (nothing half-saved)."""
    factory = sessionmaker(get_engine(url), expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
