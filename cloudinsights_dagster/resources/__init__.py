"""Resources: configuration read from the environment at run time, never at import."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import dagster as dg
from pydantic import Field
from sqlalchemy.orm import Session

from cloudinsights_dagster import aws
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.settings import load_settings
from cloudinsights_dagster.warehouse.db import session_scope


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

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction (committed on success): assets and sensors own their transactions,
        the library functions they call take the session."""
        with session_scope(self.url) as session:
            yield session


class FlowLogQueueResource(dg.ConfigurableResource):
    """The collector's SQS queue that the flow-logs integrations' SNS topics deliver to."""

    queue_url: str | None = Field(
        default=None, description="SQS queue URL; empty means $CLOUDINSIGHTS_QUEUE_URL."
    )
    region: str | None = Field(default=None, description="Queue region; default from settings.")

    @property
    def url(self) -> str | None:
        return self.queue_url or load_settings().queue_url

    def session(self) -> boto3.Session:
        return aws.base_session(self.region or load_settings().queue_region)

    def sqs_client(self):
        return aws.client(self.session(), "sqs")

    def queue_arn(self) -> str:
        attributes = self.sqs_client().get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["QueueArn"]
        )
        return attributes["Attributes"]["QueueArn"]
