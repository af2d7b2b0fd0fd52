"""Per-object partial aggregates (views/partials.py): merged, they equal the record-based views
exactly (same rows) on records enriched by the real pipeline; they survive a write and read;
the relational caps keep every total; the columnar views read back with plain pyarrow."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest
from flowlog_samples import Eni, flow_log_gzip, sample_records

from cloudinsights_dagster.flowlogs.writer import process_object
from cloudinsights_dagster.views import columnar
from cloudinsights_dagster.views.caps import (
    REST,
    ROWS_PER_WINDOW,
    cap_reasons,
    cap_rejected,
    cap_throughput,
)
from cloudinsights_dagster.views.partials import (
    PartialBuilder,
    partial_of,
    partial_path,
    read_partial,
    write_partial,
)
from cloudinsights_dagster.views.reasons import (
    InventoryHistory,
    Version,
    explain_groups,
    explain_rejects,
    merge_reject_groups,
    sort_reasons,
)
from cloudinsights_dagster.views.rejected import aggregate_rejected, finish_rejected
from cloudinsights_dagster.views.throughput import aggregate_throughput, merge_throughput

ACCOUNT = "111122223333"
T0 = 1_775_001_600  # a window start
N_ENIS = 40
ENIS = [
    Eni(
        f"eni-{n:04d}",
        f"10.0.{n // 20}.{10 + n % 20}",
        "vpc-1",
        f"subnet-{n % 2}",
        f"i-{n:04d}" if n % 4 else "-",
    )
    for n in range(N_ENIS)
]
GROUPS = {
    e.interface_id: [f"sg-{n % 3}"] + ([f"sg-x{n % 2}"] if n % 5 == 0 else [])
    for n, e in enumerate(ENIS)
}


def inventory() -> pa.Table:
    strings = [
        ("interface_id", [e.interface_id for e in ENIS]),
        ("instance_id", [None if e.instance_id == "-" else e.instance_id for e in ENIS]),
        ("subnet_id", [e.subnet_id for e in ENIS]),
        ("vpc_id", [e.vpc_id for e in ENIS]),
        ("availability_zone", ["us-east-1a"] * N_ENIS),
        ("owner_account_id", [ACCOUNT] * N_ENIS),
        ("name", [f"web-{n}" for n in range(N_ENIS)]),
    ]
    lists = [
        ("security_group_ids", [GROUPS[e.interface_id] for e in ENIS]),
        ("private_ips", [[e.private_ip] for e in ENIS]),
        ("public_ips", [[] for _ in ENIS]),
    ]
    return pa.table(
        {name: pa.array(v, pa.string()) for name, v in strings}
        | {name: pa.array(v, pa.list_(pa.string())) for name, v in lists}
    )


def rule(port, peer="0.0.0.0/0", peer_type="cidr_ipv4"):
    return {
        "key": f"tcp/{port}/{peer}",
        "protocol": "tcp",
        "from_port": port,
        "to_port": port,
        "peer_type": peer_type,
        "peer": peer,
    }


def history(change_at: int) -> InventoryHistory:
    """sg-0 loses its 443 rule at `change_at`; subnet-1's ACL denies 198.51.100.0/24 from then."""
    versions = []
    for g in ("sg-0", "sg-1", "sg-2", "sg-x0", "sg-x1"):
        rules = [rule(443), rule(22, "10.0.0.0/16"), rule(5432, "sg-1", "security_group")]
        data = {
            "group_id": g,
            "ip_permissions": rules,
            "ip_permissions_egress": [{"key": "all", "protocol": "all", "peer": "10.0.0.0/8"}],
        }
        if g == "sg-0":
            versions.append(Version("security_group", g, T0 - 3600, change_at, data))
            versions.append(
                Version("security_group", g, change_at, None, {**data, "ip_permissions": rules[1:]})
            )
        else:
            versions.append(Version("security_group", g, T0 - 3600, None, data))
    allow = [
        {"key": f"{d}/100", "direction": d, "rule_number": 100, "rule_action": "allow",
         "protocol": "all", "cidr_block": "0.0.0.0/0"}
        for d in ("ingress", "egress")
    ]  # fmt: skip
    deny = {"key": "ingress/50", "direction": "ingress", "rule_number": 50, "rule_action": "deny",
            "protocol": "all", "cidr_block": "198.51.100.0/24"}  # fmt: skip
    for j in (0, 1):
        data = {"network_acl_id": f"acl-{j}", "vpc_id": "vpc-1", "subnet_ids": [f"subnet-{j}"],
                "entries": allow}  # fmt: skip
        if j == 1:
            versions.append(Version("network_acl", f"acl-{j}", T0 - 3600, change_at, data))
            versions.append(
                Version(
                    "network_acl", f"acl-{j}", change_at, None, {**data, "entries": [deny, *allow]}
                )
            )
        else:
            versions.append(Version("network_acl", f"acl-{j}", T0 - 3600, None, data))
    for e in ENIS[:-2]:  # the last two ENIs have no inventory: reason unknown
        versions.append(
            Version(
                "network_interface",
                e.interface_id,
                T0 - 3600,
                None,
                {
                    "interface_id": e.interface_id,
                    "vpc_id": "vpc-1",
                    "subnet_id": e.subnet_id,
                    "security_group_ids": GROUPS[e.interface_id],
                    "private_ips": [e.private_ip],
                },
            )  # fmt: skip
        )
    return InventoryHistory(versions)


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    """Four objects through the real pipeline (parse, enrich, write), each with the partial its
    enriched batches built, and all their records. Objects hold different ENIs and windows, and
    their egress rejects aim at ENIs whose own records are in other objects."""
    folder = tmp_path_factory.mktemp("objects")
    specs = [
        (ENIS[:20], T0, [e.private_ip for e in ENIS[30:]] + ["198.51.100.7"]),
        (ENIS[20:], T0, [e.private_ip for e in ENIS[:5]] + ["203.0.113.10"]),
        (ENIS[10:30], T0 + 300, ["198.51.100.7", "203.0.113.10"]),
        (ENIS[::3], T0 + 600, [e.private_ip for e in ENIS[1::3]] + ["198.51.100.9"]),
    ]
    partials, tables = [], []
    for n, (enis, start, peers) in enumerate(specs):
        rows = sample_records(ACCOUNT, enis, start, 3000, seed=n, external_peers=peers)
        rows += sample_records(ACCOUNT, enis, start + 120, 500, seed=10 + n, reject_share=0.9)
        source = folder / f"o{n}.log.gz"
        source.write_bytes(flow_log_gzip(rows))
        builder = PartialBuilder()
        result = process_object(
            str(source),
            str(folder / f"o{n}.parquet"),
            inventory(),
            [ACCOUNT],
            block_size=1 << 16,  # several batches per object
            on_batch=builder.add,
        )
        partials.append(builder.build(result.out_path))
        tables.append(pads.dataset(result.out_path).to_table())
        assert builder.records == result.records_loaded
    return partials, pa.concat_tables(tables, promote_options="permissive")


