"""The deployment files: every YAML loads, `dagster instance info` accepts the instance configs
(ECS on a moto server, PostgreSQL on 127.0.0.1), and a PostgreSQL instance from the production
config queues runs within its limits and has run monitoring fail a run whose worker died."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.remote_origin import (
    GrpcServerCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._core.test_utils import create_run_for_test
from dagster._daemon.monitoring.run_monitoring import monitor_started_run
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)

from cloudinsights_dagster.jobs import KIND_TAG

POSTGRES_ADMIN_URL = os.environ.get(
    "CLOUDINSIGHTS_TEST_POSTGRES_URL", "postgresql+psycopg2://root@127.0.0.1:5432/test"
)
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INSTANCE_CONFIGS = ["dagster.yaml", "dagster-local.yaml", "ecs/dagster.yaml"]
# Top-level keys of the dagster chart's values.schema.json (helm/dagster, 1.x series).
HELM_TOP_LEVEL = {
    "dagsterWebserver",
    "dagster-user-deployments",
    "postgresql",
    "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret",
    "rabbitmq",
    "redis",
    "flower",
    "ingress",
    "imagePullSecrets",
    "computeLogManager",
    "scheduler",
    "runLauncher",
    "pythonLogs",
    "dagsterDaemon",
    "busybox",
    "migrate",
    "telemetry",
    "serviceAccount",
    "global",
    "retention",
    "additionalInstanceConfig",
}


def _load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


@pytest.fixture
def postgres_db():
    """A fresh database on the test server, dropped afterwards; yields a psycopg2 URL."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except sa.exc.OperationalError:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but {POSTGRES_ADMIN_URL} is not reachable")
        pytest.skip(f"SKIPPED LOUDLY: no PostgreSQL at {POSTGRES_ADMIN_URL}")
    name = f"dg_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield str(sa.make_url(POSTGRES_ADMIN_URL).set(database=name))
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_every_deploy_yaml_loads():
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert {f.relative_to(DEPLOY).as_posix() for f in files} >= {
        *INSTANCE_CONFIGS,
        "k8s/values.yaml",
    }
    for path in files:
        assert isinstance(yaml.safe_load(path.read_text()), dict), path


