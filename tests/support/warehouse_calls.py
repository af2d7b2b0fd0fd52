"""Calling the library the way its edges do: one committed transaction per call (the library
functions take a session and never commit; see the README, "Layout")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from cloudinsights_dagster.warehouse.db import session_scope

T = TypeVar("T")


def in_transaction(database_url: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(session, *args, **kwargs)` in a transaction of its own, committed on return."""
    with session_scope(database_url) as session:
        return fn(session, *args, **kwargs)
