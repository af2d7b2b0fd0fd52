"""diff_snapshots: created/deleted/modified with field paths; identity-keyed lists; unknown types."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

from cloudinsights_dagster.inventory.collectors import COLLECTORS
from cloudinsights_dagster.inventory.diff import Change, FieldChange, diff_fields, diff_snapshots

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inventory"
TYPES = ("vpc", "subnet", "route_table", "security_group", "instance", "network_interface")


def raw() -> dict[str, list[dict]]:
    out = {}
    for resource_type in TYPES:
        answer = json.loads((FIXTURES / f"{resource_type}.json").read_text())
        (out[resource_type],) = [v for v in answer.values() if isinstance(v, list)]
    return out


def snapshot(raw_answers: dict[str, list[dict]]) -> dict[tuple[str, str], dict]:
    snap = {}
    for resource_type, items in raw_answers.items():
        for record in COLLECTORS[resource_type].transform(items):
            snap[record.key] = record.data
    return snap


def by_id(changes: list[Change]) -> dict[str, Change]:
    return {c.resource_id: c for c in changes}


def test_identical_snapshots_no_changes_even_after_a_json_round_trip():
    before = snapshot(raw())
    stored = {k: json.loads(json.dumps(v)) for k, v in before.items()}  # as read back
    assert diff_snapshots(stored, snapshot(raw())) == []


def test_security_group_rule_added_is_a_modification_with_the_rule_path():
    answers = raw()
    prev = snapshot(answers)
    web = answers["security_group"][0]
    web["IpPermissions"][0]["IpRanges"].append({"CidrIp": "192.168.0.0/16", "Description": "vpn"})
    changes = diff_snapshots(prev, snapshot(answers))
    assert [(c.resource_type, c.resource_id, c.change_type) for c in changes] == [
        ("security_group", "sg-0web0000000000001", "modified")
    ]
    (field,) = changes[0].fields
    assert field.path == "ip_permissions[tcp/443/192.168.0.0/16]"
    assert field.before is None
    assert field.after["peer"] == "192.168.0.0/16"
    assert field.after["description"] == "vpn"


def test_security_group_rule_removed_and_description_changed():
    answers = raw()
    prev = snapshot(answers)
    web = answers["security_group"][0]
    web["IpPermissions"][0]["IpRanges"] = [{"CidrIp": "10.0.0.0/8", "Description": "corporate"}]
    (change,) = diff_snapshots(prev, snapshot(answers))
    assert change.fields == (
        FieldChange(
            "ip_permissions[tcp/443/0.0.0.0/0]",
            {
                "key": "tcp/443/0.0.0.0/0",
                "protocol": "tcp",
                "from_port": 443,
                "to_port": 443,
                "peer_type": "cidr_ipv4",
                "peer": "0.0.0.0/0",
                "description": None,
            },
            None,
        ),
        FieldChange("ip_permissions[tcp/443/10.0.0.0/8].description", "corp", "corporate"),
    )


def test_subnet_removed_is_deleted_and_added_is_created():
    answers = raw()
    prev = snapshot(answers)
    removed = answers["subnet"].pop(1)
    added = copy.deepcopy(removed) | {
        "SubnetId": "subnet-0ccc00000000000c1",
        "CidrBlock": "10.0.3.0/24",
    }
    answers["subnet"].append(added)
    changes = diff_snapshots(prev, snapshot(answers))
    assert [(c.resource_type, c.resource_id, c.change_type, c.fields) for c in changes] == [
        ("subnet", "subnet-0bbb00000000000b1", "deleted", ()),
        ("subnet", "subnet-0ccc00000000000c1", "created", ()),
    ]


def test_instance_retag_reports_tag_paths():
    answers = raw()
    prev = snapshot(answers)
    instance = answers["instance"][0]["Instances"][0]
    instance["Tags"] = [
        {"Key": "Name", "Value": "web-1"},
        {"Key": "team", "Value": "checkout"},
        {"Key": "cost-center", "Value": "42"},
    ]
    (change,) = diff_snapshots(prev, snapshot(answers))
    assert (change.resource_type, change.resource_id) == ("instance", "i-0abc00000000000001")
    assert change.fields == (
        FieldChange("tags.cost-center", None, "42"),
        FieldChange("tags.team", "payments", "checkout"),
    )
    # Renaming: both the Name tag and the derived name change.
    instance["Tags"][0]["Value"] = "web-01"
    (change,) = diff_snapshots(prev, snapshot(answers))
    paths = [f.path for f in change.fields]
    assert "name" in paths and "tags.Name" in paths


def test_route_target_change_is_a_field_of_the_keyed_route():
    answers = raw()
    prev = snapshot(answers)
    route = next(
        r for r in answers["route_table"][1]["Routes"] if r["DestinationCidrBlock"] == "0.0.0.0/0"
    )
    route.pop("NatGatewayId")
    route["TransitGatewayId"] = "tgw-0tgw000000000001"
    (change,) = diff_snapshots(prev, snapshot(answers))
    assert change.resource_id == "rtb-0prv000000000001"
    assert change.fields == (
        FieldChange("routes[0.0.0.0/0].target_id", "nat-0nat000000000001", "tgw-0tgw000000000001"),
        FieldChange("routes[0.0.0.0/0].target_type", "nat_gateway", "transit_gateway"),
    )


def test_reordering_rules_routes_tags_addresses_is_no_change():
    answers = raw()
    prev = snapshot(answers)
    rng = random.Random(7)

    def shuffle_all(value):
        if isinstance(value, dict):
            for v in value.values():
                shuffle_all(v)
        elif isinstance(value, list):
            for v in value:
                shuffle_all(v)
            rng.shuffle(value)

    for _ in range(10):
        shuffle_all(answers)
        assert diff_snapshots(prev, snapshot(answers)) == []


def test_reordered_keyed_lists_in_stored_data_are_no_change():
    """Even data that skipped normalization compares keyed lists by identity."""
    prev = snapshot(raw())
    cur = copy.deepcopy(prev)
    for data in cur.values():
        for value in data.values():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                value.reverse()
    assert cur != prev
    assert diff_snapshots(prev, cur) == []


def test_unknown_type_produces_no_events_at_all():
    answers = raw()
    prev = snapshot(answers)
    # This time DescribeSecurityGroups was denied: no security group in the snapshot...
    current = {k: v for k, v in snapshot(answers).items() if k[0] != "security_group"}
    # ...and even a record that would look modified or created is ignored for that type.
    current[("security_group", "sg-0new")] = {"group_id": "sg-0new"}
    answers["subnet"].pop(0)
    current.update({k: v for k, v in snapshot(answers).items() if k[0] == "subnet"})
    current.pop(("subnet", "subnet-0aaa00000000000a1"))
    changes = diff_snapshots(prev, current, unknown_types={"security_group"})
    assert [(c.resource_type, c.change_type) for c in changes] == [("subnet", "deleted")]
    # Without the unknown type, the same input is a mass deletion.
    changes = diff_snapshots(prev, current)
    assert sum(c.change_type == "deleted" for c in changes) == 3


def test_a_new_field_that_is_null_is_no_change():
    """A later collector version that adds a field (null for existing resources) does not turn
    every record into a modification."""
    prev = snapshot(raw())
    cur = {k: v | {"new_field": None} for k, v in prev.items()}
    assert diff_snapshots(prev, cur) == []


def test_first_snapshot_is_all_created():
    cur = snapshot(raw())
    changes = diff_snapshots({}, cur)
    assert len(changes) == len(cur)
    assert {c.change_type for c in changes} == {"created"}
    assert [(c.resource_type, c.resource_id) for c in changes] == sorted(cur)


def test_diff_fields_shapes():
    assert diff_fields({"a": [1, 2]}, {"a": [1, 3]}) == [FieldChange("a", [1, 2], [1, 3])]
    assert diff_fields({"a": {"b": 1}}, {"a": {"b": 2, "c": "x"}}) == [
        FieldChange("a.b", 1, 2),
        FieldChange("a.c", None, "x"),
    ]
    # Keyed list from empty.
    assert diff_fields({"r": []}, {"r": [{"key": "k", "v": 1}]}) == [
        FieldChange("r[k]", None, {"key": "k", "v": 1})
    ]
    # Duplicate keys fall back to a whole-list comparison.
    dup = [{"key": "k", "v": 1}, {"key": "k", "v": 2}]
    assert diff_fields({"r": dup}, {"r": dup[:1]}) == [FieldChange("r", dup, dup[:1])]


def test_collection_result_properties():
    from cloudinsights_dagster.inventory.model import (
        ApiOutcome,
        CollectionResult,
        ResourceRecord,
        content_hash,
    )

    records = [
        ResourceRecord("vpc", "vpc-1", {"vpc_id": "vpc-1"}),
        ResourceRecord("vpc", "vpc-2", {"vpc_id": "vpc-2"}),
    ]
    ok = ApiOutcome("vpc", "ec2:DescribeVpcs", "ok", None, 2)
    empty = ApiOutcome("subnet", "ec2:DescribeSubnets", "ok", None, 0)
    denied = ApiOutcome(
        "transit_gateway",
        "ec2:DescribeTransitGateways",
        "denied",
        "AccessDenied: ... ec2:DescribeTransitGateways",
        0,
    )
    failed = ApiOutcome("flow_log", "ec2:DescribeFlowLogs", "failed", "InternalError: x", 0)

    result = CollectionResult(
        "111122223333-eu-west-1", "111122223333", "eu-west-1", records, [ok, empty, denied, failed]
    )
    assert result.unknown_types == {"transit_gateway", "flow_log"}
    assert result.completeness == "partial"
    assert result.counts_by_type == {"vpc": 2, "subnet": 0}  # unknown types: no count at all
    assert result.snapshot() == {
        ("vpc", "vpc-1"): {"vpc_id": "vpc-1"},
        ("vpc", "vpc-2"): {"vpc_id": "vpc-2"},
    }
    assert CollectionResult("k", "a", "r", [], [ok, empty]).completeness == "complete"
    assert CollectionResult("k", "a", "r", [], [denied, failed]).completeness == "failed"

    # The hash ignores key order and is the sha256 of compact, sorted JSON.
    assert content_hash({"b": 1, "a": [1, {"y": None, "x": "é"}]}) == content_hash(
        {"a": [1, {"x": "é", "y": None}], "b": 1}
    )
    import hashlib

    assert content_hash({"b": 1, "a": "x"}) == hashlib.sha256(b'{"a":"x","b":1}').hexdigest()
    assert records[0].content_hash == content_hash({"vpc_id": "vpc-1"})


def test_load_snapshot_round_trip():
    from cloudinsights_dagster.inventory.model import canonical_json, load_snapshot

    snap = snapshot(raw())
    rows = ((t, i, canonical_json(d)) for (t, i), d in snap.items())
    assert load_snapshot(rows, chunk_size=3) == snap
    assert load_snapshot([]) == {}
