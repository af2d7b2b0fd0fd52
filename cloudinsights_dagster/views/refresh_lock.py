"""Serializing view refreshes of one (account group, location): they rewrite the same windows
and files."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from cloudinsights_dagster.warehouse.db import get_engine

_LOCK_NAMESPACE = 727_100_002  # advisory locks of view refreshes (see warehouse/db.py: ..._001)


@contextmanager
def refresh_lock(database_url: str, group_id: int, location_key: str) -> Iterator[None]:
    """Serialize refreshes of one (account group, location) across processes: a PostgreSQL
    session advisory lock held on a connection of its own (SQLite: nothing to hold; its writes
    are serialized by the database file)."""
    # Its own connection, not the caller's session: the lock outlives the refresh's
    # transactions, so that the refresh's write commits before another refresh starts.
    engine = get_engine(database_url)
    if engine.dialect.name != "postgresql":
        yield
        return
    key = zlib.crc32(f"{group_id}/{location_key}".encode()) - (1 << 31)  # a signed int4
    args = {"ns": _LOCK_NAMESPACE - (1 << 31), "key": key}
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:ns, :key)"), args)
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:ns, :key)"), args)
            conn.commit()