def test_merged_throughput_partials_equal_the_record_aggregation(objects):
    partials, records = objects
    merged = merge_throughput(p.throughput for p in partials)
    expected = aggregate_throughput(records)
    assert merged.num_rows > 500
    assert merged.to_pylist() == expected.to_pylist()


def test_merged_rejected_partials_equal_the_record_aggregation(objects):
    partials, records = objects
    fallback = {"eni-9999": ["sg-9"]}
    merged = finish_rejected(
        [p.rejected for p in partials],
        [p.security_groups_seen for p in partials],
        security_groups=fallback,
    )
    expected = aggregate_rejected(records, security_groups=fallback)
    assert merged.num_rows > 200
    # egress rejects to an ENI of another object got that ENI's groups
    egress_filled = [
        r for r in merged.to_pylist() if r["source_interface_id"] and r["destination_interface_id"]
    ]
    assert any(r["destination_security_group_ids"] for r in egress_filled)
    assert merged.to_pylist() == expected.to_pylist()
    windows = [datetime.fromtimestamp(T0 + 300, UTC)]
    assert (
        finish_rejected(
            [p.rejected for p in partials], [p.security_groups_seen for p in partials], windows
        ).to_pylist()
        == aggregate_rejected(records, windows=windows).to_pylist()
    )


def test_explained_reject_groups_equal_the_record_reasons(objects):
    partials, records = objects
    aligned = history(T0 + 300)  # the change at a window start: no group straddles it
    groups = merge_reject_groups(p.reject_groups for p in partials)
    assert groups.num_rows < pc.sum(groups["flows"]).as_py()  # grouped, not one row per record
    reasons, straddled = explain_groups(groups, aligned)
    expected = explain_rejects(records, aligned)
    assert straddled == set()
    assert {r["reason"] for r in expected.to_pylist()} == {
        "no_rule_allows",
        "nacl_deny",
        "allowed",
        "unknown",
    }
    assert reasons.to_pylist() == expected.to_pylist()
    assert expected.to_pylist() == sort_reasons(expected).to_pylist()  # the documented order


def test_a_change_inside_a_window_sends_that_window_back_to_the_records(objects):
    partials, records = objects
    inside = history(T0 + 300 + 100)
    groups = merge_reject_groups(p.reject_groups for p in partials)
    reasons, straddled = explain_groups(groups, inside)
    assert straddled == {T0 + 300}
    expected = explain_rejects(records, inside)
    others = pc.not_equal(reasons["window_start"].cast(pa.int64()), T0 + 300)
    expected_others = pc.not_equal(expected["window_start"].cast(pa.int64()), T0 + 300)
    assert reasons.filter(others).to_pylist() == expected.filter(expected_others).to_pylist()


