"""From SQS messages to the ledger: which objects to ingest, for which integration and partition,
and which messages may be deleted.

Messages are deleted only after their objects are committed to the ledger. A malformed message is
logged and left undeleted, so the queue's redrive policy moves it to the dead-letter queue after a
few receives: never silently dropped, never retried forever.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudinsights_dagster.flowlogs.keys import UnrecognizedKey, parse_key
from cloudinsights_dagster.flowlogs.ledger import ObjectRef, upsert_objects
from cloudinsights_dagster.flowlogs.notifications import ObjectNotice, parse_message
from cloudinsights_dagster.flowlogs.queue import ReceivedMessage, delete_messages, receive_batch
from cloudinsights_dagster.integration_logs import LogEntry, add_logs
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import session_scope


@dataclass(frozen=True)
class FlowLogsIntegration:
    id: int
    account_group: str
    account_id: str
    role_arn: str
    topic_regions: frozenset[str]


@dataclass
class IntakeResult:
    delete_receipts: list[str] = field(default_factory=list)
    malformed_receipts: list[str] = field(default_factory=list)
    partitions: set[tuple[str, str]] = field(default_factory=set)  # (location_key, day)
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def flowlogs_integrations(
    session: Session,
) -> tuple[dict[str, FlowLogsIntegration], list[FlowLogsIntegration]]:
    """(topic ARN -> integration, all flow-logs integrations)."""
    rows = session.execute(
        sa.select(s.Integration, s.AccountGroup.name, s.IntegrationTopic)
        .join(s.AccountGroup, s.AccountGroup.id == s.Integration.account_group_id)
        .join(s.IntegrationTopic, s.IntegrationTopic.integration_id == s.Integration.id)
        .where(s.Integration.integration_type == "flowlogs")
    ).all()
    regions: dict[int, set[str]] = {}
    base: dict[int, tuple[s.Integration, str]] = {}
    topics: dict[str, int] = {}
    for integration, group_name, topic in rows:
        regions.setdefault(integration.id, set()).add(topic.region)
        base[integration.id] = (integration, group_name)
        topics[topic.topic_arn] = integration.id
    infos = {
        iid: FlowLogsIntegration(iid, group, i.account_id, i.role_arn, frozenset(regions[iid]))
        for iid, (i, group) in base.items()
    }
    return {arn: infos[iid] for arn, iid in topics.items()}, list(infos.values())


def take_in(
    session: Session, registry: Registry, messages: list[ReceivedMessage], now: datetime
) -> IntakeResult:
    """Record the objects of a batch of messages in the ledger, in the caller's transaction."""
    result = IntakeResult()
    monitored: dict[str, set[str]] = {}  # account group -> location keys
    for location in registry.locations():
        monitored.setdefault(location.account_group, set()).add(location.key)
    logs: list[LogEntry] = []
    taken: list[_Taken | None] = []  # the notified objects, in order, for one bulk upsert
    by_topic, all_flowlogs = flowlogs_integrations(session)
    for message in messages:
        parsed = parse_message(message.body, message.message_id)
        result.counts[parsed.kind] += 1
        if parsed.kind in ("test_event", "ignored"):
            result.delete_receipts.append(message.receipt_handle)
            continue
        if parsed.kind == "malformed":
            result.malformed_receipts.append(message.receipt_handle)
            result.problems.append(f"message {message.message_id}: {parsed.reason}")
            integration = by_topic.get(parsed.topic_arn or "")
            if integration is not None:
                logs.append(
                    LogEntry(
                        integration.id,
                        "notification",
                        "error",
                        f"malformed notification left for the dead-letter queue: {parsed.reason}",
                        now,
                        {
                            "message_id": message.message_id,
                            "topic_arn": parsed.topic_arn,
                            "receive_count": message.receive_count,
                        },
                    )
                )
            continue
        integration = _integration_for(parsed.topic_arn, parsed.objects, by_topic, all_flowlogs)
        if integration is None:
            result.malformed_receipts.append(message.receipt_handle)
            result.counts["unmapped"] += 1
            result.problems.append(
                f"message {message.message_id}: topic {parsed.topic_arn or '(raw delivery)'} "
                "belongs to no flow-logs integration"
            )
            continue
        for notice in parsed.objects:
            taken.append(_plan_object(integration, notice, monitored, now, result, logs))
        result.delete_receipts.append(message.receipt_handle)
    _record_objects(session, [t for t in taken if t is not None], now, result, logs)
    add_logs(session, logs)
    return result


def _integration_for(topic_arn, objects: list[ObjectNotice], by_topic, all_flowlogs):
    if topic_arn:
        return by_topic.get(topic_arn)
    # Raw delivery carries no topic: the bucket's region names it when only one integration
    # has a topic there.
    regions = {o.region for o in objects if o.region}
    candidates = [i for i in all_flowlogs if regions and regions <= i.topic_regions]
    return candidates[0] if len(candidates) == 1 else None


@dataclass(frozen=True)
class _Taken:
    """A flow-log object to record: pending, or filtered (with why) when unmonitored."""

    integration: FlowLogsIntegration
    ref: ObjectRef
    details: dict
    account_id: str
    region: str
    status: str = "pending"
    error: str | None = None


