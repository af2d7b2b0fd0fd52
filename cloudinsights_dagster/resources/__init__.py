"""Resources: configuration read from the environment at run time, never at import."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.settings import load_settings


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse (SQLite under CLOUDINSIGHTS_HOME by default, or CLOUDINSIGHTS_DATABASE_URL)."""

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; empty means $CLOUDINSIGHTS_DATABASE_URL or the embedded SQLite.",
    )

    @property
    def url(self) -> str:
        return self.database_url or load_settings().database_url

    def registry(self) -> Registry:
        return Registry(self.url)