def test_a_partial_survives_write_and_read(objects, tmp_path):
    partials, _ = objects
    path = partial_path(str(tmp_path), 7, "bucket", "AWSLogs/111122223333/x.log.gz")
    assert path == f"{tmp_path}/views/_partials/integration=7/bucket/AWSLogs/111122223333/x.arrow"
    write_partial(path, partials[0])
    back = read_partial(path)
    assert back.output_path == partials[0].output_path and back.records == partials[0].records
    for part in ("windows", "throughput", "rejected", "security_groups_seen", "reject_groups"):
        assert getattr(back, part).equals(getattr(partials[0], part)), part
    assert read_partial(str(tmp_path / "none.arrow")) is None


def test_a_partial_of_records_equals_the_pipelines(objects):
    partials, _ = objects
    again = partial_of(pads.dataset(partials[1].output_path).to_table(), partials[1].output_path)
    assert again.throughput.equals(partials[1].throughput)

    def rows(table):  # the order of groups is not part of the partial
        return sorted(repr(tuple(r.values())) for r in table.to_pylist())

    assert rows(again.reject_groups) == rows(partials[1].reject_groups)
    assert rows(again.security_groups_seen) == rows(partials[1].security_groups_seen)


def _sums(table, keys, measures=("flows", "bytes")):
    grouped = table.group_by(list(keys)).aggregate([(m, "sum") for m in measures])
    return sorted(tuple(r.values()) for r in grouped.to_pylist())


def test_caps_keep_every_total_and_bound_the_rows(objects):
    partials, records = objects
    throughput = aggregate_throughput(records)
    capped = cap_throughput(throughput, top=3)
    assert capped.num_rows < throughput.num_rows
    assert REST in capped["entity_id"].to_pylist()
    keys = ("window_start", "entity_type", "direction", "action")
    assert _sums(capped, keys, ("bytes", "packets", "flows")) == _sums(
        throughput, keys, ("bytes", "packets", "flows")
    )
    per_window = capped.group_by(["window_start", "entity_type"]).aggregate(
        [("entity_id", "count_distinct")]
    )
    assert max(per_window["entity_id_count_distinct"].to_pylist()) <= 3 + 1

    rejected = aggregate_rejected(records)
    capped = cap_rejected(rejected)
    assert _sums(capped, ["window_start"]) == _sums(rejected, ["window_start"])
    assert max(capped["impact_rank"].to_pylist()) == 11
    windows = len(set(rejected["window_start"].to_pylist()))
    assert capped.filter(pc.equal(capped["srcaddr"], REST)).num_rows == windows  # one each

    reasons = explain_rejects(records, history(T0 + 300))
    capped = cap_reasons(reasons)
    assert _sums(capped, ["window_start", "reason"]) == _sums(reasons, ["window_start", "reason"])
    rows_per_window = capped.group_by(["window_start"]).aggregate([("flows", "count")])
    assert max(rows_per_window["flows_count"].to_pylist()) <= 20 + 4
    assert ROWS_PER_WINDOW == 155


def test_columnar_views_replace_windows_and_read_with_pyarrow(objects, tmp_path):
    _, records = objects
    base = str(tmp_path)
    throughput = aggregate_throughput(records)
    windows = {datetime.fromtimestamp(T0 + k * 300, UTC) for k in range(3)}
    first = columnar.write_windows(base, "entity_throughput", 1, "loc-1", throughput, windows)
    assert first.files == 1 and first.rows == throughput.num_rows
    # a refresh of one window replaces exactly that window's rows
    one = {datetime.fromtimestamp(T0 + 300, UTC)}
    again = aggregate_throughput(records, windows=one)
    columnar.write_windows(base, "entity_throughput", 1, "loc-1", again, one)
    table = columnar.read_view(base, "entity_throughput")
    assert set(table.column_names) >= {"day", "account_group_id", "location_key", "entity_id"}
    assert table.num_rows == throughput.num_rows
    assert _sums(table, ["window_start", "entity_type"]) == _sums(
        throughput, ["window_start", "entity_type"]
    )
    day = datetime.fromtimestamp(T0, UTC).strftime("%Y-%m-%d")
    pruned = pads.dataset(
        f"{base}/views/entity_throughput", format="parquet", partitioning="hive"
    ).to_table(filter=pc.field("location_key") == "loc-1")
    assert pruned.num_rows == throughput.num_rows and set(pruned["day"].to_pylist()) == {day}
    assert columnar.read_windows(base, "entity_throughput", 1, "loc-1", one).num_rows == (
        again.num_rows
    )
