"""`cloudinsights`: the command line for people and scripts, one module per command group.

Exit codes: 0 success, 1 a rule was broken or a check failed (one line on stderr), 2 usage.
Imports stay cheap: each command imports what it needs when it runs.
"""

from __future__ import annotations

import click

from cloudinsights_dagster.flowlogs.cli import flowlogs

from .doctor import doctor_command
from .integrations import integrations
from .org import org
from .policy import policy
from .queue import setup_queue_command, subscribe_command
from .settings import settings
from .status import logs_command, rejects_command, status_command


@click.group()
def main() -> None:
    """AWS network observability with Dagster: integrations, policies and checks."""


for command in (
    integrations,
    policy,
    settings,
    setup_queue_command,
    subscribe_command,
    doctor_command,
    status_command,
    logs_command,
    rejects_command,
    flowlogs,
    org,
):
    main.add_command(command)
