"""`make demo`: the product end to end on the embedded default, with no AWS account.

A fake AWS (moto on 127.0.0.1) holds the estate of `estate.py`; the warehouse is SQLite under
CLOUDINSIGHTS_HOME; Dagster runs the project's own jobs in process on the instance under
DAGSTER_HOME, so `make ui` shows every run, materialization and check afterwards. Six five-minute
ticks are replayed quickly, ending now: each run carries the time it stands for.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cloudinsights_dagster import tags
from cloudinsights_dagster.demo import estate as E
from cloudinsights_dagster.demo.delivery import deliver_window
from cloudinsights_dagster.demo.fake_aws import FakeAws
from cloudinsights_dagster.demo.home import DemoHome
from cloudinsights_dagster.demo.progress import Progress

TICK = timedelta(minutes=5)
TICKS = 6
CHANGE_AT_TICK = {2: 0, 3: 1}  # tick -> index in estate.CHANGES applied just before it
# The demo runs on its own embedded state: settings that point elsewhere are set aside.
FOREIGN_SETTINGS = (
    "CLOUDINSIGHTS_DATABASE_URL",
    "CLOUDINSIGHTS_FLOWLOGS_OUTPUT",
    "CLOUDINSIGHTS_QUEUE_URL",
    "CLOUDINSIGHTS_COLLECTOR_PRINCIPAL",
)
QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def refuse(home: DemoHome) -> str | None:
    """Why the demo must not touch this home, or None."""
    pid = home.running_ui()
    if pid is not None:
        return (
            f"the demo's UI (pid {pid}) is running on {home.home}: stop it (Ctrl-C where "
            "`make ui` runs) before running the demo again"
        )
    foreign = home.foreign_state()
    if foreign is not None:
        return (
            f"{foreign} exists, but the demo did not make it (no record in {home.record}): "
            "the demo replaces only its own state. Point CLOUDINSIGHTS_HOME (and DAGSTER_HOME) "
            "at another folder, or remove it yourself"
        )
    return None


def use_home(home: DemoHome) -> None:
    """This process's settings: the demo's home, its instance, nothing configured elsewhere."""
    for name in FOREIGN_SETTINGS:
        os.environ.pop(name, None)
    os.environ["CLOUDINSIGHTS_HOME"] = str(home.home)
    os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    # The estate's traffic is of today; partitions start a week back.
    start = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
    os.environ.setdefault("CLOUDINSIGHTS_FLOWLOGS_START_DATE", start)
    # The product's own log lines (denied APIs, say) go with Dagster's events, not the screen:
    # the summary reports them.
    handler = logging.FileHandler(home.dagster_log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    import dagster as dg  # its logger exists from here on

    dagster_logger = logging.getLogger("dagster")
    for console in [h for h in dagster_logger.handlers if isinstance(h, logging.StreamHandler)]:
        dagster_logger.removeHandler(console)  # sensor and definition logs: to the file too
    if not dagster_logger.propagate:
        dagster_logger.addHandler(handler)
    # Dagster's beta/preview notes about its own API are not the user's business here.
    warnings.simplefilter("ignore", dg.BetaWarning)
    warnings.simplefilter("ignore", dg.PreviewWarning)


@dataclass
class Bringup:
    fake: FakeAws
    estate: E.Estate
    queue_url: str
    queue_arn: str
    subscribed: int


def change_time(anchor: datetime, index: int) -> datetime:
    """When the demo makes change `index`: a minute before the tick that first sees it."""
    tick = next(t for t, i in CHANGE_AT_TICK.items() if i == index)
    return anchor + tick * TICK - timedelta(minutes=1)


def bring_up(
    registry,
    anchor: datetime,
    changes_applied: int,
    fake: FakeAws | None = None,
    on_step=lambda done: None,
) -> Bringup:
    """Start the fake AWS, build the estate (the registry's ExternalIds in its trust policies)
    as of ten minutes before the first tick, replay `changes_applied` changes at their times,
    and give the collector its queue, subscribed."""
    from cloudinsights_dagster import aws
    from cloudinsights_dagster.flowlogs.queue import setup_queue
    from cloudinsights_dagster.flowlogs.subscriptions import subscribe_due_topics
    from cloudinsights_dagster.warehouse.schema import utcnow

    fake = fake or FakeAws()
    external_ids = {g: registry.external_id(g) for g in E.GROUPS}
    estate = E.build_estate(fake, external_ids, anchor - timedelta(minutes=10), on_step)
    for index in range(changes_applied):
        E.apply_change(fake, estate, index, change_time(anchor, index))
    os.environ.update(estate.collector_environment())
    session = aws.base_session(E.QUEUE_REGION)
    topics = [E.topic_arn(r) for r in next(p for p in E.PLAN if p.log_archive).regions]
    queue = setup_queue(session, E.QUEUE_NAME, E.QUEUE_REGION, topics)
    attempts = subscribe_due_topics(registry, session, queue.queue_arn, utcnow(), force=True)
    os.environ["CLOUDINSIGHTS_QUEUE_URL"] = queue.queue_url
    os.environ["CLOUDINSIGHTS_QUEUE_REGION"] = E.QUEUE_REGION
    os.environ["CLOUDINSIGHTS_COLLECTOR_PRINCIPAL"] = E.collector_principal()
    return Bringup(
        fake, estate, queue.queue_url, queue.queue_arn, sum(a.attempt.ok for a in attempts)
    )


def register_integrations(registry) -> list[str]:
    for plan in E.PLAN:
        registry.add_inventory(
            plan.group,
            plan.integration,
            E.role_arn(plan.account_id, E.INVENTORY_ROLE),
            list(plan.regions),
        )
    archive = next(p for p in E.PLAN if p.log_archive)
    registry.add_flowlogs(
        E.FLOWLOGS_GROUP,
        E.FLOWLOGS_INTEGRATION,
        E.role_arn(archive.account_id, E.FLOWLOGS_ROLE),
        [E.topic_arn(r) for r in archive.regions],
    )
    return [f"{p.integration} ({p.group})" for p in E.PLAN] + [
        f"{E.FLOWLOGS_INTEGRATION} ({E.FLOWLOGS_GROUP}, flow logs)"
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cloudinsights_dagster.demo",
        description="Run the product end to end on a fake AWS (moto on 127.0.0.1). Replaces "
        "what an earlier demo left in CLOUDINSIGHTS_HOME, and only that.",
    )
    parser.parse_args(argv)
    out = Progress()
    home = DemoHome.from_env()
    reason = refuse(home)
    if reason:
        out.plain(f"demo not run: {reason}")
        return 2
    replaced = home.reset()
    home.prepare()
    use_home(home)
    started = datetime.now(UTC)
    anchor = floor_to_tick(started) - (TICKS - 1) * TICK
    record = {
        "state": "running",
        "started": started.isoformat(),
        "seed": E.SEED,
        "dagster_home": str(home.dagster_home),
    }
    home.save_record(record)  # from here on, everything in this home is the demo's
    events = (
        f"Dagster's run events go to {home.dagster_log}"
        if home.events_logged_to_file()
        else f"Dagster's run events stay in the instance ({home.dagster_home / 'dagster.yaml'} "
        "names no log file); other log lines go to " + str(home.dagster_log)
    )
    out.step(
        ("replaced the last demo's state in " if replaced else "state in ") + f"{home.home}; "
        + events
    )  # fmt: skip
    fake = None
    try:
        fake = FakeAws()
        code = run_steps(out, home, fake, anchor, record)
    except BaseException:
        home.save_record({**record, "state": "failed"})
        raise
    finally:
        if fake is not None:
            fake.stop()
    home.save_record({**record, "state": "finished" if code == 0 else "failed", "finished": _now()})
    out.plain(f"\ndone in {out.elapsed():.0f} s. `make ui` opens the same world at "
              "http://127.0.0.1:3000 and keeps it alive (Ctrl-C stops it).")  # fmt: skip
    return code


def run_steps(out: Progress, home: DemoHome, fake: FakeAws, anchor: datetime, record) -> int:
    import dagster as dg

    from cloudinsights_dagster.definitions import defs
    from cloudinsights_dagster.demo.summary import (
        ledger_counts,
        print_summary,
        tick_completeness,
    )
    from cloudinsights_dagster.instance_sync import sync_location_partitions
    from cloudinsights_dagster.registry import Registry
    from cloudinsights_dagster.resources import FlowLogQueueResource, WarehouseResource
    from cloudinsights_dagster.run_time import SNAPSHOT_TIME_TAG
    from cloudinsights_dagster.settings import load_settings
    from cloudinsights_dagster.trust import check_trust_relationship
    from cloudinsights_dagster.warehouse.db import session_scope

    out.step(f"fake AWS (moto) at {fake.endpoint}; nothing leaves 127.0.0.1")
    settings = load_settings()
    registry = Registry(settings.database_url)
    with out.bar("building the world", E.BUILD_STEPS) as bar:
        up = bring_up(registry, anchor, 0, fake, on_step=bar.advance)
    worlds = up.estate.worlds
    out.step(
        f"world built: {len(E.GROUPS)} account groups, {len(E.PLAN)} accounts, "
        f"{len(worlds)} locations in {len({r for _, r in worlds})} regions (VPCs, subnets, "
        "instances, NAT/internet/transit gateways, peering, endpoints, load balancers, "
        "3 flow logs, 1 in AWS's default format)"
    )
    names = register_integrations(registry)
    trusted = sum(
        check_trust_relationship(i.role_arn, registry.external_id(i.account_group)).ok
        for i in registry.list_integrations()
    )
    # The queue was subscribed before the integrations existed: subscribe now they do.
    from cloudinsights_dagster import aws
    from cloudinsights_dagster.flowlogs.subscriptions import subscribe_due_topics
    from cloudinsights_dagster.warehouse.schema import utcnow

    attempts = subscribe_due_topics(
        registry, aws.base_session(E.QUEUE_REGION), up.queue_arn, utcnow(), force=True
    )
    out.step(
        f"integrations registered: {', '.join(names)}; {trusted} role(s) assumed with their "
        f"ExternalId; queue {E.QUEUE_NAME} subscribed to {sum(a.attempt.ok for a in attempts)} "
        "topic(s)"
    )

    with dg.DagsterInstance.get() as instance:
        added, _ = sync_location_partitions(instance, registry)
        keys = [loc.key for loc in registry.locations()]
        inventory_job = defs.resolve_job_def("inventory_job")
        changes_applied = 0
        uploads = []
        for tick in range(TICKS):
            at = anchor + tick * TICK
            note = ""
            if tick in CHANGE_AT_TICK:
                index = CHANGE_AT_TICK[tick]
                change = E.apply_change(fake, up.estate, index, change_time(anchor, index))
                changes_applied += 1
                note = f"; before it: {change.description}"
            result = inventory_job.execute_in_process(
                instance=instance,
                run_config=QUIET_LOGGERS,
                tags={
                    tags.PARTITION_RANGE_START: keys[0],
                    tags.PARTITION_RANGE_END: keys[-1],
                    SNAPSHOT_TIME_TAG: at.isoformat(),
                },
                raise_on_error=False,
            )
            changes = _metadata(result, "config_changes", "changes")
            with session_scope(settings.database_url) as session:
                completeness = tick_completeness(session, at)
            out.step(
                f"inventory tick {at:%H:%M}: run {result.run_id[:8]} "
                f"{'ok' if result.success else 'FAILED'}, {completeness}, "
                f"{changes} config change(s){note}"
            )
            if not result.success:
                return 1
            uploads.append((int(at.timestamp()), changes_applied))

        files = []
        with out.bar("uploading flow-log files", len(uploads)) as bar:
            for window, applied in uploads:
                files += deliver_window(up.estate, window, applied)
                bar.advance(f"window {datetime.fromtimestamp(window, UTC):%H:%M}")
        out.step(
            f"files uploaded: {len(files)} to s3://{E.archive_bucket(E.QUEUE_REGION)} and "
            f"s3://{E.archive_bucket('eu-west-1')} ({_notes(files)})"
        )

        # The sensor as defined (get_sensor_def warns that it no longer resolves resources).
        sensor = next(s for s in defs.sensors or () if s.name == "flowlog_queue_sensor")
        requests: list[dg.RunRequest] = []
        for _ in range(3):  # until the queue is drained (moto may hold some back a moment)
            # The sensor context logs to a console handler of its own: keep it off the screen.
            # A built context holds an instance of its own until it is closed: close it.
            with (
                contextlib.redirect_stderr(io.StringIO()) as captured,
                dg.build_sensor_context(
                    instance=instance,
                    instance_ref=instance.get_ref(),
                    definitions=defs,
                    resources={
                        "warehouse": WarehouseResource(),
                        "flowlog_queue": FlowLogQueueResource(),
                    },
                ) as context,
            ):
                tick_result = sensor.evaluate_tick(context)
            with home.dagster_log.open("a") as log:
                log.write(captured.getvalue())
            requests = list(tick_result.run_requests or [])
            if requests:
                break
        with session_scope(settings.database_url) as session:
            ledger = ledger_counts(session)
        out.step(f"sensor tick: {ledger} in the ledger, {len(requests)} run(s) requested")

        flowlog_job = defs.resolve_job_def("flowlog_job")
        ok = True
        for request in requests:
            result = flowlog_job.execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                run_config={**request.run_config, **QUIET_LOGGERS},
                tags=request.tags,
                raise_on_error=False,
            )
            ok = ok and result.success
            loaded, failed, records = (
                _metadata(result, "flowlog_records", name)
                for name in ("objects_loaded", "objects_failed", "records_loaded")
            )
            out.step(
                f"flow-log run {request.partition_key}: run {result.run_id[:8]} "
                f"{'ok' if result.success else 'FAILED'}, {loaded} file(s) loaded, {failed} "
                f"failed, {records} records"
            )
        status = defs.resolve_job_def("status_job").execute_in_process(
            instance=instance, run_config=QUIET_LOGGERS, raise_on_error=False
        )
        out.step(
            f"integration status: run {status.run_id[:8]} {'ok' if status.success else 'FAILED'}"
        )
        ok = ok and status.success

    record.update(
        anchor=anchor.isoformat(),
        ticks=TICKS,
        changes_applied=changes_applied,
        locations=keys,
        files=len(files),
    )
    home.save_record(record)
    out.plain()
    with session_scope(settings.database_url) as session:
        print_summary(session, out, settings)
    return 0 if ok and requests else 1


def _metadata(result, node: str, name: str):
    materializations = result.asset_materializations_for_node(node)
    if not materializations or name not in materializations[0].metadata:
        return "?"
    return materializations[0].metadata[name].value


def _notes(files) -> str:
    from collections import Counter

    counts = Counter(f.note for f in files)
    return "; ".join(f"{n} {note}" for note, n in counts.most_common())


def floor_to_tick(at: datetime) -> datetime:
    return at.replace(minute=at.minute - at.minute % 5, second=0, microsecond=0)


def _now() -> str:
    return datetime.now(UTC).isoformat()
