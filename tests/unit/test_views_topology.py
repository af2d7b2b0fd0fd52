"""Topology nodes and edges from the inventory (the transform fixtures), and its SVG picture:
well-formed, self-contained, deterministic, changed entities marked."""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cloudinsights_dagster.inventory.collectors import COLLECTORS
from cloudinsights_dagster.inventory.model import ResourceRecord
from cloudinsights_dagster.views.topology import (
    EDGE_TYPES,
    NODE_TYPES,
    build_topology,
    changed_node_ids,
    render_svg,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inventory"
SVG = "{http://www.w3.org/2000/svg}"
VPC = "vpc-0a1b2c3d4e5f60001"
PUBLIC = "subnet-0aaa00000000000a1"
PRIVATE = "subnet-0bbb00000000000b1"
ALB = (
    "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/web-alb/50dc6c495c0c9188"
)


def fixture_records() -> list[ResourceRecord]:
    out = []
    for resource_type in sorted(COLLECTORS):
        answer = json.loads((FIXTURES / f"{resource_type}.json").read_text())
        (items,) = [v for v in answer.values() if isinstance(v, list)]
        out += COLLECTORS[resource_type].transform(items)
    return out


@pytest.fixture(scope="module")
def topology():
    return build_topology(fixture_records())


def edge_set(edges) -> set[tuple]:
    return {(e["source"], e["target"], e["edge_type"], e["destination"]) for e in edges}


def test_nodes_from_the_fixtures(topology):
    nodes, _ = topology
    by_id = {n["node_id"]: n for n in nodes}
    assert {n["node_type"] for n in nodes} == set(NODE_TYPES)
    assert by_id[VPC]["name"] == "prod" and by_id[VPC]["properties"]["cidr_block"] == "10.0.0.0/16"
    assert by_id[PUBLIC]["vpc_id"] == VPC and by_id[PUBLIC]["properties"]["public"] is True
    assert by_id[PRIVATE]["properties"]["public"] is False
    assert by_id[ALB]["name"] == "web-alb" and by_id[ALB]["node_type"] == "load_balancer"
    # The peer VPC of another account is referenced, not inventoried.
    peer = by_id["vpc-0peer00000000001"]
    assert peer["node_type"] == "vpc" and peer["properties"]["in_inventory"] is False
    assert peer["properties"]["owner_id"] == "444455556666"
    assert by_id[VPC]["properties"]["in_inventory"] is True
    # Not topology: ENIs, instances, security groups, route tables...
    assert not {"eni-0inst000000000001", "i-0abc00000000000001", "rtb-0pub000000000001"} & set(
        by_id
    )
    for node in nodes:
        assert set(node) == {"node_id", "node_type", "name", "vpc_id", "properties"}
        json.dumps(node["properties"])


def test_edges_from_the_fixtures(topology):
    nodes, edges = topology
    ids = {n["node_id"] for n in nodes}
    assert all(e["source"] in ids and e["target"] in ids for e in edges)
    assert {e["edge_type"] for e in edges} <= set(EDGE_TYPES)
    got = edge_set(edges)
    expected = {
        (PUBLIC, VPC, "in_vpc", None),
        (PRIVATE, VPC, "in_vpc", None),
        ("igw-0igw000000000001", VPC, "attached", None),
        ("eigw-0e1", VPC, "attached", None),
        ("vgw-0vgw000000000001", VPC, "attached", None),
        ("nat-0nat000000000001", PUBLIC, "in_subnet", None),
        # routes: subnet -> target, per destination
        (PUBLIC, "igw-0igw000000000001", "route", "0.0.0.0/0"),
        (PUBLIC, "eigw-0e1", "route", "::/0"),
        (PUBLIC, "tgw-0tgw000000000001", "route", "172.16.0.0/12"),
        (PUBLIC, "pcx-0pcx000000000001", "route", "10.1.0.0/16"),
        (PUBLIC, "vgw-0vgw000000000001", "route", "192.168.0.0/24"),
        (PUBLIC, "vpce-0vpce00000000001", "route", "pl-6da54004"),
        (PRIVATE, "nat-0nat000000000001", "route", "0.0.0.0/0"),
        # transit gateway attachments: vpc <-> attachment <-> tgw
        (VPC, "tgw-attach-0a1", "tgw_attachment", None),
        ("tgw-attach-0a1", "tgw-0tgw000000000001", "tgw_attachment", None),
        ("tgw-attach-0a2", "tgw-0tgw000000000001", "tgw_attachment", None),
        # peering: requester vpc -> pcx -> accepter vpc
        (VPC, "pcx-0pcx000000000001", "peering", None),
        ("pcx-0pcx000000000001", "vpc-0peer00000000001", "peering", None),
        # endpoints and load balancers
        ("vpce-0vpce00000000001", VPC, "in_vpc", None),
        ("vpce-0vpce00000000002", VPC, "in_vpc", None),
        ("vpce-0vpce00000000002", PUBLIC, "in_subnet", None),
        ("vpce-0vpce00000000002", PRIVATE, "in_subnet", None),
        (ALB, PUBLIC, "in_subnet", None),
        (ALB, PRIVATE, "in_subnet", None),
    }
    assert expected <= got
    # No route to `local` or an instance (not nodes); a detached VGW attachment is no edge.
    assert not any(e["destination"] in ("10.0.0.0/16", "192.168.10.0/24") for e in edges)
    assert ("vgw-0vgw000000000001", "vpc-0a1b2c3d4e5f60002", "attached", None) not in got
    blackhole = next(
        e for e in edges if e["target"] == "pcx-0pcx000000000001" and e["edge_type"] == "route"
    )
    assert blackhole["properties"]["state"] == "blackhole"
    assert blackhole["properties"]["route_table_id"] == "rtb-0pub000000000001"


def test_main_route_table_routes_subnets_without_association():
    records = [
        ResourceRecord("vpc", "vpc-1", {"vpc_id": "vpc-1", "name": "one"}),
        ResourceRecord("subnet", "subnet-1", {"subnet_id": "subnet-1", "vpc_id": "vpc-1"}),
        ResourceRecord("subnet", "subnet-2", {"subnet_id": "subnet-2", "vpc_id": "vpc-1"}),
        ResourceRecord(
            "internet_gateway",
            "igw-1",
            {
                "internet_gateway_id": "igw-1",
                "vpc_id": "vpc-1",
                "attachments": [{"key": "vpc-1", "vpc_id": "vpc-1", "state": "available"}],
            },
        ),
        ResourceRecord(
            "route_table",
            "rtb-main",
            {
                "route_table_id": "rtb-main",
                "vpc_id": "vpc-1",
                "main": True,
                "subnet_ids": [],
                "routes": [
                    {
                        "destination": "0.0.0.0/0",
                        "target_type": "internet_gateway",
                        "target_id": "igw-1",
                        "state": "active",
                    }
                ],
            },
        ),
        ResourceRecord(
            "route_table",
            "rtb-2",
            {
                "route_table_id": "rtb-2",
                "vpc_id": "vpc-1",
                "subnet_ids": ["subnet-2"],
                "routes": [],
            },
        ),
    ]
    nodes, edges = build_topology(records)
    routes = [e for e in edges if e["edge_type"] == "route"]
    assert [(e["source"], e["target"], e["destination"]) for e in routes] == [
        ("subnet-1", "igw-1", "0.0.0.0/0")
    ]
    assert routes[0]["properties"]["main_route_table"] is True
    public = {n["node_id"]: n["properties"]["public"] for n in nodes if n["node_type"] == "subnet"}
    assert public == {"subnet-1": True, "subnet-2": False}


def test_deterministic_whatever_the_record_order():
    records = fixture_records()
    nodes, edges = build_topology(records)
    shuffled = list(records)
    random.Random(4).shuffle(shuffled)
    assert build_topology(shuffled) == (nodes, edges)
    changed = {PUBLIC, "igw-0igw000000000001"}
    assert render_svg(nodes, edges, changed, "t") == render_svg(
        *build_topology(shuffled), changed=set(changed), title="t"
    )


def node_groups(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-node-id"): g for g in root.iter(f"{SVG}g") if g.get("data-node-id")}


def test_svg_is_well_formed_self_contained_and_marks_changed_nodes(topology):
    nodes, edges = topology
    changed = {PUBLIC, "igw-0igw000000000001", "tgw-0tgw000000000001", "not-a-node"}
    svg = render_svg(nodes, edges, changed=changed, title="111122223333 eu-west-1 <as of 10:05>")
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == f"{SVG}svg"
    assert int(root.get("width")) > 0 and int(root.get("height")) > 0
    # Self-contained: no scripts, no external references, no font downloads.
    assert "<script" not in svg and "href" not in svg and "@import" not in svg and "url(" not in svg
    groups = node_groups(root)
    assert set(groups) == {n["node_id"] for n in nodes}  # every node drawn once
    marked = {i for i, g in groups.items() if "changed" in g.get("class", "").split()}
    assert marked == changed - {"not-a-node"}
    for node_id in marked:  # red outline
        rect = groups[node_id].find(f"{SVG}rect")
        assert rect.get("stroke") == "#d62728" and rect.get("stroke-width") == "3"
    unmarked = groups[PRIVATE].find(f"{SVG}rect")
    assert unmarked.get("stroke") != "#d62728"
    text = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "changed in the last window (3)" in text
    assert "<as of 10:05>" in text  # escaped in the file, intact once parsed
    assert "Legend" in text and "VPC prod" in text
    # Lines for routes, attachments and peerings, under the nodes.
    lines = list(root.iter(f"{SVG}line"))
    kinds = {k for line in lines for k in (line.get("class") or "").split()}
    assert {"route", "blackhole", "attached", "tgw_attachment", "peering"} <= kinds
    # Subnets are drawn inside their VPC box.
    vpc_rect = groups[VPC].find(f"{SVG}rect")
    sub_rect = groups[PUBLIC].find(f"{SVG}rect")
    vx, vy = float(vpc_rect.get("x")), float(vpc_rect.get("y"))
    vw, vh = float(vpc_rect.get("width")), float(vpc_rect.get("height"))
    sx, sy = float(sub_rect.get("x")), float(sub_rect.get("y"))
    assert vx < sx < vx + vw and vy < sy < vy + vh


def test_svg_of_an_empty_topology_and_odd_names():
    root = ET.fromstring(render_svg([], [], title="").encode())
    assert "No network resources." in " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    records = [
        ResourceRecord("vpc", "vpc-1", {"vpc_id": "vpc-1", "name": 'a & b <"c">'}),
        ResourceRecord(
            "transit_gateway", "tgw-1", {"transit_gateway_id": "tgw-1", "name": "x" * 300}
        ),
    ]
    svg = render_svg(*build_topology(records), changed={"vpc-1"})
    ET.fromstring(svg.encode())


def test_changed_node_ids_maps_changes_to_what_the_picture_shows():
    records = fixture_records()
    changes = [
        {"resource_type": "internet_gateway", "resource_id": "igw-0igw000000000001"},
        {"resource_type": "route_table", "resource_id": "rtb-0prv000000000001"},
        {
            "resource_type": "network_acl",
            "resource_id": "acl-gone",
            "changed_fields": [
                {"path": "associations[x]", "before": {"subnet_id": "subnet-zzz"}, "after": None}
            ],
        },
        {"resource_type": "network_interface", "resource_id": "eni-0inst000000000001"},
        {"resource_type": "security_group", "resource_id": "sg-0web0000000000001"},
    ]
    assert changed_node_ids(changes, records) == {
        "igw-0igw000000000001",
        PRIVATE,
        "subnet-zzz",
        PUBLIC,
    }
