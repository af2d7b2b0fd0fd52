"""`cloudinsights doctor`: what this install and its configuration can do."""

from __future__ import annotations

import sys

import click

from .common import JSON_OPTION, print_json


@click.command("doctor")
@JSON_OPTION
def doctor_command(as_json: bool) -> None:
    """Check this install and its configuration: the parser's C fast path, the gzip inflater,
    the warehouse, the flow-log output folder and the Dagster instance. Exit 1 on any error
    (warnings only slow things down)."""
    from cloudinsights_dagster.doctor import run_checks

    findings = run_checks()
    if as_json:
        print_json([vars(finding) for finding in findings])
    else:
        for finding in findings:
            click.echo(f"{finding.level:<8} {finding.check}: {finding.detail}")
    if any(finding.level == "error" for finding in findings):
        sys.exit(1)
