"""Flow-log sensors: drain the collector's SQS queue into the ledger and request partition runs;
keep the queue subscribed to every integration's topics."""

from collections import Counter

import dagster as dg

from cloudinsights_dagster import partitions, tags
from cloudinsights_dagster.flowlogs.intake import take_in_queue
from cloudinsights_dagster.flowlogs.ledger import claimable_by_day
from cloudinsights_dagster.flowlogs.runs import plan_runs
from cloudinsights_dagster.flowlogs.subscriptions import subscribe_due_topics
from cloudinsights_dagster.jobs import FLOWLOGS_KIND, KIND_TAG, flowlog_job
from cloudinsights_dagster.resources import FlowLogQueueResource, WarehouseResource
from cloudinsights_dagster.settings import FLOWLOG_START_ENV
from cloudinsights_dagster.warehouse.db import session_scope
from cloudinsights_dagster.warehouse.schema import utcnow

# Stay well inside Dagster's 60 s sensor timeout: take the queue in chunks (receive, record with
# a few bulk queries per 500 objects, delete in parallel) for at most this long per tick;
# bench/bench_intake.py measures a whole tick.
INTAKE_BUDGET_SECONDS = 30
MAX_MESSAGES_PER_TICK = 20_000
SQS_WORKERS = 8  # concurrent ReceiveMessage / DeleteMessageBatch calls on the one client
# Runs requested but not started yet: they will claim work when they start.
WAITING_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
]
# A sensor-requested run claims at most this many objects (about 100 s of work at ~100k
# records per object); the queued run coordinator bounds how many run at once.
OBJECTS_PER_RUN = 1000
MAX_NEW_RUNS_PER_TICK = 20


def waiting_flowlog_runs(instance: dg.DagsterInstance) -> Counter[str]:
    """Flow-log runs per day that are queued and not started yet."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=WAITING_STATUSES, tags={KIND_TAG: FLOWLOGS_KIND})
    )
    return Counter(run.tags[tags.PARTITION] for run in runs if tags.PARTITION in run.tags)


def flowlog_run_requests(instance: dg.DagsterInstance, warehouse_url: str, now=None):
    """Run requests for the days with objects waiting (a run that died does not block anything:
    its objects come back when their leases expire)."""
    with session_scope(warehouse_url) as session:
        backlog = claimable_by_day(session, now or utcnow())
    days = partitions.flowlog_days.get_partition_keys()
    plan = plan_runs(
        backlog,
        waiting_flowlog_runs(instance),
        days[0],
        days[-1],
        OBJECTS_PER_RUN,
        MAX_NEW_RUNS_PER_TICK,
    )
    requests = [
        dg.RunRequest(
            partition_key=day,
            run_config={"ops": {"flowlog_records": {"config": {"max_objects": OBJECTS_PER_RUN}}}},
            tags={KIND_TAG: FLOWLOGS_KIND},
        )
        for day in plan.runs
    ]
    return requests, plan


@dg.sensor(
    job=flowlog_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Receives S3 ObjectCreated notifications from the collector's SQS queue, records "
    "every object in the ledger before deleting its message, and requests runs for the days with "
    "objects waiting (about one per 1,000 objects; runs share a day through leased claims).",
)
def flowlog_queue_sensor(
    context: dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    flowlog_queue: FlowLogQueueResource,
):
    queue_url = flowlog_queue.url
    if queue_url:
        sqs = flowlog_queue.sqs_client()
        intake = take_in_queue(
            warehouse.registry(),
            sqs,
            queue_url,
            max_messages=MAX_MESSAGES_PER_TICK,
            budget_seconds=INTAKE_BUDGET_SECONDS,
            workers=SQS_WORKERS,
        )
        for problem in intake.problems[:100]:
            context.log.warning(problem)
        context.log.info(
            f"{intake.messages} message(s) in {intake.chunks} chunk(s), {intake.seconds:.1f} s, "
            f"stopped by {intake.stopped_by}: {dict(intake.counts)}; {intake.not_deleted} "
            "delete(s) failed and will be redelivered (the ledger dedupes)"
        )
    requests, plan = flowlog_run_requests(context.instance, warehouse.url)
    for day in plan.out_of_range:
        context.log.warning(
            f"{day.objects} object(s) of {day.day}: day outside the flow-log partitions (set "
            f"{FLOWLOG_START_ENV} earlier to load it); not loaded"
        )
    if not queue_url and not requests:
        return dg.SkipReason(
            "no queue configured (set CLOUDINSIGHTS_QUEUE_URL, see "
            "`cloudinsights setup-queue`) and nothing pending"
        )
    return dg.SensorResult(run_requests=requests)


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
