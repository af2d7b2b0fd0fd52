"""Network topology of a location as of a time (tables ``topology_nodes`` / ``topology_edges``)
(the picture is drawn by :mod:`.svg`).

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
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from ...inventory.model import ResourceRecord

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
TYPE_ORDER = {t: i for i, t in enumerate(NODE_TYPES)}
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

    node_list = sorted(nodes.values(), key=lambda n: (TYPE_ORDER[n["node_type"]], n["node_id"]))
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
