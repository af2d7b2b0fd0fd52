"""`cloudinsights setup-queue` and `subscribe`: the collector's SQS queue and its SNS subscriptions."""

from __future__ import annotations

import sys

import click

from .common import JSON_OPTION, Failure, fail_cleanly, open_registry, print_json


@click.command("setup-queue")
@click.option("--name", default="cloudinsights-flowlogs", show_default=True, help="Queue name.")
@click.option("--region", default=None, help="Queue region (default: $CLOUDINSIGHTS_QUEUE_REGION).")
@JSON_OPTION
@fail_cleanly
def setup_queue_command(name: str, region: str | None, as_json: bool) -> None:
    """Create the collector's SQS queue, its dead-letter queue, and an access policy letting
    every registered flow-logs topic deliver to it (run again after adding topics)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from cloudinsights_dagster import aws
    from cloudinsights_dagster.flowlogs.queue import setup_queue
    from cloudinsights_dagster.settings import load_settings

    region = region or load_settings().queue_region
    topics = [t for info in open_registry().list_integrations() for t in info.topic_arns]
    try:
        info = setup_queue(aws.base_session(region), name, region, topics)
    except (ClientError, BotoCoreError) as exc:
        raise Failure(
            f"could not set up queue {name!r} in {region}: {aws.error_message(exc)}"
        ) from None
    if as_json:
        print_json(
            {
                "queue_url": info.queue_url,
                "queue_arn": info.queue_arn,
                "dlq_url": info.dlq_url,
                "topics": topics,
            }
        )
        return
    click.echo(
        f"queue {info.queue_arn} (dead-letter queue {info.dlq_arn}), "
        f"{len(topics)} topic(s) allowed to deliver"
    )
    click.echo(f"export CLOUDINSIGHTS_QUEUE_URL={info.queue_url}")


@click.command("subscribe")
@JSON_OPTION
@fail_cleanly
def subscribe_command(as_json: bool) -> None:
    """Subscribe the collector's queue to every topic now (the subscription sensor does this
    every five minutes)."""
    from cloudinsights_dagster.flowlogs.subscriptions import subscribe_due_topics
    from cloudinsights_dagster.resources import FlowLogQueueResource
    from cloudinsights_dagster.warehouse.schema import utcnow

    queue = FlowLogQueueResource()
    if not queue.url:
        raise Failure(
            "no queue configured: run `cloudinsights setup-queue` and set CLOUDINSIGHTS_QUEUE_URL"
        )
    attempts = subscribe_due_topics(
        open_registry(), queue.session(), queue.queue_arn(), utcnow(), force=True
    )
    rows = [
        {
            "integration_id": a.integration_id,
            "topic_arn": a.attempt.topic_arn,
            "ok": a.attempt.ok,
            "error": a.attempt.error,
        }
        for a in attempts
    ]
    if as_json:
        print_json(rows)
    else:
        for row in rows:
            click.echo(
                f"{'ok    ' if row['ok'] else 'FAILED'} {row['topic_arn']}"
                + (f": {row['error']}" if row["error"] else "")
            )
    if rows and not any(r["ok"] for r in rows):
        sys.exit(1)
