"""What every command shares: options, the one-line failure, the registry, JSON output."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from cloudinsights_dagster.settings import ACCOUNT_GROUP_ENV

ACCOUNT_GROUP_OPTION = click.option(
    "--account-group",
    "account_group",
    envvar=ACCOUNT_GROUP_ENV,
    default="default",
    show_default=True,
    help="The account group (tenant) the integrations belong to.",
)
# For listings: all account groups unless one is named.
ACCOUNT_GROUP_FILTER_OPTION = click.option(
    "--account-group",
    "account_group",
    envvar=ACCOUNT_GROUP_ENV,
    default=None,
    help="Only this account group (default: all).",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


class Failure(Exception):
    """Ends the command with exit code 1 and this one-line message."""


def fail_cleanly(fn: Callable) -> Callable:
    """Turns the project's own errors into one line on stderr and exit code 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from cloudinsights_dagster.arns import InvalidIdentifier
        from cloudinsights_dagster.registry import RegistryError

        try:
            return fn(*args, **kwargs)
        except (Failure, RegistryError, InvalidIdentifier) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper


def open_registry():
    from cloudinsights_dagster.registry import Registry
    from cloudinsights_dagster.settings import load_settings

    return Registry(load_settings().database_url)


def warehouse_session():
    """One transaction on the configured warehouse: a command owns its transactions, the
    library functions it calls take the session."""
    from cloudinsights_dagster.settings import load_settings
    from cloudinsights_dagster.warehouse.db import session_scope

    return session_scope(load_settings().database_url)


def sync_locations(registry) -> str | None:
    """With DAGSTER_HOME set, update the instance's location partitions right away so they can
    be materialized at once (the location sync sensor does the same when the daemon runs)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return None
    if not os.path.isdir(home):
        click.echo(
            f"warning: DAGSTER_HOME {home} is not a directory: location partitions not "
            "updated (the location sync sensor will do it)",
            err=True,
        )
        return None
    import dagster as dg

    from cloudinsights_dagster.instance_sync import sync_location_partitions

    with dg.DagsterInstance.get() as instance:
        added, deleted = sync_location_partitions(instance, registry)
    return f"location partitions: +{len(added)} -{len(deleted)}"


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def collector_principal(value: str | None) -> str:
    from cloudinsights_dagster.settings import load_settings

    principal = value or load_settings().collector_principal
    if not principal:
        raise Failure(
            "the collector principal is not configured: pass --principal or set "
            "CLOUDINSIGHTS_COLLECTOR_PRINCIPAL to the IAM ARN the collector runs as"
        )
    return principal


PRINCIPAL_OPTION = click.option(
    "--principal",
    default=None,
    help="IAM ARN the collector runs as (default: $CLOUDINSIGHTS_COLLECTOR_PRINCIPAL).",
)


def parse_time(value: str | None):
    """An ISO time, or a duration back from now such as 30m, 2h, 7d."""
    import re
    from datetime import UTC, datetime, timedelta

    if not value:
        return None
    match = re.fullmatch(r"(\d+)([mhd])", value.strip())
    if match:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match[2]]
        return datetime.now(UTC) - timedelta(**{unit: int(match[1])})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: use an ISO time or a duration like 30m, 2h, 7d"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
