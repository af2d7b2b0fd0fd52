"""Network topology of a location as of a time (tables ``topology_nodes`` / ``topology_edges``)
and its picture (a self-contained SVG).

:func:`build_topology` turns the location's inventory records into

* nodes ``{node_id, node_type, name, vpc_id, properties}`` for VPCs, subnets, internet /
  egress-only internet / NAT / VPN / transit gateways, transit-gateway attachments, VPC
  peering connections, VPC endpoints and load balancers. A VPC or transit gateway that some
  resource references but the inventory lacks (the peer VPC of another account, a shared
  transit gateway) becomes a node with ``properties.in_inventory`` false, so every edge ends
  on a node;
* edges ``{source, target, edge_type, destination, properties}``:

  ========================  ===========================================================
  ``in_vpc``                subnet -> VPC, VPC endpoint -> VPC (NAT gateway / load
                            balancer -> VPC only when none of their subnets is known)
  ``in_subnet``             NAT gateway -> subnet, interface endpoint / load balancer ->
                            each of its subnets
  ``attached``              internet / egress-only / VPN gateway -> VPC
  ``route``                 subnet -> route target (gateway, NAT, transit gateway,
                            peering, gateway endpoint), one per route of the subnet's
                            route table, ``destination`` = the route's destination;
                            subnets without an explicit association use the VPC's main
                            route table
  ``tgw_attachment``        VPC -> attachment and attachment -> transit gateway
  ``peering``               requester VPC -> peering connection -> accepter VPC
  ========================  ===========================================================

:func:`render_svg` draws them: VPCs as boxes holding their subnets (NAT gateways inside their
subnet, endpoints and load balancers in the VPC), attached gateways above their VPC,
transit-gateway attachments below it, transit gateways and peerings in bands underneath, lines
for routes, attachments and peerings, and the entities that changed marked with a red outline
and a badge (see the legend). Pure string building, deterministic, no fonts, scripts or links.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from xml.sax.saxutils import escape, quoteattr

from ..inventory.model import ResourceRecord

NODE_TYPES: tuple[str, ...] = (
    "vpc",
    "subnet",
    "internet_gateway",
    "egress_only_internet_gateway",
    "nat_gateway",
    "vpn_gateway",
    "transit_gateway",
    "transit_gateway_attachment",
    "vpc_peering_connection",
    "vpc_endpoint",
    "load_balancer",
)
EDGE_TYPES: tuple[str, ...] = (
    "in_vpc",
    "in_subnet",
    "attached",
    "route",
    "tgw_attachment",
    "peering",
)
_TYPE_ORDER = {t: i for i, t in enumerate(NODE_TYPES)}
# Route target types that are nodes.
_ROUTE_TARGETS = frozenset(
    {
        "internet_gateway",
        "egress_only_internet_gateway",
        "nat_gateway",
        "vpn_gateway",
        "transit_gateway",
        "vpc_peering_connection",
        "vpc_endpoint",
    }
)


def _props(data: Mapping, *names: str) -> dict:
    return {n: data.get(n) for n in names if data.get(n) not in (None, [], {})}


def _node(node_id: str, node_type: str, data: Mapping, vpc_id: str | None, props: dict) -> dict:
    return {
        "node_id": node_id,
        "node_type": node_type,
        "name": data.get("name") or node_id,
        "vpc_id": vpc_id,
        "properties": {"in_inventory": True, **props},
    }


def build_topology(records: Iterable[ResourceRecord]) -> tuple[list[dict], list[dict]]:
    """Inventory records of one location -> (nodes, edges), both sorted (see the module doc)."""
    by_type: dict[str, list[dict]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.resource_type, r.resource_id)):
        by_type[record.resource_type].append(record.data)
    nodes: dict[str, dict] = {}
    edges: dict[tuple, dict] = {}

    def add_edge(source, target, edge_type, destination=None, **properties) -> None:
        if source in nodes and target in nodes and source != target:
            key = (source, target, edge_type, destination)
            edges.setdefault(
                key,
                {
                    "source": source,
                    "target": target,
                    "edge_type": edge_type,
                    "destination": destination,
                    "properties": {k: v for k, v in properties.items() if v is not None},
                },
            )

    def placeholder(node_id: str | None, node_type: str, **props) -> None:
        if node_id and node_id not in nodes:
            nodes[node_id] = {
                "node_id": node_id,
                "node_type": node_type,
                "name": node_id,
                "vpc_id": node_id if node_type == "vpc" else None,
                "properties": {"in_inventory": False, **{k: v for k, v in props.items() if v}},
            }

    # -- nodes ---------------------------------------------------------------------------------
    for d in by_type["vpc"]:
        nodes[d["vpc_id"]] = _node(
            d["vpc_id"],
            "vpc",
            d,
            d["vpc_id"],
            _props(d, "cidr_block", "state", "is_default", "owner_id")
            | {"cidr_blocks": [a["cidr_block"] for a in d.get("cidr_block_associations") or ()]},
        )
    public_subnets = _public_subnets(by_type)
    for d in by_type["subnet"]:
        nodes[d["subnet_id"]] = _node(
            d["subnet_id"],
            "subnet",
            d,
            d.get("vpc_id"),
            _props(d, "cidr_block", "availability_zone", "state", "map_public_ip_on_launch")
            | {"public": d["subnet_id"] in public_subnets},
        )
    for node_type, id_field in (
        ("internet_gateway", "internet_gateway_id"),
        ("egress_only_internet_gateway", "egress_only_internet_gateway_id"),
    ):
        for d in by_type[node_type]:
            attachments = d.get("attachments") or []
            nodes[d[id_field]] = _node(
                d[id_field],
                node_type,
                d,
                d.get("vpc_id"),
                {
                    "attached_vpc_ids": [a["vpc_id"] for a in attachments],
                    "owner_id": d.get("owner_id"),
                },
            )
    for d in by_type["vpn_gateway"]:
        nodes[d["vpn_gateway_id"]] = _node(
            d["vpn_gateway_id"],
            "vpn_gateway",
            d,
            d.get("vpc_id"),
            _props(d, "state", "type", "amazon_side_asn")
            | {"attached_vpc_ids": [a["vpc_id"] for a in d.get("vpc_attachments") or ()]},
        )
    for d in by_type["nat_gateway"]:
        nodes[d["nat_gateway_id"]] = _node(
            d["nat_gateway_id"],
            "nat_gateway",
            d,
            d.get("vpc_id"),
            _props(d, "subnet_id", "connectivity_type", "state", "public_ips", "private_ips"),
        )
    for d in by_type["transit_gateway"]:
        options = d.get("options") or {}
        nodes[d["transit_gateway_id"]] = _node(
            d["transit_gateway_id"],
            "transit_gateway",
            d,
            None,
            _props(d, "state", "owner_id") | _props(options, "amazon_side_asn"),
        )
    for d in by_type["transit_gateway_attachment"]:
        nodes[d["transit_gateway_attachment_id"]] = _node(
            d["transit_gateway_attachment_id"],
            "transit_gateway_attachment",
            d,
            d.get("vpc_id"),
            _props(d, "transit_gateway_id", "resource_type", "resource_id", "state"),
        )
    for d in by_type["vpc_peering_connection"]:
        nodes[d["vpc_peering_connection_id"]] = _node(
            d["vpc_peering_connection_id"],
            "vpc_peering_connection",
            d,
            None,
            _props(
                d,
                "status",
                "requester_vpc_id",
                "requester_owner_id",
                "requester_region",
                "requester_cidr_block",
                "accepter_vpc_id",
                "accepter_owner_id",
                "accepter_region",
                "accepter_cidr_block",
            ),
        )
    for d in by_type["vpc_endpoint"]:
        nodes[d["vpc_endpoint_id"]] = _node(
            d["vpc_endpoint_id"],
            "vpc_endpoint",
            d,
            d.get("vpc_id"),
            _props(d, "service_name", "vpc_endpoint_type", "state", "subnet_ids"),
        )
    for d in by_type["load_balancer"]:
        nodes[d["load_balancer_arn"]] = _node(
            d["load_balancer_arn"],
            "load_balancer",
            d,
            d.get("vpc_id"),
            _props(d, "type", "scheme", "state", "dns_name", "subnet_ids"),
        )
    # Referenced but not inventoried: VPCs (peers, other accounts) and transit gateways.
    for node in list(nodes.values()):
        if node["vpc_id"]:
            placeholder(node["vpc_id"], "vpc")
    for d in by_type["vpc_peering_connection"]:
        placeholder(
            d.get("requester_vpc_id"),
            "vpc",
            owner_id=d.get("requester_owner_id"),
            region=d.get("requester_region"),
            cidr_block=d.get("requester_cidr_block"),
        )
        placeholder(
            d.get("accepter_vpc_id"),
            "vpc",
            owner_id=d.get("accepter_owner_id"),
            region=d.get("accepter_region"),
            cidr_block=d.get("accepter_cidr_block"),
        )
    for d in by_type["transit_gateway_attachment"]:
        placeholder(
            d.get("transit_gateway_id"),
            "transit_gateway",
            owner_id=d.get("transit_gateway_owner_id"),
        )

    # -- edges ---------------------------------------------------------------------------------
    for d in by_type["subnet"]:
        add_edge(d["subnet_id"], d.get("vpc_id"), "in_vpc")
    for node_type, id_field, attachments_field in (
        ("internet_gateway", "internet_gateway_id", "attachments"),
        ("egress_only_internet_gateway", "egress_only_internet_gateway_id", "attachments"),
        ("vpn_gateway", "vpn_gateway_id", "vpc_attachments"),
    ):
        for d in by_type[node_type]:
            for a in d.get(attachments_field) or ():
                if a.get("state") != "detached":
                    add_edge(d[id_field], a.get("vpc_id"), "attached", state=a.get("state"))
    for d in by_type["nat_gateway"]:
        if d.get("subnet_id") in nodes:
            add_edge(d["nat_gateway_id"], d["subnet_id"], "in_subnet")
        else:
            add_edge(d["nat_gateway_id"], d.get("vpc_id"), "in_vpc")
    for d in by_type["vpc_endpoint"]:
        add_edge(d["vpc_endpoint_id"], d.get("vpc_id"), "in_vpc")
        for subnet_id in d.get("subnet_ids") or ():
            add_edge(d["vpc_endpoint_id"], subnet_id, "in_subnet")
    for d in by_type["load_balancer"]:
        subnets = [s for s in d.get("subnet_ids") or () if s in nodes]
        for subnet_id in subnets:
            add_edge(d["load_balancer_arn"], subnet_id, "in_subnet")
        if not subnets:
            add_edge(d["load_balancer_arn"], d.get("vpc_id"), "in_vpc")
    for d in by_type["transit_gateway_attachment"]:
        attachment_id = d["transit_gateway_attachment_id"]
        add_edge(d.get("vpc_id"), attachment_id, "tgw_attachment", state=d.get("state"))
        add_edge(attachment_id, d.get("transit_gateway_id"), "tgw_attachment", state=d.get("state"))
    for d in by_type["vpc_peering_connection"]:
        pcx = d["vpc_peering_connection_id"]
        add_edge(
            d.get("requester_vpc_id"), pcx, "peering", role="requester", status=d.get("status")
        )
        add_edge(pcx, d.get("accepter_vpc_id"), "peering", role="accepter", status=d.get("status"))
    for subnet_id, table, implicit in _subnet_route_tables(by_type, nodes):
        for route in table.get("routes") or ():
            if route.get("target_type") not in _ROUTE_TARGETS:
                continue
            add_edge(
                subnet_id,
                route.get("target_id"),
                "route",
                route.get("destination"),
                route_table_id=table.get("route_table_id"),
                state=route.get("state"),
                main_route_table=True if implicit else None,
            )

    node_list = sorted(nodes.values(), key=lambda n: (_TYPE_ORDER[n["node_type"]], n["node_id"]))
    edge_list = sorted(
        edges.values(),
        key=lambda e: (e["source"], e["target"], e["edge_type"], e["destination"] or ""),
    )
    return node_list, edge_list


def _subnet_route_tables(by_type: Mapping[str, list[dict]], nodes: Mapping[str, dict]):
    """(subnet id, its route table, implicitly through the main table?) for every subnet."""
    explicit: dict[str, dict] = {}
    main_by_vpc: dict[str, dict] = {}
    for table in by_type["route_table"]:
        for subnet_id in table.get("subnet_ids") or ():
            explicit[subnet_id] = table
        if table.get("main") and table.get("vpc_id"):
            main_by_vpc[table["vpc_id"]] = table
    out = []
    for node in nodes.values():
        if node["node_type"] != "subnet":
            continue
        subnet_id = node["node_id"]
        if subnet_id in explicit:
            out.append((subnet_id, explicit[subnet_id], False))
        elif node["vpc_id"] in main_by_vpc:
            out.append((subnet_id, main_by_vpc[node["vpc_id"]], True))
    return sorted(out, key=lambda item: item[0])


def _public_subnets(by_type: Mapping[str, list[dict]]) -> set[str]:
    """Subnets whose route table sends a default route to an internet gateway."""
    subnets_by_vpc: dict[str | None, set[str]] = defaultdict(set)
    for d in by_type["subnet"]:
        subnets_by_vpc[d.get("vpc_id")].add(d["subnet_id"])
    explicit = {s for t in by_type["route_table"] for s in t.get("subnet_ids") or ()}
    public: set[str] = set()
    for table in by_type["route_table"]:
        if not any(
            r.get("target_type") == "internet_gateway"
            and r.get("destination") in ("0.0.0.0/0", "::/0")
            and r.get("state") != "blackhole"
            for r in table.get("routes") or ()
        ):
            continue
        public.update(table.get("subnet_ids") or ())
        if table.get("main"):
            public |= subnets_by_vpc.get(table.get("vpc_id"), set()) - explicit
    return public


def changed_node_ids(changes: Iterable[Mapping], records: Iterable[ResourceRecord]) -> set[str]:
    """The topology nodes to mark for config-change events (e.g. those of the last window):
    the changed resource when it is a node; for a route table or network ACL its subnets; for
    an ENI or instance the subnet it is in."""
    records = list(records)
    index = {(r.resource_type, r.resource_id): r.data for r in records}
    node_types = set(NODE_TYPES)
    marked: set[str] = set()
    for change in changes:
        resource_type, resource_id = change["resource_type"], change["resource_id"]
        data = index.get((resource_type, resource_id)) or {}
        if resource_type in node_types:
            marked.add(resource_id)
        elif resource_type in ("route_table", "network_acl"):
            marked.update(data.get("subnet_ids") or ())
            for field in change.get("changed_fields") or ():
                for side in ("before", "after"):
                    value = field.get(side)
                    if isinstance(value, Mapping) and value.get("subnet_id"):
                        marked.add(value["subnet_id"])
        elif resource_type in ("network_interface", "instance") and data.get("subnet_id"):
            marked.add(data["subnet_id"])
    return marked


# ---------------------------------------------------------------------------------------------
# SVG

_STYLE: dict[str, tuple[str, str, str]] = {  # node type -> (fill, stroke, label)
    "vpc": ("#f5f8fc", "#1f5fa8", "VPC"),
    "subnet": ("#eef2f7", "#5f7c99", "Private subnet"),
    "subnet_public": ("#e7f4ea", "#2e7d32", "Public subnet"),
    "internet_gateway": ("#fff3e0", "#e07b00", "Internet gateway"),
    "egress_only_internet_gateway": ("#fff8ec", "#b86e00", "Egress-only IGW"),
    "nat_gateway": ("#fcebf2", "#ad3a68", "NAT gateway"),
    "vpn_gateway": ("#efeafd", "#5b3fb3", "VPN gateway"),
    "transit_gateway": ("#e6f6f7", "#13808a", "Transit gateway"),
    "transit_gateway_attachment": ("#f2fafb", "#13808a", "TGW attachment"),
    "vpc_peering_connection": ("#f3f3f3", "#555555", "VPC peering"),
    "vpc_endpoint": ("#fffbe6", "#9a7d00", "VPC endpoint"),
    "load_balancer": ("#eaf3ff", "#2b6cb0", "Load balancer"),
}
_EDGE_STYLE: dict[str, tuple[str, str, str]] = {  # kind -> (stroke, dasharray, label)
    "route": ("#7a8899", "", "route"),
    "blackhole": ("#e07b00", "6 4", "blackhole route"),
    "attached": ("#e07b00", "", "gateway attachment"),
    "tgw_attachment": ("#13808a", "", "transit gateway attachment"),
    "peering": ("#555555", "8 3 2 3", "VPC peering"),
    "in_subnet": ("#2b6cb0", "2 3", "load balancer / endpoint subnet"),
}
CHANGED = "#d62728"
_FONT = "Helvetica, Arial, sans-serif"
_CHAR_W = 6.2  # average glyph width at 11px, for truncation

_CHIP_W, _CHIP_H = 196, 40
_SUBNET_W = 212
_GAP, _PAD, _MARGIN = 14, 14, 24
_VPC_HEADER = 46
_MAX_ROW_WIDTH = 2400  # VPC columns wrap into a new row beyond this width
_NAT_H = 30


def _fit(text: str, width: int, size: int = 11) -> str:
    limit = max(3, int(width / (_CHAR_W * size / 11)))
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _short_id(node_id: str) -> str:
    """A load balancer ARN -> its type/name/id tail; others as they are."""
    if ":loadbalancer/" in node_id:
        return node_id.split(":loadbalancer/", 1)[1]
    return node_id


class _Box:
    __slots__ = ("x", "y", "w", "h")

    def __init__(self, x: int, y: int, w: int, h: int):
        self.x, self.y, self.w, self.h = x, y, w, h

    @property
    def cx(self) -> int:
        return self.x + self.w // 2

    @property
    def cy(self) -> int:
        return self.y + self.h // 2

    @property
    def bottom(self) -> int:
        return self.y + self.h

    @property
    def right(self) -> int:
        return self.x + self.w


def _tooltip(node: Mapping) -> str:
    lines = [f"{node['node_type']} {node['node_id']}"]
    if node.get("name") and node["name"] != node["node_id"]:
        lines.append(f"name: {node['name']}")
    for key in sorted(node.get("properties") or {}):
        value = node["properties"][key]
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        lines.append(f"{key}: {text}")
    return "\n".join(lines)


def _sort_key(node: Mapping) -> tuple:
    return (str(node.get("name") or ""), node["node_id"])


def render_svg(
    nodes: list[dict],
    edges: list[dict],
    changed: Iterable[str] = frozenset(),
    title: str = "",
) -> str:
    """The topology as a standalone SVG document (text). `changed`: node ids to mark."""
    changed_ids = set(changed)
    by_id = {n["node_id"]: n for n in nodes}
    by_type: dict[str, list[dict]] = defaultdict(list)
    for node in sorted(nodes, key=_sort_key):
        by_type[node["node_type"]].append(node)

    vpcs = sorted(
        by_type["vpc"],
        key=lambda n: (not n["properties"].get("in_inventory", True), *_sort_key(n)),
    )
    subnet_of_nat = {
        e["source"]: e["target"]
        for e in edges
        if e["edge_type"] == "in_subnet"
        and by_id.get(e["source"], {}).get("node_type") == "nat_gateway"
    }

    def in_vpc(node_type: str, vpc_id: str) -> list[dict]:
        return [n for n in by_type[node_type] if n.get("vpc_id") == vpc_id]

    boxes: dict[str, _Box] = {}
    drawn: set[str] = set()
    body: list[str] = []  # VPC boxes (background)
    front: list[str] = []  # subnets and chips (over the lines)

    gateway_types = ("internet_gateway", "egress_only_internet_gateway", "vpn_gateway")
    top = _MARGIN + (46 if title else 16)

    # -- VPC columns, wrapped into rows ----------------------------------------------------------
    columns: list[tuple[dict, int, list, list, list, list, list]] = []
    for vpc in vpcs:
        vid = vpc["node_id"]
        subnets = sorted(
            in_vpc("subnet", vid),
            key=lambda n: (str(n["properties"].get("availability_zone") or ""), *_sort_key(n)),
        )
        nats = in_vpc("nat_gateway", vid)
        loose_nats = [n for n in nats if subnet_of_nat.get(n["node_id"]) not in by_id]
        services = loose_nats + in_vpc("vpc_endpoint", vid) + in_vpc("load_balancer", vid)
        gateways = [n for t in gateway_types for n in in_vpc(t, vid)]
        attachments = in_vpc("transit_gateway_attachment", vid)
        count = max(len(subnets), len(services))
        cols = 1 if count <= 1 else 2 if count <= 4 else 3
        width = max(
            cols * _SUBNET_W + (cols - 1) * _GAP + 2 * _PAD,
            len(gateways) * (_CHIP_W + _GAP) - _GAP,
            len(attachments) * (_CHIP_W + _GAP) - _GAP,
            260,
        )
        columns.append((vpc, width, subnets, services, nats, gateways, attachments))
    rows: list[list] = []
    for column in columns:
        used = sum(c[1] + 3 * _GAP for c in rows[-1]) if rows else 0
        if not rows or used + column[1] > _MAX_ROW_WIDTH:
            rows.append([])
        rows[-1].append(column)

    y = top
    for row in rows:
        any_gateways = any(c[5] for c in row)
        vpc_y = y + (_CHIP_H + 34 if any_gateways else 0)
        vpc_bottom = vpc_y
        vx = _MARGIN
        for vpc, width, subnets, services, nats, gateways, _attachments in row:
            vid = vpc["node_id"]
            cols = min(3, max(1, (width - 2 * _PAD + _GAP) // (_SUBNET_W + _GAP)))
            cy = vpc_y + _VPC_HEADER
            nat_in = defaultdict(list)
            for n in nats:
                if subnet_of_nat.get(n["node_id"]) in by_id:
                    nat_in[subnet_of_nat[n["node_id"]]].append(n)
            # subnets, row by row (a row is as tall as its tallest subnet)
            for start in range(0, len(subnets), cols):
                line = subnets[start : start + cols]
                height = 52 + max(len(nat_in[s["node_id"]]) for s in line) * (_NAT_H + 6)
                for i, subnet in enumerate(line):
                    box = _Box(vx + _PAD + i * (_SUBNET_W + _GAP), cy, _SUBNET_W, height)
                    boxes[subnet["node_id"]] = box
                    front.append(_subnet_svg(subnet, box, subnet["node_id"] in changed_ids))
                    drawn.add(subnet["node_id"])
                    for j, nat in enumerate(nat_in[subnet["node_id"]]):
                        chip = _Box(box.x + 8, box.y + 46 + j * (_NAT_H + 6), box.w - 16, _NAT_H)
                        boxes[nat["node_id"]] = chip
                        front.append(
                            _chip_svg(nat, chip, nat["node_id"] in changed_ids, compact=True)
                        )
                        drawn.add(nat["node_id"])
                cy += height + _GAP
            for start in range(0, len(services), cols):
                for i, node in enumerate(services[start : start + cols]):
                    chip = _Box(vx + _PAD + i * (_SUBNET_W + _GAP), cy, _SUBNET_W, _CHIP_H)
                    boxes[node["node_id"]] = chip
                    front.append(_chip_svg(node, chip, node["node_id"] in changed_ids))
                    drawn.add(node["node_id"])
                cy += _CHIP_H + _GAP
            height = max(cy - vpc_y + _PAD - _GAP, _VPC_HEADER + 30)
            boxes[vid] = _Box(vx, vpc_y, width, height)
            body.append(_vpc_svg(vpc, boxes[vid], vid in changed_ids))
            drawn.add(vid)
            vpc_bottom = max(vpc_bottom, vpc_y + height)
            for i, gw in enumerate(gateways):
                boxes[gw["node_id"]] = _Box(vx + i * (_CHIP_W + _GAP), y, _CHIP_W, _CHIP_H)
            vx += width + 3 * _GAP
        y = vpc_bottom + 34
        if any(c[6] for c in row):  # transit-gateway attachments under their VPC
            vx = _MARGIN
            for _vpc, width, *_rest, attachments in row:
                for i, node in enumerate(attachments):
                    boxes[node["node_id"]] = _Box(vx + i * (_CHIP_W + _GAP), y, _CHIP_W, _CHIP_H)
                vx += width + 3 * _GAP
            y += _CHIP_H + 50

    # -- bands below the VPCs: transit gateways, peerings, anything else ---------------------------
    def band(band_nodes: list[dict], y: int) -> int:
        """Place nodes in a row, each as near as possible to the mean x of its neighbours."""
        if not band_nodes:
            return y
        wanted = []
        for node in band_nodes:
            xs = [
                boxes[other].cx
                for e in edges
                for other in ((e["target"],) if e["source"] == node["node_id"] else ())
                + ((e["source"],) if e["target"] == node["node_id"] else ())
                if other in boxes
            ]
            wanted.append((sum(xs) // len(xs) if xs else 0, node["node_id"], node))
        cursor = _MARGIN
        for want, _, node in sorted(wanted, key=lambda w: (w[0], w[1])):
            bx = max(cursor, want - _CHIP_W // 2)
            boxes[node["node_id"]] = _Box(bx, y, _CHIP_W, _CHIP_H)
            cursor = bx + _CHIP_W + _GAP
        return y + _CHIP_H + 44

    y = band(by_type["transit_gateway"], y)
    y = band(by_type["vpc_peering_connection"], y)
    y = band(
        [
            n
            for n in sorted(
                nodes, key=lambda n: (_TYPE_ORDER.get(n["node_type"], 99), n["node_id"])
            )
            if n["node_id"] not in boxes
        ],
        y,
    )
    for node_id in sorted(boxes):  # gateways, attachments and the bands
        if node_id not in drawn:
            front.append(_chip_svg(by_id[node_id], boxes[node_id], node_id in changed_ids))

    lines = _edges_svg(edges, by_id, boxes)
    legend, legend_height = _legend_svg(nodes, edges, changed_ids, _MARGIN, y)
    width = max([b.right for b in boxes.values()] + [_MARGIN + 840]) + _MARGIN
    height = y + legend_height + _MARGIN
    head = []
    if title:
        head.append(
            f'<text x="{_MARGIN}" y="{_MARGIN + 14}" font-size="16" font-weight="bold" '
            f'fill="#1b2733">{escape(_fit(title, width - 2 * _MARGIN, 16))}</text>'
        )
    n_vpcs = sum(1 for v in vpcs if v["properties"].get("in_inventory", True))
    summary = (
        f"{n_vpcs} VPC{'s' if n_vpcs != 1 else ''} \u00b7 {len(by_type['subnet'])} subnets \u00b7 "
        f"{len(nodes)} nodes \u00b7 {len(edges)} edges \u00b7 "
        f"{len(changed_ids & set(by_id))} changed"
    )
    head.append(
        f'<text x="{_MARGIN}" y="{_MARGIN + (34 if title else 4)}" fill="#5a6675">{escape(summary)}</text>'
    )
    if not nodes:
        head.append(
            f'<text x="{_MARGIN}" y="{top + 20}" fill="#5a6675">No network resources.</text>'
        )
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="{_FONT}" '
        f'font-size="11">',
        f"<title>{escape(title or 'Network topology')}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        *head,
        '<g class="vpcs">',
        *body,
        "</g>",
        '<g class="edges" fill="none">',
        *lines,
        "</g>",
        '<g class="nodes">',
        *front,
        "</g>",
        *legend,
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def _node_open(node: Mapping, changed: bool) -> str:
    classes = "node changed" if changed else "node"
    return (
        f'<g class="{classes}" data-node-id={quoteattr(node["node_id"])} '
        f'data-node-type="{node["node_type"]}">'
        f"<title>{escape(_tooltip(node))}</title>"
    )


def _badge(box: _Box) -> str:
    x, y = box.right - 2, box.y + 2
    return (
        f'<circle cx="{x}" cy="{y}" r="7" fill="{CHANGED}"/>'
        f'<text x="{x}" y="{y + 4}" text-anchor="middle" font-size="10" font-weight="bold" '
        f'fill="#ffffff">!</text>'
    )


def _rect(
    box: _Box, fill: str, stroke: str, changed: bool, rx: int = 6, dashed: bool = False
) -> str:
    stroke_color = CHANGED if changed else stroke
    width = 3 if changed else 1.5
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    return (
        f'<rect x="{box.x}" y="{box.y}" width="{box.w}" height="{box.h}" rx="{rx}" '
        f'fill="{fill}" stroke="{stroke_color}" stroke-width="{width}"{dash}/>'
    )


def _vpc_svg(node: Mapping, box: _Box, changed: bool) -> str:
    fill, stroke, label = _STYLE["vpc"]
    props = node.get("properties") or {}
    external = not props.get("in_inventory", True)
    name = node["name"] if node["name"] != node["node_id"] else ""
    header = f"{label} {name}".strip()
    detail = " \u00b7 ".join(
        x
        for x in (
            node["node_id"],
            props.get("cidr_block"),
            props.get("owner_id") if external else None,
            "not in inventory" if external else None,
        )
        if x
    )
    return (
        _node_open(node, changed)
        + _rect(box, "#fafafa" if external else fill, stroke, changed, rx=10, dashed=external)
        + f'<text x="{box.x + _PAD}" y="{box.y + 20}" font-size="13" font-weight="bold" '
        f'fill="{stroke}">{escape(_fit(header, box.w - 2 * _PAD, 13))}</text>'
        + f'<text x="{box.x + _PAD}" y="{box.y + 36}" fill="#4a5562">'
        f"{escape(_fit(detail, box.w - 2 * _PAD))}</text>"
        + (_badge(box) if changed else "")
        + "</g>"
    )


def _subnet_svg(node: Mapping, box: _Box, changed: bool) -> str:
    props = node.get("properties") or {}
    fill, stroke, label = _STYLE["subnet_public" if props.get("public") else "subnet"]
    name = node["name"] if node["name"] != node["node_id"] else ""
    detail = " \u00b7 ".join(
        str(x) for x in (props.get("cidr_block"), props.get("availability_zone")) if x
    )
    return (
        _node_open(node, changed)
        + _rect(box, fill, stroke, changed)
        + f'<text x="{box.x + 8}" y="{box.y + 15}" font-weight="bold" fill="{stroke}">'
        f"{escape(_fit(f'{label} {name}'.strip(), box.w - 16))}</text>"
        + f'<text x="{box.x + 8}" y="{box.y + 29}" fill="#4a5562">'
        f"{escape(_fit(node['node_id'], box.w - 16))}</text>"
        + f'<text x="{box.x + 8}" y="{box.y + 42}" fill="#4a5562">'
        f"{escape(_fit(detail, box.w - 16))}</text>" + (_badge(box) if changed else "") + "</g>"
    )


def _chip_svg(node: Mapping, box: _Box, changed: bool, compact: bool = False) -> str:
    fill, stroke, label = _STYLE.get(node["node_type"], ("#ffffff", "#555555", node["node_type"]))
    props = node.get("properties") or {}
    external = not props.get("in_inventory", True)
    name = node["name"] if node["name"] != node["node_id"] else ""
    first = f"{label}: {name}" if name else label
    second = _short_id(node["node_id"])
    if compact:
        text = (
            f'<text x="{box.x + 6}" y="{box.y + 13}" font-size="10" font-weight="bold" '
            f'fill="{stroke}">{escape(_fit(first, box.w - 12, 10))}</text>'
            f'<text x="{box.x + 6}" y="{box.y + 25}" font-size="10" fill="#4a5562">'
            f"{escape(_fit(second, box.w - 12, 10))}</text>"
        )
    else:
        text = (
            f'<text x="{box.x + 8}" y="{box.y + 16}" font-weight="bold" fill="{stroke}">'
            f"{escape(_fit(first, box.w - 16))}</text>"
            f'<text x="{box.x + 8}" y="{box.y + 31}" fill="#4a5562">'
            f"{escape(_fit(second, box.w - 16))}</text>"
        )
    return (
        _node_open(node, changed)
        + _rect(box, "#fafafa" if external else fill, stroke, changed, dashed=external)
        + text
        + (_badge(box) if changed else "")
        + "</g>"
    )


def _anchor(box: _Box, toward: _Box, is_vpc: bool) -> tuple[int, int]:
    """Where a line toward another box leaves a box: a VPC's edge (top or bottom, at the
    other box's x when it can), else the centre (lines pass under the opaque nodes)."""
    if is_vpc:
        x = min(max(toward.cx, box.x + 10), box.right - 10)
        if toward.cy < box.y:
            return x, box.y
        if toward.cy > box.bottom:
            return x, box.bottom
        return (box.x, box.cy) if toward.cx < box.x else (box.right, box.cy)
    return box.cx, box.cy


