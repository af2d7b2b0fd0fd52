"""Flow-log sensors: drain the collector's SQS queue into the ledger and request partition runs;
keep the queue subscribed to every integration's topics."""

import dagster as dg

from cloudinsights_dagster import partitions
from cloudinsights_dagster.flowlogs.intake import take_in
from cloudinsights_dagster.flowlogs.ledger import partitions_with_pending
from cloudinsights_dagster.flowlogs.queue import delete_messages, receive_batch
from cloudinsights_dagster.flowlogs.runs import plan_runs
from cloudinsights_dagster.flowlogs.subscriptions import subscribe_due_topics
from cloudinsights_dagster.jobs import KIND_TAG, flowlog_job
from cloudinsights_dagster.resources import FlowLogQueueResource, WarehouseResource
from cloudinsights_dagster.warehouse.db import session_scope
from cloudinsights_dagster.warehouse.schema import utcnow

# Stay well inside Dagster's 60 s sensor timeout: receive for at most this long per tick, then
# record (a few bulk queries per 500 objects) and delete in parallel; bench/bench_intake.py
# measures a whole tick.
RECEIVE_SECONDS = 20
MAX_MESSAGES_PER_TICK = 10_000
SQS_WORKERS = 8  # concurrent ReceiveMessage / DeleteMessageBatch calls on the one client
ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def active_flowlog_partitions(instance: dg.DagsterInstance) -> set[tuple[str, str]]:
    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=ACTIVE_STATUSES, tags={KIND_TAG: "flowlogs"})
    )
    return {
        (run.tags["dagster/partition/location"], run.tags["dagster/partition/day"])
        for run in runs
        if "dagster/partition/location" in run.tags and "dagster/partition/day" in run.tags
    }


def flowlog_run_requests(instance: dg.DagsterInstance, warehouse_url: str):
    """Run requests (and missing location partitions) for partitions with pending objects."""
    with session_scope(warehouse_url) as session:
        pending = partitions_with_pending(session)
    days = partitions.flowlog_days.get_partition_keys(dynamic_partitions_store=instance)
    plan = plan_runs(
        pending,
        active_flowlog_partitions(instance),
        set(instance.get_dynamic_partitions(partitions.locations.name)),
        days[0],
        days[-1],
    )
    requests = [
        dg.RunRequest(
            partition_key=dg.MultiPartitionKey({"day": day, "location": location}),
            tags={KIND_TAG: "flowlogs"},
        )
        for location, day in plan.partitions
    ]
    dynamic = (
        [partitions.locations.build_add_request(plan.new_locations)] if plan.new_locations else []
    )
    return requests, dynamic, plan


@dg.sensor(
    job=flowlog_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Receives S3 ObjectCreated notifications from the collector's SQS queue, records "
    "every object in the ledger before deleting its message, and requests one run per "
    "location x day partition with pending objects (never two at once for a partition).",
)
def flowlog_queue_sensor(
    context: dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    flowlog_queue: FlowLogQueueResource,
):
    queue_url = flowlog_queue.url
    if queue_url:
        sqs = flowlog_queue.sqs_client()
        messages = receive_batch(
            sqs, queue_url, MAX_MESSAGES_PER_TICK, RECEIVE_SECONDS, workers=SQS_WORKERS
        )
        intake = take_in(warehouse.registry(), messages, utcnow())
        not_deleted = delete_messages(sqs, queue_url, intake.delete_receipts, workers=SQS_WORKERS)
        for problem in intake.problems:
            context.log.warning(problem)
        context.log.info(
            f"{len(messages)} message(s): {dict(intake.counts)}; "
            f"{len(not_deleted)} delete(s) failed and will be redelivered (the ledger dedupes)"
        )
    requests, dynamic, plan = flowlog_run_requests(context.instance, warehouse.url)
    for location, day in plan.out_of_range:
        context.log.warning(f"{location} {day}: day outside the flow-log partitions; not loaded")
    if not queue_url and not requests:
        return dg.SkipReason(
            "no queue configured (set CLOUDINSIGHTS_QUEUE_URL, see "
            "`cloudinsights setup-queue`) and nothing pending"
        )
    return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=dynamic)


@dg.sensor(
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Subscribes the collector's queue to every SNS topic of every flow-logs "
    "integration; retries failed topics each tick and re-checks working ones hourly.",
)
def topic_subscription_sensor(
    context: dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    flowlog_queue: FlowLogQueueResource,
):
    if not flowlog_queue.url:
        return dg.SkipReason("no queue configured (set CLOUDINSIGHTS_QUEUE_URL)")
    attempts = subscribe_due_topics(
        warehouse.registry(), flowlog_queue.session(), flowlog_queue.queue_arn(), utcnow()
    )
    failed = [a.attempt for a in attempts if not a.attempt.ok]
    for attempt in failed:
        context.log.warning(f"could not subscribe to {attempt.topic_arn}: {attempt.error}")
    return dg.SkipReason(
        f"{len(attempts) - len(failed)} topic(s) subscribed, {len(failed)} failed"
        if attempts
        else "every topic is subscribed"
    )
