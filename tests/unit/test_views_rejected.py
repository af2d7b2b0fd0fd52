"""Rejected traffic per window: grouping, destination resource and security groups, impact
order, NODATA / accepted excluded, plain and dictionary strings, merge == union."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from flowlog_samples import Eni, flow_log_gzip, sample_records

from cloudinsights_dagster.flowlogs import enrich as E
from cloudinsights_dagster.flowlogs.parse import read_flow_log
from cloudinsights_dagster.views.rejected import (
    REJECTED_SCHEMA,
    aggregate_rejected,
    merge_rejected,
)

T0 = int(datetime(2026, 1, 1, 9, 0, tzinfo=UTC).timestamp())
DICT = pa.dictionary(pa.int32(), pa.string())
STRINGS = (
    "account_id",
    "interface_id",
    "action",
    "log_status",
    "flow_direction",
    "eni_instance_id",
    "peer_interface_id",
    "peer_instance_id",
)


def rec(
    eni="eni-web",
    src="203.0.113.9",
    dst="10.0.0.10",
    dstport=443,
    direction="ingress",
    action="REJECT",
    bytes_=100,
    packets=2,
    start=T0,
    status="OK",
    instance="i-web",
    sgs=("sg-web",),
    peer=None,
    peer_instance=None,
    external=True,
) -> dict:
    no_data = status != "OK"
    return {
        "account_id": "111111111111",
        "interface_id": eni,
        "srcaddr": None if no_data else src,
        "dstaddr": None if no_data else dst,
        "srcport": None if no_data else 50000,
        "dstport": None if no_data else dstport,
        "protocol": None if no_data else 6,
        "packets": None if no_data else packets,
        "bytes": None if no_data else bytes_,
        "start": start,
        "end": start + 30,
        "action": None if no_data else action,
        "log_status": status,
        "flow_direction": None if no_data else direction,
        "eni_instance_id": instance,
        "eni_security_group_ids": None if sgs is None else list(sgs),
        "peer_interface_id": peer,
        "peer_instance_id": peer_instance,
        "peer_is_external": None if no_data else external,
    }


def table(rows: list[dict], dictionary: bool = True) -> pa.Table:
    columns = {}
    for name in rows[0]:
        values = [r[name] for r in rows]
        if name in ("start", "end"):
            columns[name] = pa.array(values, pa.int64()).cast(pa.timestamp("s", tz="UTC"))
        elif name in STRINGS:
            columns[name] = pa.array(values, pa.string()).cast(DICT if dictionary else pa.string())
        elif name in ("srcaddr", "dstaddr"):
            columns[name] = pa.array(values, pa.string())
        elif name == "eni_security_group_ids":
            columns[name] = pa.array(values, pa.list_(DICT if dictionary else pa.string()))
        elif name == "peer_is_external":
            columns[name] = pa.array(values, pa.bool_())
        elif name in ("packets", "bytes"):
            columns[name] = pa.array(values, pa.int64())
        else:
            columns[name] = pa.array(values, pa.int32())
    return pa.table(columns)


def at(mm: int) -> datetime:
    return datetime(2026, 1, 1, 9, mm, tzinfo=UTC)


def test_ingress_rejects_grouped_with_their_destination_and_security_groups():
    rows = [
        rec(bytes_=100),
        rec(bytes_=50, start=T0 + 100),  # same key, same window
        rec(bytes_=10, dstport=22),
        rec(bytes_=999, action="ACCEPT"),  # accepted: not here
        rec(status="NODATA"),
        rec(bytes_=70, start=T0 + 300),  # next window
    ]
    result = aggregate_rejected(table(rows))
    assert result.schema == REJECTED_SCHEMA
    got = result.to_pylist()
    assert got == [
        {
            "window_start": at(0),
            "srcaddr": "203.0.113.9",
            "dstaddr": "10.0.0.10",
            "dstport": 443,
            "protocol": 6,
            "flows": 2,
            "packets": 4,
            "bytes": 150,
            "destination_interface_id": "eni-web",
            "destination_instance_id": "i-web",
            "destination_security_group_ids": ["sg-web"],
            "source_interface_id": None,
            "source_external": True,
            "impact_rank": 1,
        },
        {
            "window_start": at(0),
            "srcaddr": "203.0.113.9",
            "dstaddr": "10.0.0.10",
            "dstport": 22,
            "protocol": 6,
            "flows": 1,
            "packets": 2,
            "bytes": 10,
            "destination_interface_id": "eni-web",
            "destination_instance_id": "i-web",
            "destination_security_group_ids": ["sg-web"],
            "source_interface_id": None,
            "source_external": True,
            "impact_rank": 2,
        },
        {
            "window_start": at(5),
            "srcaddr": "203.0.113.9",
            "dstaddr": "10.0.0.10",
            "dstport": 443,
            "protocol": 6,
            "flows": 1,
            "packets": 2,
            "bytes": 70,
            "destination_interface_id": "eni-web",
            "destination_instance_id": "i-web",
            "destination_security_group_ids": ["sg-web"],
            "source_interface_id": None,
            "source_external": True,
            "impact_rank": 1,
        },
    ]


def test_egress_reject_points_at_the_resolved_peer_and_its_groups():
    rows = [
        # eni-app (10.0.0.20) sends to eni-db (10.0.0.30): rejected on the way out.
        rec(
            eni="eni-app",
            src="10.0.0.20",
            dst="10.0.0.30",
            dstport=5432,
            direction="egress",
            instance="i-app",
            sgs=("sg-app",),
            peer="eni-db",
            peer_instance="i-db",
            external=False,
        ),
        # eni-db's own record of the window says which groups it has.
        rec(
            eni="eni-db",
            src="10.0.0.99",
            dst="10.0.0.30",
            action="ACCEPT",
            instance="i-db",
            sgs=("sg-db", "sg-shared"),
            external=False,
        ),
        # An egress reject to an address no monitored ENI holds.
        rec(eni="eni-app", src="10.0.0.20", dst="198.51.100.7", direction="egress", bytes_=5),
        # An egress reject to a peer with no records: groups from the mapping given.
        rec(
            eni="eni-app",
            src="10.0.0.20",
            dst="10.0.0.40",
            direction="egress",
            bytes_=1,
            peer="eni-cache",
            peer_instance=None,
            external=False,
        ),
    ]
    result = aggregate_rejected(table(rows), security_groups={"eni-cache": ["sg-cache"]})
    got = {r["dstaddr"]: r for r in result.to_pylist()}
    assert set(got) == {"10.0.0.30", "198.51.100.7", "10.0.0.40"}
    db = got["10.0.0.30"]
    assert db["destination_interface_id"] == "eni-db"
    assert db["destination_instance_id"] == "i-db"
    assert db["destination_security_group_ids"] == ["sg-db", "sg-shared"]
    assert db["source_interface_id"] == "eni-app"
    assert db["source_external"] is False
    outside = got["198.51.100.7"]
    assert outside["destination_interface_id"] is None
    assert outside["destination_security_group_ids"] is None
    assert outside["source_external"] is False  # the source is our own ENI
    assert got["10.0.0.40"]["destination_security_group_ids"] == ["sg-cache"]


def test_sorted_by_impact_bytes_then_flows():
    rows = [
        rec(src="203.0.113.1", bytes_=10),
        rec(src="203.0.113.2", bytes_=500),
        rec(src="203.0.113.3", bytes_=60),
        rec(src="203.0.113.3", bytes_=40),  # 100 bytes, 2 flows
        rec(src="203.0.113.4", bytes_=100),  # 100 bytes, 1 flow
    ]
    result = aggregate_rejected(table(rows))
    assert result["srcaddr"].to_pylist() == [
        "203.0.113.2",
        "203.0.113.3",
        "203.0.113.4",
        "203.0.113.1",
    ]
    assert result["impact_rank"].to_pylist() == [1, 2, 3, 4]


def test_plain_and_dictionary_strings_and_merge_of_parts():
    rows = [
        rec(
            src=f"203.0.113.{i % 7}",
            dstport=[22, 443, 3389][i % 3],
            bytes_=i * 13 % 97,
            start=T0 + i * 37 % 900,
            eni=["eni-web", "eni-db"][i % 2],
            sgs=[("sg-web",), (), None][i % 3],
        )
        for i in range(120)
    ]
    dictionary = aggregate_rejected(table(rows))
    assert aggregate_rejected(table(rows, dictionary=False)).equals(dictionary)
    parts = [aggregate_rejected(table(rows[:50])), aggregate_rejected(table(rows[50:]))]
    assert merge_rejected(parts).equals(dictionary)
    assert merge_rejected([]).num_rows == 0
    lists = dictionary["destination_security_group_ids"].to_pylist()
    assert [] in lists and None in lists and ["sg-web"] in lists
    windowed = aggregate_rejected(table(rows), windows=[at(5)])
    assert set(windowed["window_start"].to_pylist()) == {at(5)}


def test_from_parsed_and_enriched_flow_logs():
    enis = [
        Eni("eni-0a", "10.0.0.1", "vpc-1", "subnet-1", "i-1"),
        Eni("eni-0b", "10.0.0.2", "vpc-1", "subnet-1", "i-2"),
    ]
    parsed = read_flow_log(flow_log_gzip(sample_records("111111111111", enis, T0, 400, seed=3)))
    inventory = pa.table(
        {
            "interface_id": ["eni-0a", "eni-0b"],
            "instance_id": ["i-1", "i-2"],
            "subnet_id": ["subnet-1", "subnet-1"],
            "vpc_id": ["vpc-1", "vpc-1"],
            "security_group_ids": [["sg-1"], ["sg-1", "sg-2"]],
            "availability_zone": ["a", "a"],
            "owner_account_id": ["111111111111"] * 2,
            "name": ["a", "b"],
            "private_ips": [["10.0.0.1"], ["10.0.0.2"]],
            "public_ips": [[], []],
        }
    )
    enriched = pa.Table.from_batches(
        [E.enrich_batch(b, inventory, {"111111111111"}).batch for b in parsed.to_batches()]
    )
    result = aggregate_rejected(enriched)
    rejected = pc.equal(enriched["action"].cast(pa.string()), "REJECT")
    assert pc.sum(result["flows"]).as_py() == pc.sum(rejected.cast(pa.int64())).as_py()
    assert pc.sum(result["bytes"]).as_py() == pc.sum(enriched.filter(rejected)["bytes"]).as_py()
    for row in result.to_pylist():
        if row["destination_interface_id"] == "eni-0b":
            assert row["destination_security_group_ids"] == ["sg-1", "sg-2"]
            assert row["destination_instance_id"] == "i-2"
        if row["srcaddr"] in ("203.0.113.10", "198.51.100.7"):
            assert row["source_external"] is True
