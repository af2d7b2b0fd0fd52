"""Subscribing the collector's queue to every topic of every flow-logs integration, with each
attempt recorded (`topic_subscriptions`) and logged (category `subscribe`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import boto3
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudinsights_dagster.flowlogs.queue import SubscriptionAttempt, subscribe_topics
from cloudinsights_dagster.integration_logs import LogEntry, add_logs
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import session_scope

# A working subscription is re-checked this often (a deleted topic shows up then).
RECHECK_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class TopicAttempt:
    integration_id: int
    attempt: SubscriptionAttempt


def topics_due(session: Session, now: datetime, force: bool = False) -> dict[int, list[str]]:
    """Topics never subscribed, failed last time, or subscribed longer ago than RECHECK_AFTER."""
    rows = session.execute(
        sa.select(
            s.IntegrationTopic.integration_id,
            s.IntegrationTopic.topic_arn,
            s.TopicSubscription.status,
            s.TopicSubscription.attempted_at,
        )
        .outerjoin(
            s.TopicSubscription, s.TopicSubscription.topic_arn == s.IntegrationTopic.topic_arn
        )
        .order_by(s.IntegrationTopic.integration_id, s.IntegrationTopic.topic_arn)
    ).all()
    due: dict[int, list[str]] = {}
    for integration_id, topic_arn, status, attempted_at in rows:
        if (
            force
            or status != "subscribed"
            or attempted_at is None
            or now - attempted_at >= RECHECK_AFTER
        ):
            due.setdefault(integration_id, []).append(topic_arn)
    return due


def subscribe_due_topics(
    registry: Registry,
    aws_session: boto3.Session,
    queue_arn: str,
    now: datetime,
    force: bool = False,
) -> list[TopicAttempt]:
    # Two short transactions of its own around the SNS calls: none stays open across AWS.
    with session_scope(registry.database_url) as session:
        due = topics_due(session, now, force)
    attempts = [
        TopicAttempt(integration_id, attempt)
        for integration_id, topics in due.items()
        for attempt in subscribe_topics(aws_session, queue_arn, topics)
    ]
    with session_scope(registry.database_url) as session:
        record_attempts(session, attempts, queue_arn, now)
    return attempts


def record_attempts(
    session: Session, attempts: list[TopicAttempt], queue_arn: str, now: datetime
) -> None:
    logs = []
    for item in attempts:
        attempt = item.attempt
        row = session.scalar(
            sa.select(s.TopicSubscription).where(s.TopicSubscription.topic_arn == attempt.topic_arn)
        )
        if row is None:
            row = s.TopicSubscription(
                integration_id=item.integration_id, topic_arn=attempt.topic_arn
            )
            session.add(row)
        row.integration_id = item.integration_id
        row.status = "subscribed" if attempt.ok else "failed"
        row.subscription_arn = attempt.subscription_arn
        row.error = attempt.error
        row.attempted_at = now
        details = {"topic_arn": attempt.topic_arn, "queue_arn": queue_arn}
        if attempt.ok:
            logs.append(
                LogEntry(
                    item.integration_id,
                    "subscribe",
                    "info",
                    f"subscribed to {attempt.topic_arn}",
                    now,
                    details,
                )
            )
        else:
            logs.append(
                LogEntry(
                    item.integration_id,
                    "subscribe",
                    "error",
                    f"could not subscribe to {attempt.topic_arn}: {attempt.error}. The topic may "
                    "not exist, or its access policy does not let the collector subscribe "
                    "(paste `cloudinsights policy sns-topic` with the topic's ARN)",
                    now,
                    {**details, "error": attempt.error},
                )
            )
    add_logs(session, logs)