def _edges_svg(
    edges: list[dict], by_id: Mapping[str, dict], boxes: Mapping[str, _Box]
) -> list[str]:
    """One line per (source, target, kind); containment (in_vpc, NAT in subnet) is drawn by
    nesting instead."""
    # A subnet's route to a transit gateway is drawn to its VPC's attachment of that gateway
    # (then attachment -> gateway), not across the picture.
    attachment_of = {
        (n.get("vpc_id"), (n.get("properties") or {}).get("transit_gateway_id")): n["node_id"]
        for n in sorted(by_id.values(), key=lambda n: n["node_id"], reverse=True)
        if n["node_type"] == "transit_gateway_attachment"
    }
    drawn: dict[tuple[str, str], str] = {}
    for e in edges:
        source, target, edge_type = e["source"], e["target"], e["edge_type"]
        if edge_type == "route" and by_id.get(target, {}).get("node_type") == "transit_gateway":
            target = attachment_of.get((by_id[source].get("vpc_id"), target), target)
        if source not in boxes or target not in boxes or edge_type == "in_vpc":
            continue
        source_type = by_id[source]["node_type"]
        if edge_type == "in_subnet" and source_type == "nat_gateway":
            continue
        if edge_type == "route":
            kind = (
                "blackhole" if (e.get("properties") or {}).get("state") == "blackhole" else "route"
            )
            if drawn.get((source, target)) == "route":
                continue  # one active route is enough to draw the link
        else:
            kind = edge_type
        drawn[(source, target)] = kind
    out = []
    for (source, target), kind in sorted(drawn.items()):
        stroke, dash, _ = _EDGE_STYLE.get(kind, ("#888888", "", kind))
        a, b = boxes[source], boxes[target]
        x1, y1 = _anchor(a, b, by_id[source]["node_type"] == "vpc")
        x2, y2 = _anchor(b, a, by_id[target]["node_type"] == "vpc")
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        width = 1.2 if kind in ("route", "blackhole", "in_subnet") else 2
        out.append(
            f'<line class="edge {kind}" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" '
            f'stroke="{stroke}" stroke-width="{width}"{dash_attr} stroke-opacity="0.85"/>'
        )
    return out


