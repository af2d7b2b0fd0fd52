import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from cloudinsights_dagster import partitions, settings
from cloudinsights_dagster.definitions import defs
from cloudinsights_dagster.registry import Registry
from cloudinsights_dagster.resources import WarehouseResource

ROOT = Path(__file__).resolve().parents[2]


def test_definitions_validate_without_aws_or_network(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(CLOUDINSIGHTS_HOME=str(tmp_path), DAGSTER_HOME=str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run(
        [
            Path(sys.executable).parent / "dagster",
            "definitions",
            "validate",
            "-w",
            str(ROOT / "workspace.yaml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (tmp_path / "warehouse.db").exists(), (
        "loading definitions must not touch the warehouse"
    )


def test_location_sensor_adds_and_removes_location_partitions(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    registry = Registry(url)
    registry.add_inventory(
        "g1", "a", "arn:aws:iam::111122223333:role/r", ["us-east-1", "eu-west-1"]
    )
    registry.add_inventory("g2", "b", "arn:aws:iam::444455556666:role/r", ["us-east-1"])
    sensor_defs = dg.Definitions(
        sensors=defs.sensors, resources={"warehouse": WarehouseResource(database_url=url)}
    )
    sensor = sensor_defs.get_sensor_def("location_sync_sensor")
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(
            instance=instance,
            definitions=sensor_defs,
            resources={"warehouse": WarehouseResource(database_url=url)},
        ) as ctx,
    ):
        result = sensor.evaluate_tick(ctx)
        (request,) = result.dynamic_partitions_requests
        assert sorted(request.partition_keys) == [
            "111122223333-eu-west-1",
            "111122223333-us-east-1",
            "444455556666-us-east-1",
        ]
        instance.add_dynamic_partitions(partitions.locations.name, list(request.partition_keys))

        registry.set_enabled("g1", False, region="eu-west-1")
        registry.remove("g2", "b")
        result = sensor.evaluate_tick(ctx)
        (request,) = result.dynamic_partitions_requests
        assert isinstance(request, dg.DeleteDynamicPartitionsRequest)
        assert sorted(request.partition_keys) == [
            "111122223333-eu-west-1",
            "444455556666-us-east-1",
        ]


def test_definitions_snapshot():
    """Renaming an asset, job, schedule or sensor breaks users' backfills and alerts: on purpose."""
    repo = defs.get_repository_def()
    assert sorted(key.to_user_string() for key in repo.asset_graph.get_all_asset_keys()) == [
        "config_changes",
        "flow_records_compacted",
        "flowlog_records",
        "integration_status",
        "inventory_snapshot",
        "topology",
        "traffic_views",
    ]
    assert sorted(job.name for job in repo.get_all_jobs() if not job.name.startswith("__")) == [
        "flowlog_compaction_job",
        "flowlog_job",
        "flowlog_quality_job",
        "flowlog_reconcile_job",
        "inventory_job",
        "run_retention_job",
        "status_job",
    ]
    assert sorted(s.name for s in repo.schedule_defs) == [
        "flowlog_compaction_schedule",
        "flowlog_quality_schedule",
        "flowlog_reconcile_schedule",
        "inventory_schedule",
        "run_retention_schedule",
        "status_schedule",
    ]
    assert sorted(s.name for s in repo.sensor_defs) == [
        "flowlog_queue_sensor",
        "location_sync_sensor",
        "monitoring_run_failure_sensor",
        "topic_subscription_sensor",
    ]
    groups = {
        key.to_user_string(): node.group_name
        for key, node in ((n.key, n) for n in repo.asset_graph.asset_nodes)
    }
    assert groups == {
        "inventory_snapshot": "inventory",
        "config_changes": "inventory",
        "flowlog_records": "flow_logs",
        "flow_records_compacted": "flow_logs",
        "topology": "views",
        "traffic_views": "views",
        "integration_status": "status",
    }


def test_definitions_wiring_snapshot():
    """What runs with what: asset deps, which asset each check guards, what each job executes,
    and what schedules and sensors start. A change here changes what users' runs do."""
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    deps = {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    }
    assert deps == {
        "inventory_snapshot": [],
        "config_changes": ["inventory_snapshot"],
        "topology": ["config_changes"],
        "flowlog_records": ["inventory_snapshot"],
        "flow_records_compacted": ["flowlog_records"],
        "traffic_views": ["config_changes", "flowlog_records"],
        "integration_status": ["config_changes", "traffic_views"],
    }
    checks = {key.name: key.asset_key.to_user_string() for key in graph.asset_check_keys}
    assert checks == {
        "snapshot_complete": "inventory_snapshot",
        "no_duplicate_ids": "inventory_snapshot",
        "references_resolve": "inventory_snapshot",
        "mandatory_fields_and_domains": "flowlog_records",
        "great_expectations_suite": "flowlog_records",
        "notified_objects_complete": "flowlog_records",
    }
    selections = {}
    for job in repo.get_all_jobs():
        if job.name.startswith("__"):
            continue
        job_graph = job.asset_layer.asset_graph
        selections[job.name] = (
            sorted(k.to_user_string() for k in job_graph.executable_asset_keys),
            sorted(k.name for k in job_graph.asset_check_keys),
        )
    assert selections == {
        "inventory_job": (
            ["config_changes", "inventory_snapshot", "topology"],
            ["no_duplicate_ids", "references_resolve", "snapshot_complete"],
        ),
        "flowlog_job": (["flowlog_records", "traffic_views"], ["mandatory_fields_and_domains"]),
        "flowlog_quality_job": ([], ["great_expectations_suite"]),
        "flowlog_reconcile_job": ([], ["notified_objects_complete"]),
        "status_job": (["integration_status"], []),
        "flowlog_compaction_job": (["flow_records_compacted"], []),
        "run_retention_job": ([], []),  # an op job: it deletes runs, it makes no asset
    }
    assert {s.name: (s.job_name, s.cron_schedule) for s in repo.schedule_defs} == {
        "inventory_schedule": ("inventory_job", "*/5 * * * *"),
        "status_schedule": ("status_job", "*/5 * * * *"),
        "flowlog_reconcile_schedule": ("flowlog_reconcile_job", "30 1 * * *"),
        "flowlog_quality_schedule": ("flowlog_quality_job", "0 3 * * *"),
        "flowlog_compaction_schedule": ("flowlog_compaction_job", "0 4 * * *"),
        "run_retention_schedule": ("run_retention_job", "15 4 * * *"),
    }
    sensor_targets = {
        s.name: sorted(t.job_name for t in s.targets) for s in repo.sensor_defs if s.targets
    }
    # The other sensors only add partitions, subscribe topics or record failures.
    assert sensor_targets == {"flowlog_queue_sensor": ["flowlog_job"]}


def test_flowlog_partitions_stay_within_dagster_guidance():
    """Days only, from the configured first day: 4,000 locations add no partitions."""
    repo = defs.get_repository_def()
    records = repo.asset_graph.get(dg.AssetKey("flowlog_records"))
    assert records.partitions_def == partitions.flowlog_days
    assert partitions.flowlog_days.start.date().isoformat() == "2026-01-01"
    assert len(partitions.flowlog_days.get_partition_keys()) <= 366 + 1
    job = defs.resolve_job_def("flowlog_job")
    # The run gates on the Arrow check only; Great Expectations and reconciliation run nightly.
    assert {k.name for k in job.asset_layer.asset_graph.asset_check_keys} == {
        "mandatory_fields_and_domains"
    }
    checks = {k.name for k in repo.asset_graph.asset_check_keys}
    assert {"mandatory_fields_and_domains", "great_expectations_suite"} <= checks
    assert "notified_objects_complete" in checks


def test_flowlog_start_date_is_configurable_and_checked(monkeypatch):
    from datetime import date

    import pytest

    monkeypatch.setenv(settings.FLOWLOG_START_ENV, "2026-11-30")
    assert settings.flowlog_start_date() == "2026-11-30"
    monkeypatch.delenv(settings.FLOWLOG_START_ENV)
    assert settings.flowlog_start_date(date(2026, 12, 2)) == "2026-09-03"
    monkeypatch.setenv(settings.FLOWLOG_START_ENV, "yesterday")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        settings.flowlog_start_date()


def test_loading_the_code_location_imports_no_dataframe_library():
    """Every run process, sensor tick and code server loads the code location: the pipeline's
    pyarrow/numpy (and pandas, which pyarrow pulls in) are imported by the runs that use them."""
    probe = (
        "import sys\n"
        "from cloudinsights_dagster.definitions import defs\n"
        "print(sorted(m for m in ('pyarrow', 'numpy', 'pandas', 'great_expectations') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"
