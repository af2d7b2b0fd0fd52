"""Change ranking (issue 12): the demo's case, where a rule removed at 09:10 must outrank the
rename and the added rule seen at 09:05; windows without data are not zeros."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from cloudinsights_dagster.views.impact import change_effect, change_impact, rank_impacts
from cloudinsights_dagster.views.throughput import THROUGHPUT_SCHEMA

ENI = "eni-web"
RULE = {"key": "tcp/443/0.0.0.0/0", "protocol": "tcp", "from_port": 443, "to_port": 443}


def throughput(rejects_per_window: dict[datetime, int]) -> pa.Table:
    rows = []
    for w, n in rejects_per_window.items():
        for action, flows in (("REJECT", n), ("ACCEPT", 500)):
            rows.append(
                {
                    "window_start": w,
                    "entity_type": "eni",
                    "entity_id": ENI,
                    "direction": "inbound",
                    "action": action,
                    "bytes": flows * 40,
                    "packets": flows,
                    "flows": flows,
                }
            )
    return pa.Table.from_pylist(rows, schema=THROUGHPUT_SCHEMA)


def change(minute, resource_type, resource_id, fields):
    return {
        "location_key": "111122223333-us-east-1",
        "change_time": datetime(2026, 1, 1, 9, minute, tzinfo=UTC),
        "resource_type": resource_type,
        "resource_id": resource_id,
        "change_type": "modified",
        "changed_fields": fields,
    }


RENAME = change(5, "instance", "i-1", [{"path": "name", "before": "web", "after": "web-1"}])
ADDED = change(
    5,
    "security_group",
    "sg-other",
    [{"path": "ip_permissions[tcp/22/10.0.0.0/8]", "before": None, "after": RULE}],
)
REMOVED = change(
    10,
    "security_group",
    "sg-web",
    [{"path": "ip_permissions[tcp/443/0.0.0.0/0]", "before": RULE, "after": None}],
)


def test_effects():
    assert change_effect(RENAME) == "none"
    assert change_effect(ADDED) == "lower"
    assert change_effect(REMOVED) == "raise"
    deny = {"key": "ingress/90", "rule_action": "deny"}
    nacl = change(
        5, "network_acl", "acl-1", [{"path": "entries[ingress/90]", "before": None, "after": deny}]
    )
    assert change_effect(nacl) == "raise"
    detached = change(
        5,
        "network_interface",
        ENI,
        [{"path": "security_group_ids", "before": ["a", "b"], "after": ["a"]}],
    )
    assert change_effect(detached) == "raise"
    assert change_effect({**REMOVED, "change_type": "deleted"}) == "either"


def test_the_removal_outranks_the_changes_of_the_window_before():
    t0 = datetime(2026, 1, 1, 8, 50, tzinfo=UTC)
    # 08:50 has no data at all; ~190 rejects per window until 09:10, then ~980.
    series = {
        t0 + timedelta(minutes=5 * i): n
        for i, n in enumerate([None, 190, 192, 188, 980, 975, 990])
        if n is not None
    }
    table = throughput(series)
    impacts = [change_impact(c, [ENI], table, windows=3) for c in (RENAME, ADDED, REMOVED)]
    ranked = rank_impacts(impacts)
    assert [i["resource_id"] for i in ranked] == ["sg-web", "i-1", "sg-other"]  # ties: by id
    top = ranked[0]
    assert top["explains"] is True and top["effect"] == "raise"
    assert top["rejected_flows_shift"] == 980 - 188
    for other in ranked[1:]:
        assert other["explains"] is False and other["score"] == 0.0
        assert other["rejected_flows_shift"] == 188 - 192  # its own window vs the one before
    # The window without data is marked as such, not counted as zero traffic.
    first = impacts[0]["series"][0]
    assert first["window_start"] == "2026-01-01T08:50:00Z" and first["has_data"] is False


def test_no_traffic_on_one_side_explains_nothing():
    table = throughput({datetime(2026, 1, 1, 9, 10, tzinfo=UTC): 900})
    impact = change_impact(REMOVED, [ENI], table, windows=3)
    assert impact["rejected_flows_shift"] is None and impact["explains"] is False
    assert impact["explanation"] == "no traffic of the touched ENIs on both sides of the change"
