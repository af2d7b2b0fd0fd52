"""Topology of a location as of a snapshot, stored as a new version only when it changed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudinsights_dagster.inventory.store import inventory_as_of
from cloudinsights_dagster.warehouse import schema as s

from .graph import build_topology, changed_node_ids
from .svg import render_svg


@dataclass
class TopologyResult:
    location_key: str
    as_of: datetime
    nodes: list[dict]
    edges: list[dict]
    changed: set[str]
    svg: str
    stored_new_version: bool


def _digest(nodes: list[dict], edges: list[dict]) -> str:
    text = json.dumps([nodes, edges], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _latest(session, location_key: str) -> tuple[list[dict], list[dict]]:
    as_of = session.scalar(
        sa.select(sa.func.max(s.TopologyNode.as_of)).where(
            s.TopologyNode.location_key == location_key
        )
    )
    if as_of is None:
        return [], []
    nodes = [
        {
            "node_id": n.node_id,
            "node_type": n.node_type,
            "name": n.name,
            "vpc_id": n.vpc_id,
            "properties": n.properties,
        }
        for n in session.scalars(
            sa.select(s.TopologyNode).where(
                s.TopologyNode.location_key == location_key, s.TopologyNode.as_of == as_of
            )
        )
    ]
    edges = [
        {
            "source": e.source,
            "target": e.target,
            "edge_type": e.edge_type,
            "destination": e.destination,
            "properties": e.properties,
        }
        for e in session.scalars(
            sa.select(s.TopologyEdge).where(
                s.TopologyEdge.location_key == location_key, s.TopologyEdge.as_of == as_of
            )
        )
    ]
    return nodes, edges


def _canonical(nodes: list[dict], edges: list[dict]) -> tuple[list[dict], list[dict]]:
    n = sorted(
        (
            {k: node.get(k) for k in ("node_id", "node_type", "name", "vpc_id", "properties")}
            for node in nodes
        ),
        key=lambda x: str(x["node_id"]),
    )
    e = sorted(
        (
            {k: edge.get(k) for k in ("source", "target", "edge_type", "destination", "properties")}
            for edge in edges
        ),
        key=lambda x: (x["source"], x["target"], x["edge_type"], x["destination"] or ""),
    )
    return n, e


def refresh_topology(session: Session, location_key: str, at: datetime) -> TopologyResult:
    records = inventory_as_of(session, location_key, at)
    changes = [
        {
            "resource_type": c.resource_type,
            "resource_id": c.resource_id,
            "change_type": c.change_type,
            "changed_fields": c.changed_fields,
        }
        for c in session.scalars(
            sa.select(s.ConfigChange).where(
                s.ConfigChange.location_key == location_key, s.ConfigChange.change_time == at
            )
        )
    ]
    nodes, edges = _canonical(*build_topology(records))
    previous = _canonical(*_latest(session, location_key))
    new_version = _digest(nodes, edges) != _digest(*previous)
    if new_version and nodes:
        session.execute(
            sa.insert(s.TopologyNode),
            [{"location_key": location_key, "as_of": at, **n} for n in nodes],
        )
    if new_version and edges:
        session.execute(
            sa.insert(s.TopologyEdge),
            [{"location_key": location_key, "as_of": at, **e} for e in edges],
        )
    changed = changed_node_ids(changes, records)
    svg = render_svg(
        nodes, edges, changed=changed, title=f"{location_key} as of {at:%Y-%m-%d %H:%M} UTC"
    )
    return TopologyResult(location_key, at, nodes, edges, changed, svg, new_version)


def refresh_latest_topology(
    session: Session, location_key: str, at: datetime, folder: Path
) -> TopologyResult | None:
    """If the location has a snapshot at or before `at`: refresh its topology as of its latest
    snapshot and write its picture to `folder/<location>.svg` (rewritten at every tick; pictures
    stay out of Dagster metadata). None for a location without a snapshot yet."""
    latest = session.scalar(
        sa.select(sa.func.max(s.InventorySnapshot.snapshot_time)).where(
            s.InventorySnapshot.location_key == location_key,
            s.InventorySnapshot.snapshot_time <= at,
        )
    )
    if latest is None:
        return None
    result = refresh_topology(session, location_key, latest)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{location_key}.svg").write_text(result.svg)
    return result
