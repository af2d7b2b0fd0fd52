"""Helpers shared by the collectors: pagination and the normalization primitives."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from ..model import ResourceRecord, canonical_json


def fetch_all(
    client: Any, operation: str, result_key: str, token_key: str | None = None, **params: Any
) -> list[dict]:
    """Every item of a list operation: through its boto3 paginator when it has one; otherwise one
    call, followed by further calls on ``token_key`` (``nextToken``...) when the API pages
    without a botocore paginator."""
    if client.can_paginate(operation):
        items: list[dict] = []
        for page in client.get_paginator(operation).paginate(**params):
            items.extend(page.get(result_key) or [])
        return items
    method = getattr(client, operation)
    items = []
    call_params = dict(params)
    while True:
        page = method(**call_params)
        items.extend(page.get(result_key) or [])
        token = page.get(token_key) if token_key else None
        if token_key is None or not token:
            return items
        call_params[token_key] = token


def tags(raw: Iterable[dict] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    """AWS tag list -> {Key: Value}."""
    return {t[key]: t.get(value, "") for t in raw or () if key in t}


def ts(value: Any) -> str | None:
    """A timestamp (datetime or ISO string) -> ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` in UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if value.microsecond else "%Y-%m-%dT%H:%M:%SZ"
        return value.strftime(fmt)
    return str(value)


def s(value: Any) -> Any:
    """Empty strings (as some APIs and moto return for 'no value') -> None."""
    return None if value == "" else value


def _ip_sort_key(value: str) -> tuple:
    address, _, prefix = value.partition("/")
    octets = address.split(".")
    if len(octets) == 4 and all(o.isdigit() and len(o) <= 3 for o in octets):  # fast path: IPv4
        a, b, c, d = (int(o) for o in octets)
        return (0, 4, (a << 24) | (b << 16) | (c << 8) | d, prefix)
    try:
        ip = ipaddress.ip_address(value)
        return (0, ip.version, int(ip), "")
    except ValueError:
        try:
            net = ipaddress.ip_network(value, strict=False)
            return (0, net.version, int(net.network_address), str(net.prefixlen))
        except ValueError:
            return (1, 0, 0, str(value))


def sorted_ips(values: Iterable[Any]) -> list[str]:
    """Distinct IPs/CIDRs in numeric order (then anything unparsable, as text)."""
    return sorted({v for v in values if v}, key=_ip_sort_key)


def sorted_ids(values: Iterable[Any]) -> list[str]:
    """Distinct non-empty ids, sorted."""
    return sorted({v for v in values if v})


def keyed(entries: Iterable[dict]) -> list[dict]:
    """Identity-keyed list: sorted by ``entry["key"]``, one entry per key.

    The diff matches such lists element by element on ``key``. Should an answer hold the same
    identity twice, the entry kept does not depend on the answer's order.
    """
    by_key: dict[str, dict] = {}
    for entry in entries:
        key = entry["key"] = str(entry["key"])
        kept = by_key.get(key)
        if kept is None or canonical_json(entry) < canonical_json(kept):
            by_key[key] = entry
    return [by_key[k] for k in sorted(by_key)]


_CAMEL_1 = re.compile(r"(.)([A-Z][a-z]+)")
_CAMEL_2 = re.compile(r"([a-z0-9])([A-Z])")


def snake(name: str) -> str:
    """CamelCase -> snake_case (``AmazonSideAsn`` -> ``amazon_side_asn``)."""
    return _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", name)).lower()


def snake_dict(value: Any) -> Any:
    """Recursively snake_case the keys of an options-like structure; scalar lists get sorted,
    timestamps become ISO strings."""
    if isinstance(value, dict):
        return {snake(k): snake_dict(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [snake_dict(v) for v in value]
        if all(not isinstance(v, dict | list) for v in items):
            return sorted(items, key=lambda v: (str(type(v)), str(v)))
        return items
    if isinstance(value, datetime):
        return ts(value)
    return value


def policy(document: Any) -> Any:
    """A JSON policy document (string or dict) -> parsed dict, so formatting is never a change."""
    if isinstance(document, str):
        try:
            return json.loads(document)
        except ValueError:
            return document
    return document


PROTOCOLS = {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


def protocol(value: Any) -> str:
    """IP protocol as AWS gives it ('tcp', '6', '-1'...) -> 'tcp'/'udp'/'icmp'/'all'/'50'."""
    text = str(value).lower() if value is not None else "all"
    return PROTOCOLS.get(text, text)


def records(
    resource_type: str,
    items: Iterable[dict],
    id_of: Callable[[dict], str | None],
    build: Callable[[dict], dict],
) -> list[ResourceRecord]:
    """ResourceRecords of one type, sorted by id, one per id."""
    out: dict[str, ResourceRecord] = {}
    for item in items:
        rid = id_of(item)
        if rid:
            out[rid] = ResourceRecord(resource_type, rid, build(item))
    return [out[k] for k in sorted(out)]
