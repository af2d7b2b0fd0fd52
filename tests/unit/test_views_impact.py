"""Config changes and the traffic of what they touched: the ENIs a change reaches through the
inventory, and the before/after windows (a security-group rule removed, then rejects jump)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from flowlog_samples import flow_log_gzip

from cloudinsights_dagster.flowlogs import enrich as E
from cloudinsights_dagster.flowlogs.parse import read_flow_log
from cloudinsights_dagster.inventory.collectors import COLLECTORS
from cloudinsights_dagster.inventory.diff import diff_snapshots
from cloudinsights_dagster.inventory.model import ResourceRecord
from cloudinsights_dagster.views.impact import change_impact, change_impacts, impact_windows
from cloudinsights_dagster.views.rejected import aggregate_rejected
from cloudinsights_dagster.views.throughput import aggregate_throughput
from cloudinsights_dagster.views.touched import touched_interfaces

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inventory"
ACCOUNT = "111122223333"
VPC = "vpc-0a1b2c3d4e5f60001"
ENI_WEB = "eni-0inst000000000001"  # web-1, sg-0web + sg-0db, 10.0.1.10, subnet-0aaa
ENI_ELB = "eni-0elb0000000000001"  # the ALB's ENI, sg-0web, 10.0.2.50, subnet-0bbb
ENI_NAT = "eni-0nat0000000000001"  # the NAT gateway's ENI, no group, subnet-0aaa


def fixture_records(*resource_types: str) -> list[ResourceRecord]:
    out = []
    for resource_type in resource_types or sorted(COLLECTORS):
        answer = json.loads((FIXTURES / f"{resource_type}.json").read_text())
        (items,) = [v for v in answer.values() if isinstance(v, list)]
        out += COLLECTORS[resource_type].transform(items)
    return out


@pytest.fixture(scope="module")
def inventory() -> list[ResourceRecord]:
    return fixture_records()


def change(resource_type: str, resource_id: str, **kw) -> dict:
    return {
        "location_key": f"{ACCOUNT}:eu-west-1",
        "change_time": kw.pop("change_time", datetime(2026, 1, 1, 10, 5, tzinfo=UTC)),
        "resource_type": resource_type,
        "resource_id": resource_id,
        "change_type": kw.pop("change_type", "modified"),
        "changed_fields": kw.pop("changed_fields", []),
    }


def test_touched_interfaces_per_resource_type(inventory):
    def touched(resource_type, resource_id, **kw):
        return touched_interfaces(change(resource_type, resource_id, **kw), inventory)

    assert touched("security_group", "sg-0web0000000000001") == {ENI_WEB, ENI_ELB}
    assert touched("security_group", "sg-0db00000000000001") == {ENI_WEB}
    assert touched("security_group", "sg-0nobody") == set()
    # A route table -> the subnets associated with it -> their ENIs.
    assert touched("route_table", "rtb-0prv000000000001") == {ENI_ELB}
    assert touched("route_table", "rtb-0pub000000000001") == {ENI_WEB, ENI_NAT}
    assert touched("network_acl", "acl-0a1") == {ENI_WEB, ENI_NAT, ENI_ELB}
    assert touched("subnet", "subnet-0aaa00000000000a1") == {ENI_WEB, ENI_NAT}
    assert touched("vpc", VPC) == {ENI_WEB, ENI_NAT, ENI_ELB}
    assert touched("instance", "i-0abc00000000000001") == {ENI_WEB}
    assert touched("network_interface", "eni-0gone") == {"eni-0gone"}
    assert touched("nat_gateway", "nat-0nat000000000001") == {ENI_NAT}
    assert touched("internet_gateway", "igw-0igw000000000001") == set()


def test_a_route_table_association_removed_touches_the_subnet_it_named(inventory):
    removed = {
        "path": "associations[rtbassoc-0old]",
        "before": {"key": "rtbassoc-0old", "subnet_id": "subnet-0aaa00000000000a1"},
        "after": None,
    }
    event = change("route_table", "rtb-0prv000000000001", changed_fields=[removed])
    assert touched_interfaces(event, inventory) == {ENI_ELB, ENI_WEB, ENI_NAT}
    # A deleted route table: the records before the deletion say which subnets it had.
    gone = change("route_table", "rtb-0prv000000000001", change_type="deleted")
    assert touched_interfaces(gone, inventory) == {ENI_ELB}
    without = [r for r in inventory if r.resource_id != "rtb-0prv000000000001"]
    assert touched_interfaces(gone, without) == set()


def test_main_route_table_reaches_subnets_without_explicit_association():
    records = [
        ResourceRecord("subnet", "subnet-1", {"subnet_id": "subnet-1", "vpc_id": "vpc-1"}),
        ResourceRecord("subnet", "subnet-2", {"subnet_id": "subnet-2", "vpc_id": "vpc-1"}),
        ResourceRecord(
            "route_table",
            "rtb-main",
            {"route_table_id": "rtb-main", "vpc_id": "vpc-1", "main": True, "subnet_ids": []},
        ),
        ResourceRecord(
            "route_table",
            "rtb-2",
            {
                "route_table_id": "rtb-2",
                "vpc_id": "vpc-1",
                "main": False,
                "subnet_ids": ["subnet-2"],
            },
        ),
        *(
            ResourceRecord(
                "network_interface",
                eni,
                {"interface_id": eni, "subnet_id": subnet, "vpc_id": "vpc-1"},
            )
            for eni, subnet in (("eni-1", "subnet-1"), ("eni-2", "subnet-2"))
        ),
    ]
    assert touched_interfaces(change("route_table", "rtb-main"), records) == {"eni-1"}
    assert touched_interfaces(change("route_table", "rtb-2"), records) == {"eni-2"}


def throughput_rows(rows: list[tuple]) -> pa.Table:
    """(window start, entity type, entity id, direction, action, bytes, flows) -> a table."""
    names = ["window_start", "entity_type", "entity_id", "direction", "action", "bytes", "flows"]
    columns = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    table = pa.table(
        {
            "window_start": pa.array(columns["window_start"], pa.timestamp("s", tz="UTC")),
            **{n: pa.array(columns[n], pa.string()) for n in names[1:5]},
            "bytes": pa.array(columns["bytes"], pa.int64()),
            "packets": pa.array([b // 100 for b in columns["bytes"]], pa.int64()),
            "flows": pa.array(columns["flows"], pa.int64()),
        }
    )
    return table


def test_windows_before_and_after_the_change():
    def w(hh, mm):
        return datetime(2026, 1, 1, hh, mm, tzinfo=UTC)

    rows = [
        (w(9, 45), "eni", "eni-1", "inbound", "REJECT", 1000, 100),  # too early
        (w(9, 50), "eni", "eni-1", "inbound", "ACCEPT", 10, 1),
        (w(10, 0), "eni", "eni-1", "inbound", "REJECT", 20, 2),  # last window before
        (w(10, 5), "eni", "eni-1", "inbound", "REJECT", 300, 30),  # the change's window
        (w(10, 5), "eni", "eni-1", "outbound", "ACCEPT", 7, 1),
        (w(10, 15), "eni", "eni-2", "outbound", "REJECT", 40, 4),
        (w(10, 20), "eni", "eni-1", "inbound", "REJECT", 1000, 100),  # too late
        (w(10, 5), "eni", "eni-other", "inbound", "REJECT", 1000, 100),  # not touched
        (w(10, 5), "subnet", "eni-1", "inbound", "REJECT", 1000, 100),  # not an ENI row
    ]
    event = change("security_group", "sg-1", change_time=w(10, 7) + timedelta(seconds=30))
    impact = change_impact(event, {"eni-2", "eni-1"}, throughput_rows(rows), windows=3)
    assert impact["change_window_start"] == w(10, 5)
    assert impact["before_start"] == w(9, 50) and impact["after_end"] == w(10, 20)
    assert impact["touched_interfaces"] == ["eni-1", "eni-2"]
    assert impact["before"]["rejected_flows"] == 2 and impact["before"]["rejected_bytes"] == 20
    assert impact["before"]["inbound_bytes"] == 30 and impact["before"]["accepted_flows"] == 1
    assert impact["after"]["rejected_flows"] == 34 and impact["after"]["rejected_bytes"] == 340
    assert impact["after"]["rejected_inbound_flows"] == 30
    assert impact["after"]["rejected_outbound_flows"] == 4
    assert impact["after"]["outbound_bytes"] == 47
    assert impact["rejected_flows_delta"] == 32 and impact["rejected_bytes_delta"] == 320
    assert [s["window_start"] for s in impact["series"]] == [
        "2026-01-01T09:50:00Z",
        "2026-01-01T09:55:00Z",
        "2026-01-01T10:00:00Z",
        "2026-01-01T10:05:00Z",
        "2026-01-01T10:10:00Z",
        "2026-01-01T10:15:00Z",
    ]
    assert [s["phase"] for s in impact["series"]] == ["before"] * 3 + ["after"] * 3
    assert [s["rejected_flows"] for s in impact["series"]] == [0, 0, 2, 30, 0, 4]
    assert impact_windows(event["change_time"], 3)[0] == w(9, 50)
    json.dumps(impact["series"])  # JSON-able as it is

    nothing = change_impact(event, set(), throughput_rows(rows))
    assert nothing["rejected_flows_delta"] == 0 and nothing["after"]["inbound_bytes"] == 0


# -- the scenario of the issue -----------------------------------------------------------------


def eni_inventory(records: list[ResourceRecord]) -> pa.Table:
    """The ENI table the flow-log enrichment joins to, from the inventory records."""
    enis = [r.data for r in records if r.resource_type == "network_interface"]
    strings = ("interface_id", "instance_id", "subnet_id", "vpc_id", "availability_zone", "name")
    columns = {c: pa.array([e.get(c) for e in enis], pa.string()) for c in strings}
    columns["owner_account_id"] = pa.array([e.get("owner_id") for e in enis], pa.string())
    for c in ("security_group_ids", "private_ips", "public_ips"):
        columns[c] = pa.array([e.get(c) or [] for e in enis], pa.list_(pa.string()))
    return pa.table({c: columns[c] for c in E.INVENTORY_COLUMNS})


def flow(src: str, dst: str, start: datetime, action: str, eni: str, direction="ingress") -> dict:
    t = int(start.timestamp())
    return {
        "version": "5",
        "account-id": ACCOUNT,
        "interface-id": eni,
        "srcaddr": src,
        "dstaddr": dst,
        "srcport": "51000",
        "dstport": "443",
        "protocol": "6",
        "packets": "4",
        "bytes": "480",
        "start": str(t),
        "end": str(t + 20),
        "action": action,
        "log-status": "OK",
        "tcp-flags": "2",
        "flow-direction": direction,
        "traffic-path": "-" if direction == "ingress" else "1",
    }


FIELDS = [
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
    "tcp-flags",
    "flow-direction",
    "traffic-path",
]


def test_security_group_rule_removed_then_rejects_jump_on_its_enis(inventory):
    # The snapshot of 10:05 sees web-sg without its "HTTPS from anywhere" rule.
    web_sg = next(r for r in inventory if r.resource_id == "sg-0web0000000000001")
    after = copy.deepcopy(web_sg.data)
    after["ip_permissions"] = [
        p for p in after["ip_permissions"] if p["key"] != "tcp/443/0.0.0.0/0"
    ]
    (diff,) = diff_snapshots({web_sg.key: web_sg.data}, {web_sg.key: after})
    event = {
        "location_key": f"{ACCOUNT}:eu-west-1",
        "change_time": datetime(2026, 1, 1, 10, 5, tzinfo=UTC),
        "resource_type": diff.resource_type,
        "resource_id": diff.resource_id,
        "change_type": diff.change_type,
        "changed_fields": [
            {"path": f.path, "before": f.before, "after": f.after} for f in diff.fields
        ],
    }
    assert event["changed_fields"][0]["path"] == "ip_permissions[tcp/443/0.0.0.0/0]"
    assert event["changed_fields"][0]["after"] is None

    # Internet clients call web-1 (10.0.1.10) and the ALB (10.0.2.50) on 443 from 09:50 on:
    # accepted until the rule goes (10:03), rejected afterwards. The NAT ENI, which does not
    # have the group, keeps working.
    clients = ["198.51.100.7", "203.0.113.10", "192.0.2.33"]
    records = []
    t = datetime(2026, 1, 1, 9, 50, tzinfo=UTC)
    while t < datetime(2026, 1, 1, 10, 20, tzinfo=UTC):
        action = "ACCEPT" if t < datetime(2026, 1, 1, 10, 3, tzinfo=UTC) else "REJECT"
        for client in clients:
            records.append(flow(client, "10.0.1.10", t, action, ENI_WEB))
            records.append(flow(client, "10.0.2.50", t, action, ENI_ELB))
            records.append(flow("10.0.1.20", client, t, "ACCEPT", ENI_NAT, "egress"))
        t += timedelta(seconds=30)
    parsed = read_flow_log(flow_log_gzip(records, FIELDS))
    index = E.EniIndex(eni_inventory(inventory), {ACCOUNT})
    enriched = pa.Table.from_batches([E.enrich_batch(b, index).batch for b in parsed.to_batches()])
    throughput = aggregate_throughput(enriched)

    touched = touched_interfaces(event, inventory)
    assert touched == {ENI_WEB, ENI_ELB}
    impact = change_impact(event, touched, throughput, windows=3)
    assert impact["touched_interfaces"] == [ENI_ELB, ENI_WEB]
    assert impact["resource_id"] == "sg-0web0000000000001"
    # 09:50-10:05: 13 of 30 half-minutes after 10:03 -> 4 rejected steps x 3 clients x 2 ENIs.
    assert impact["before"]["rejected_flows"] == 4 * 3 * 2
    assert impact["after"]["rejected_flows"] == 30 * 3 * 2
    assert impact["after"]["accepted_flows"] == 0
    assert impact["rejected_flows_delta"] > 0
    assert impact["rejected_bytes_delta"] == (30 - 4) * 3 * 2 * 480
    # Inbound traffic of the touched ENIs is there in both periods: it is rejected, not gone.
    assert impact["before"]["inbound_flows"] == impact["after"]["inbound_flows"] == 30 * 3 * 2

    # In a batch with other changes, through the same inventory: the same figures.
    unrelated = {**event, "resource_id": "sg-0nobody", "changed_fields": []}
    batch = change_impacts([event, unrelated], inventory, throughput, windows=3)
    assert batch[0] == impact
    assert batch[1]["touched_interfaces"] == [] and batch[1]["rejected_flows_delta"] == 0

    # The rejected-traffic view shows who is refused and which groups the target has.
    rejected = aggregate_rejected(enriched).to_pylist()
    web = [r for r in rejected if r["destination_interface_id"] == ENI_WEB]
    assert web and all(
        r["destination_security_group_ids"] == ["sg-0db00000000000001", "sg-0web0000000000001"]
        and r["destination_instance_id"] == "i-0abc00000000000001"
        and r["source_external"] is True
        and r["dstport"] == 443
        for r in web
    )
