"""`cloudinsights doctor`: what this install and its configuration can and cannot do, checked
locally (no AWS call: the credential chain may reach beyond this machine)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Level = Literal["ok", "warning", "error"]


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    detail: str


def _python() -> Finding:
    # Older Pythons cannot install the package at all (requires-python), so this only reports.
    return Finding("python", "ok", "Python " + ".".join(map(str, sys.version_info[:3])))


def _fast_path() -> Finding:
    from .flowlogs import parse

    problem = parse.fast_path_problem()
    if problem:
        return Finding("parser fast path", "warning", problem)
    if not parse.FAST_PATH:
        return Finding("parser fast path", "ok", "built, turned off by CLOUDINSIGHTS_FASTPARSE=0")
    return Finding("parser fast path", "ok", "built and in use")


def _inflater() -> Finding:
    from .flowlogs import parse

    if parse._igzip is None:
        return Finding(
            "gzip inflater",
            "warning",
            "isal is not installed: gzip is inflated with zlib at about 3x the CPU; "
            "`pip install isal`",
        )
    return Finding("gzip inflater", "ok", f"{parse.INFLATER} (CLOUDINSIGHTS_GZIP)")


def _warehouse() -> Finding:
    import sqlalchemy as sa
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url

    from .settings import load_settings
    from .warehouse.db import alembic_config

    url = load_settings().database_url
    shown = make_url(url).render_as_string(hide_password=True)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    parsed = make_url(url)
    on_disk = parsed.get_backend_name() == "sqlite" and parsed.database not in (
        None,
        "",
        ":memory:",
    )
    if on_disk and not Path(str(parsed.database)).exists():
        return Finding("warehouse", "ok", f"{shown}: not created yet; made on first use")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # any driver error: reported, not raised
        return Finding(
            "warehouse",
            "error",
            f"cannot connect to {shown}: {type(exc).__name__}: {str(exc).splitlines()[0]}. "
            "Check CLOUDINSIGHTS_DATABASE_URL and that the database server is reachable.",
        )
    finally:
        engine.dispose()
    if current is None:
        return Finding("warehouse", "ok", f"{shown}: empty; migrated to {head} on first use")
    if current != head:
        return Finding(
            "warehouse", "ok", f"{shown}: schema {current}; migrated to {head} on next use"
        )
    return Finding("warehouse", "ok", f"{shown}: schema {head} (latest)")


def _flowlogs_output() -> Finding:
    from .settings import load_settings

    target = load_settings().flowlogs_output
    if target.startswith("s3://"):
        return Finding("flow-log output", "ok", f"{target} (not written by this check)")
    folder = Path(target)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return Finding(
            "flow-log output",
            "error",
            f"{folder} is not writable ({exc.strerror}); set CLOUDINSIGHTS_FLOWLOGS_OUTPUT",
        )
    return Finding("flow-log output", "ok", f"{folder} (writable)")


def _dagster_home() -> Finding:
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return Finding(
            "dagster instance",
            "warning",
            "DAGSTER_HOME is not set: Dagster keeps runs in a temporary instance that is lost "
            "on exit; `make ui` and `make demo` set it to .cloudinsights/dagster",
        )
    if not (Path(home) / "dagster.yaml").exists():
        return Finding(
            "dagster instance", "warning", f"{home}/dagster.yaml is missing: Dagster's defaults"
        )
    return Finding("dagster instance", "ok", f"{home}/dagster.yaml")


CHECKS: tuple[Callable[[], Finding], ...] = (
    _python,
    _fast_path,
    _inflater,
    _warehouse,
    _flowlogs_output,
    _dagster_home,
)


def run_checks() -> list[Finding]:
    return [check() for check in CHECKS]
