"""`cloudinsights settings`: what is monitored (resource groups, regions)."""

from __future__ import annotations

import click

from .common import (
    ACCOUNT_GROUP_OPTION,
    JSON_OPTION,
    fail_cleanly,
    open_registry,
    print_json,
    sync_locations,
)


@click.group()
def settings() -> None:
    """Integration policies: switch resource groups and regions off or on per account group."""


def _setting_command(enabled: bool):
    @ACCOUNT_GROUP_OPTION
    @click.option("--resource-group", default=None, help="e.g. transitgateway, vpn, directconnect")
    @click.option("--region", default=None, help="e.g. ap-south-1")
    @JSON_OPTION
    @fail_cleanly
    def command(
        account_group: str, resource_group: str | None, region: str | None, as_json: bool
    ) -> None:
        if (resource_group is None) == (region is None):
            raise click.UsageError("give exactly one of --resource-group or --region")
        registry = open_registry()
        current = registry.set_enabled(account_group, enabled, resource_group, region)
        sync_locations(registry)
        _echo_settings(current, as_json)

    return command


def _echo_settings(current, as_json: bool) -> None:
    data = {
        "disabled_resource_groups": sorted(current.resource_groups),
        "disabled_regions": sorted(current.regions),
    }
    if as_json:
        print_json(data)
    else:
        click.echo(
            f"disabled resource groups: {', '.join(data['disabled_resource_groups']) or '-'}"
        )
        click.echo(f"disabled regions: {', '.join(data['disabled_regions']) or '-'}")


settings.command("disable", help="Stop monitoring a resource group or a region.")(
    _setting_command(enabled=False)
)
settings.command("enable", help="Monitor a resource group or a region again.")(
    _setting_command(enabled=True)
)


@settings.command("show")
@ACCOUNT_GROUP_OPTION
@JSON_OPTION
@fail_cleanly
def settings_show(account_group: str, as_json: bool) -> None:
    """Show what is disabled."""
    _echo_settings(open_registry().disabled(account_group), as_json)