def _legend_svg(
    nodes: list[dict], edges: list[dict], changed: set[str], x: int, y: int
) -> tuple[list[str], int]:
    present = {n["node_type"] for n in nodes}
    keys = []
    for node_type in NODE_TYPES:
        if node_type == "subnet" and "subnet" in present:
            if any(n["properties"].get("public") for n in nodes if n["node_type"] == "subnet"):
                keys.append("subnet_public")
            keys.append("subnet")
        elif node_type in present:
            keys.append(node_type)
    items: list[str] = []
    cx, cy = x, y + 18
    out = [
        '<g class="legend">',
        f'<text x="{x}" y="{y + 4}" font-weight="bold" fill="#1b2733">Legend</text>',
    ]
    per_row, column = 4, 210
    for i, key in enumerate(keys):
        fill, stroke, label = _STYLE[key]
        ix = cx + (i % per_row) * column
        iy = cy + (i // per_row) * 22
        items.append(
            f'<rect x="{ix}" y="{iy}" width="18" height="12" rx="3" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="1.5"/>'
            f'<text x="{ix + 24}" y="{iy + 10}" fill="#333333">{escape(label)}</text>'
        )
    rows = (len(keys) + per_row - 1) // per_row
    ly = cy + rows * 22
    kinds = []
    for e in edges:
        if e["edge_type"] == "route":
            state = (e.get("properties") or {}).get("state")
            kinds.append("blackhole" if state == "blackhole" else "route")
        elif e["edge_type"] in _EDGE_STYLE:
            kinds.append(e["edge_type"])
    line_kinds = [k for k in _EDGE_STYLE if k in set(kinds)]
    for i, kind in enumerate(line_kinds):
        stroke, dash, label = _EDGE_STYLE[kind]
        ix = cx + (i % per_row) * column
        iy = ly + (i // per_row) * 22
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        items.append(
            f'<line x1="{ix}" y1="{iy + 6}" x2="{ix + 18}" y2="{iy + 6}" stroke="{stroke}" '
            f'stroke-width="2"{dash_attr}/>'
            f'<text x="{ix + 24}" y="{iy + 10}" fill="#333333">{escape(label)}</text>'
        )
    ly += ((len(line_kinds) + per_row - 1) // per_row) * 22
    items.append(
        f'<rect x="{cx}" y="{ly}" width="18" height="12" rx="3" fill="#ffffff" '
        f'stroke="{CHANGED}" stroke-width="3"/>'
        f'<text x="{cx + 24}" y="{ly + 10}" fill="#333333">changed in the last window '
        f"({len(changed & {n['node_id'] for n in nodes})})</text>"
    )
    out += items
    out.append("</g>")
    return out, ly + 22 - y