def test_cluster_configs_share_the_limits_and_retention():
    """The ECS instance and the Helm values say the same thing in two dialects."""
    ecs = _load("ecs/dagster.yaml")
    helm = _load("k8s/values.yaml")
    queued = ecs["run_coordinator"]["config"]
    helm_queued = helm["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert helm["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert helm_queued["maxConcurrentRuns"] == queued["max_concurrent_runs"]
    assert helm_queued["tagConcurrencyLimits"] == queued["tag_concurrency_limits"]
    assert {limit["key"] for limit in queued["tag_concurrency_limits"]} == {KIND_TAG}
    assert {limit["value"] for limit in queued["tag_concurrency_limits"]} == {
        "inventory",
        "flowlogs",
    }
    monitoring, helm_monitoring = ecs["run_monitoring"], helm["dagsterDaemon"]["runMonitoring"]
    assert helm_monitoring["enabled"] and monitoring["enabled"]
    assert helm_monitoring["maxRuntimeSeconds"] == monitoring["max_runtime_seconds"]
    assert helm_monitoring["startTimeoutSeconds"] == monitoring["start_timeout_seconds"]
    assert (
        helm["retention"]["sensor"]["purgeAfterDays"]
        == ecs["retention"]["sensor"]["purge_after_days"]
    )
    assert ecs["run_launcher"]["class"] == "EcsRunLauncher"
    assert ecs["compute_logs"]["class"] == "S3ComputeLogManager"
    # Helm values: structure only (the chart's schema is not vendored here; see the README).
    assert set(helm) <= HELM_TOP_LEVEL, set(helm) - HELM_TOP_LEVEL
    assert helm["runLauncher"]["type"] == "K8sRunLauncher"
    assert helm["computeLogManager"]["type"] == "S3ComputeLogManager"
    assert helm["postgresql"]["enabled"] is False
    (deployment,) = helm["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == [
        "--module-name",
        "cloudinsights_dagster.definitions",
    ]
    assert {"name", "image", "dagsterApiGrpcArgs", "port"} <= set(deployment)


def _instance_info(home: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [Path(sys.executable).parent / "dagster", "instance", "info"],
        capture_output=True,
        text=True,
        env={**os.environ, "DAGSTER_HOME": str(home), **env},
        cwd=home,
        timeout=120,
    )


def test_dagster_instance_info_accepts_production_and_ecs(
    tmp_path, postgres_db, moto_endpoint, aws_client
):
    # The EcsRunLauncher reads its run task definition when the instance loads: register one.
    ecs = aws_client("ecs")
    family = ecs.register_task_definition(
        family="cloudinsights-run",
        containerDefinitions=[{"name": "run", "image": "cloudinsights:0.1.0", "memory": 2048}],
    )["taskDefinition"]["family"]
    aws_client("s3").create_bucket(Bucket="cloudinsights-compute-logs")
    env = {
        "DAGSTER_POSTGRES_URL": postgres_db,
        "DAGSTER_RUN_TASK_DEFINITION": family,
        "DAGSTER_COMPUTE_LOG_BUCKET": "cloudinsights-compute-logs",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name, expected in [
        ("dagster.yaml", "DefaultRunLauncher"),
        ("ecs/dagster.yaml", "EcsRunLauncher"),
    ]:
        home = tmp_path / name.replace("/", "_")
        home.mkdir()
        shutil.copy(DEPLOY / name, home / "dagster.yaml")
        result = _instance_info(home, env)
        assert result.returncode == 0, f"{name}: {result.stderr[-3000:]}"
        # `instance info` prints the coordinator as "NoneType" (it has no inst_data): the
        # instance tests below check it is the QueuedRunCoordinator.
        assert expected in result.stdout
        assert "run_storage: PostgresRunStorage" in result.stdout
        assert "current: " in result.stdout  # it reached the database and read the schema


@pytest.fixture
def production_instance(tmp_path, postgres_db, monkeypatch):
    """A real instance from deploy/dagster.yaml on a fresh PostgreSQL database."""
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", postgres_db)
    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance


def _limits(name: str) -> dict:
    config = _load(name)["run_coordinator"]["config"]
    return {
        "max": config["max_concurrent_runs"],
        **{limit["value"]: limit["limit"] for limit in config["tag_concurrency_limits"]},
    }


def test_queued_runs_are_dequeued_within_the_configured_limits(production_instance):
    instance = production_instance
    limits = _limits("dagster.yaml")
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"

    # Queued runs must say where their code lives: the code server of the ECS/Helm deployments.
    location = GrpcServerCodeLocationOrigin(
        host="cloudinsights.local", port=4000, location_name="cloudinsights"
    )
    repository = RemoteRepositoryOrigin(location, "__repository__")

    def runs(kind: str, status: DagsterRunStatus, n: int) -> list[str]:
        return [
            create_run_for_test(
                instance,
                job_name=f"{kind}_job",
                status=status,
                tags={KIND_TAG: kind},
                remote_job_origin=RemoteJobOrigin(repository, f"{kind}_job"),
            ).run_id
            for _ in range(n)
        ]

    # The inventory limit is nearly used up; flow-log runs have room.
    runs("inventory", DagsterRunStatus.STARTED, limits["inventory"] - 2)
    queued_inventory = runs("inventory", DagsterRunStatus.QUEUED, 5)
    queued_flowlogs = runs("flowlogs", DagsterRunStatus.QUEUED, 3)

    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    picked = daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)
    kinds = [run.tags[KIND_TAG] for run in picked]
    assert kinds.count("inventory") == 2  # up to the inventory limit, oldest first
    assert [r.run_id for r in picked if r.tags[KIND_TAG] == "inventory"] == queued_inventory[:2]
    assert sorted(r.run_id for r in picked if r.tags[KIND_TAG] == "flowlogs") == sorted(
        queued_flowlogs
    )

    # The global limit caps everything whatever the tags.
    runs("flowlogs", DagsterRunStatus.STARTED, limits["max"] - (limits["inventory"] - 2))
    assert daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None) == []


def test_run_monitoring_fails_a_started_run_whose_worker_died(production_instance):
    instance = production_instance
    max_runtime = _load("dagster.yaml")["run_monitoring"]["max_runtime_seconds"]
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_max_runtime_seconds == max_runtime

    # A run whose worker process died with a previous daemon: STARTED, started long ago.
    run = create_run_for_test(
        instance, job_name="inventory_job", status=DagsterRunStatus.STARTING, tags={KIND_TAG: "x"}
    )
    instance.handle_new_event(
        EventLogEntry(
            error_info=None,
            level=logging.DEBUG,
            user_message="",
            run_id=run.run_id,
            timestamp=time.time() - max_runtime - 60,
            dagster_event=DagsterEvent(DagsterEventType.RUN_START.value, job_name=run.job_name),
        )
    )
    healthy = create_run_for_test(
        instance, job_name="inventory_job", status=DagsterRunStatus.STARTED
    )
    for record in instance.get_run_records(dg.RunsFilter(statuses=[DagsterRunStatus.STARTED])):
        monitor_started_run(instance, None, record, logging.getLogger("test"))

    dead = instance.get_run_by_id(run.run_id)
    assert dead.status == DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(healthy.run_id).status == DagsterRunStatus.STARTED
    messages = [e.message for e in instance.all_logs(run.run_id) if e.message]
    assert any("maximum runtime" in m for m in messages), messages
