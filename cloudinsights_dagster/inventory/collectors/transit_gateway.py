"""Transit gateways, their attachments and route tables."""

from __future__ import annotations

from typing import Any

from ..model import ResourceRecord
from ._common import fetch_all, records, snake_dict, tags, ts


def get_transit_gateways(client: Any) -> list[dict]:
    return fetch_all(client, "describe_transit_gateways", "TransitGateways")


def _tgw(g: dict) -> dict:
    t = tags(g.get("Tags"))
    return {
        "transit_gateway_id": g["TransitGatewayId"],
        "transit_gateway_arn": g.get("TransitGatewayArn"),
        "owner_id": g.get("OwnerId"),
        "name": t.get("Name"),
        "description": g.get("Description"),
        "state": g.get("State"),
        "creation_time": ts(g.get("CreationTime")),
        "options": snake_dict(g.get("Options") or {}),
        "tags": t,
    }


def transform_transit_gateways(items: list[dict]) -> list[ResourceRecord]:
    return records("transit_gateway", items, lambda g: g.get("TransitGatewayId"), _tgw)


def get_transit_gateway_attachments(client: Any) -> list[dict]:
    return fetch_all(client, "describe_transit_gateway_attachments", "TransitGatewayAttachments")


def _attachment(a: dict) -> dict:
    t = tags(a.get("Tags"))
    association = a.get("Association") or {}
    resource_type = a.get("ResourceType")
    return {
        "transit_gateway_attachment_id": a["TransitGatewayAttachmentId"],
        "transit_gateway_id": a.get("TransitGatewayId"),
        "transit_gateway_owner_id": a.get("TransitGatewayOwnerId"),
        "resource_owner_id": a.get("ResourceOwnerId"),
        "owner_id": a.get("ResourceOwnerId"),
        "name": t.get("Name"),
        "resource_type": resource_type,
        "resource_id": a.get("ResourceId"),
        "vpc_id": a.get("ResourceId") if resource_type == "vpc" else None,
        "state": a.get("State"),
        "association_route_table_id": association.get("TransitGatewayRouteTableId"),
        "association_state": association.get("State"),
        "creation_time": ts(a.get("CreationTime")),
        "tags": t,
    }


def transform_transit_gateway_attachments(items: list[dict]) -> list[ResourceRecord]:
    return records(
        "transit_gateway_attachment",
        items,
        lambda a: a.get("TransitGatewayAttachmentId"),
        _attachment,
    )


def get_transit_gateway_route_tables(client: Any) -> list[dict]:
    return fetch_all(client, "describe_transit_gateway_route_tables", "TransitGatewayRouteTables")


def _route_table(r: dict) -> dict:
    t = tags(r.get("Tags"))
    return {
        "transit_gateway_route_table_id": r["TransitGatewayRouteTableId"],
        "transit_gateway_id": r.get("TransitGatewayId"),
        "name": t.get("Name"),
        "state": r.get("State"),
        "default_association_route_table": r.get("DefaultAssociationRouteTable"),
        "default_propagation_route_table": r.get("DefaultPropagationRouteTable"),
        "creation_time": ts(r.get("CreationTime")),
        "tags": t,
    }


def transform_transit_gateway_route_tables(items: list[dict]) -> list[ResourceRecord]:
    return records(
        "transit_gateway_route_table",
        items,
        lambda r: r.get("TransitGatewayRouteTableId"),
        _route_table,
    )