def _plan_object(
    integration: FlowLogsIntegration,
    notice: ObjectNotice,
    monitored: dict[str, set[str]],
    now: datetime,
    result: IntakeResult,
    logs: list[LogEntry],
) -> _Taken | None:
    details = {"bucket": notice.bucket, "key": notice.key}
    try:
        parsed_key = parse_key(notice.key)
    except UnrecognizedKey as exc:
        result.counts["not_flow_log"] += 1
        logs.append(
            LogEntry(
                integration.id,
                "logFilter",
                "warning",
                f"object is not a VPC flow-log file and was skipped: {exc}",
                now,
                details,
            )
        )
        return None
    location = parsed_key.location_key
    ref = ObjectRef(
        integration.id,
        notice.bucket,
        notice.key,
        notice.etag,
        notice.size,
        location,
        parsed_key.day,
    )
    taken = _Taken(integration, ref, details, parsed_key.account_id, parsed_key.region)
    if location not in monitored.get(integration.account_group, set()):
        return replace(
            taken,
            status="filtered",
            error=f"account {parsed_key.account_id} region {parsed_key.region} has no inventory "
            f"integration in account group {integration.account_group!r}",
        )
    return taken


def _record_objects(
    session: Session,
    taken: list[_Taken],
    now: datetime,
    result: IntakeResult,
    logs: list[LogEntry],
) -> None:
    """Upsert every object in bulk, then count and log in notification order.

    Objects are grouped by (status, error) for `upsert_objects`; one key always falls in the
    same group (both follow from the key and its integration), so each key's notices keep
    their order and the outcomes are those of one upsert per notice in a row.
    """
    groups: dict[tuple[str, str | None], list[int]] = {}
    for index, item in enumerate(taken):
        groups.setdefault((item.status, item.error), []).append(index)
    outcomes: list[str] = [""] * len(taken)
    for (status, error), indexes in groups.items():
        found = upsert_objects(
            session,
            [taken[i].ref for i in indexes],
            "notification",
            now=now,
            status=status,
            error=error,
        )
        for i, upserted in zip(indexes, found, strict=True):
            outcomes[i] = upserted
    for item, outcome in zip(taken, outcomes, strict=True):
        ref = item.ref
        if item.status == "filtered":
            result.counts[f"filtered_{outcome}"] += 1
            if outcome != "duplicate":
                logs.append(
                    LogEntry(
                        item.integration.id,
                        "logFilter",
                        "warning",
                        f"flow log of {ref.location_key}, which no inventory integration of this "
                        "account group monitors: not loaded (add an inventory integration for the "
                        "account)",
                        now,
                        {**item.details, "account_id": item.account_id, "region": item.region},
                    )
                )
            continue
        result.counts[f"object_{outcome}"] += 1
        if outcome != "duplicate":
            result.partitions.add((ref.location_key, ref.day))


# A sensor tick takes the queue in chunks: each chunk is recorded and its messages deleted
# before the next is received, so memory holds one chunk and a tick cut short (the sensor
# timeout, a crash) leaves at most one chunk to be redelivered (the ledger dedupes it).
INTAKE_CHUNK = 2_000
# Time kept, before the budget ends, to record and delete the last chunk received: at least
# this, or 1.5 x what the previous chunk took.
MIN_RECORD_RESERVE_SECONDS = 2.0


@dataclass
class QueueIntake:
    """What one pass over the queue took in."""

    messages: int = 0
    chunks: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    not_deleted: int = 0  # delete calls that failed: redelivered later, deduped by the ledger
    stopped_by: str = "empty"  # "empty", "max_messages" or "time_budget"
    seconds: float = 0.0


def take_in_queue(
    registry: Registry,
    sqs_client,
    queue_url: str,
    *,
    max_messages: int,
    budget_seconds: float,
    chunk: int = INTAKE_CHUNK,
    workers: int = 1,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = s.utcnow,
) -> QueueIntake:
    """Receive, record (`take_in`) and delete notifications chunk by chunk until the queue is
    empty, `max_messages` are taken, or `budget_seconds` are spent (receiving stops early
    enough to record and delete the last chunk within the budget, about)."""
    intake = QueueIntake()
    started = clock()
    reserve = MIN_RECORD_RESERVE_SECONDS
    while True:
        if intake.messages >= max_messages:
            intake.stopped_by = "max_messages"
            break
        receive_seconds = budget_seconds - (clock() - started) - reserve
        if receive_seconds <= 0:
            intake.stopped_by = "time_budget"
            break
        wanted = min(chunk, max_messages - intake.messages)
        messages = receive_batch(sqs_client, queue_url, wanted, receive_seconds, workers=workers)
        if not messages:
            intake.stopped_by = "empty"
            break
        recording = clock()
        # A transaction per chunk, committed before its messages are deleted (never the other
        # way round: a crash in between redelivers them, and the ledger dedupes).
        with session_scope(registry.database_url) as session:
            result = take_in(session, registry, messages, now())
        failed = delete_messages(sqs_client, queue_url, result.delete_receipts, workers=workers)
        reserve = max(MIN_RECORD_RESERVE_SECONDS, 1.5 * (clock() - recording))
        intake.messages += len(messages)
        intake.chunks += 1
        intake.counts.update(result.counts)
        intake.problems.extend(result.problems)
        intake.not_deleted += len(failed)
        if len(messages) < wanted and clock() - started < budget_seconds - reserve:
            intake.stopped_by = "empty"  # the receive stopped on an empty queue, not the time
            break
    intake.seconds = clock() - started
    return intake
