"""Run planning: runs follow the backlog (objects, not locations), less runs already queued."""

from cloudinsights_dagster.flowlogs.ledger import DayBacklog
from cloudinsights_dagster.flowlogs.runs import plan_runs


def test_one_run_per_batch_of_objects_less_queued_runs_oldest_day_first():
    backlog = [DayBacklog("2026-05-02", 2500, 0, 0), DayBacklog("2026-05-01", 10, 0, 10)]
    plan = plan_runs(backlog, {"2026-05-02": 1}, "2026-01-01", "2026-12-31", 1000, 20)
    assert plan.runs == ["2026-05-01", "2026-05-02", "2026-05-02"]
    assert plan.out_of_range == []


def test_runs_are_capped_per_tick_and_days_out_of_range_reported():
    backlog = [DayBacklog("2025-12-31", 5, 0, 0), DayBacklog("2026-05-01", 100_000, 0, 0)]
    plan = plan_runs(backlog, {}, "2026-01-01", "2026-12-31", 1000, 20)
    assert plan.runs == ["2026-05-01"] * 20
    assert [d.day for d in plan.out_of_range] == ["2025-12-31"]


def test_no_backlog_no_runs_and_enough_queued_runs_none_more():
    assert plan_runs([], {}, "2026-01-01", "2026-12-31", 1000, 20).runs == []
    backlog = [DayBacklog("2026-05-01", 900, 0, 0)]
    assert plan_runs(backlog, {"2026-05-01": 1}, "2026-01-01", "2026-12-31", 1000, 20).runs == []
