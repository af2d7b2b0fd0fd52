"""Collect the network inventory of one location (AWS account + region).

Every enabled resource type's API is called once (paginated); each call ends ``ok``, ``denied``
or ``failed`` and is recorded as an :class:`ApiOutcome`; a denied or failed call never raises and
never stops the other calls. Retries belong to the client: botocore's standard mode retries
throttling and 5xx with backoff and never retries AccessDenied.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .. import aws
from ..catalog import RESOURCE_GROUPS, ResourceType, resource_types_enabled
from .collectors import COLLECTORS
from .model import ApiOutcome, CollectionResult, Outcome, ResourceRecord

log = logging.getLogger(__name__)

_MAX_ERROR_CHARS = 1000
_XML_CODE = re.compile(r"<Code>(.*?)</Code>", re.S)
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)


def location_key(account_id: str, region: str) -> str:
    """``111122223333-us-east-1`` (no ``|``: Dagster multi-partition keys use it)."""
    return f"{account_id}-{region}"


def describe_error(exc: BaseException) -> tuple[Outcome, str]:
    """(outcome, one-line message) for an exception of an API call.

    Some services answer errors in a body the client cannot parse (e.g. an XML error to a JSON
    client): the AWS code and message are dug out of it so the log shows the real reason.
    """
    outcome: Outcome = aws.classify_error(exc)
    message = aws.error_message(exc)
    if isinstance(exc, ClientError):
        raw = str(exc.response.get("Error", {}).get("Message", ""))
        code, text = _XML_CODE.search(raw), _XML_MESSAGE.search(raw)
        if code:
            message = f"{code.group(1)}: {text.group(1) if text else ''}".strip()
            if code.group(1) in aws.DENIED_CODES:
                outcome = "denied"
    message = " ".join(message.split())
    if len(message) > _MAX_ERROR_CHARS:
        message = message[: _MAX_ERROR_CHARS - 3] + "..."
    return outcome, message


def enabled_resource_types(
    disabled_resource_groups: frozenset[str] | set[str],
) -> list[ResourceType]:
    """Catalog resource types left after an integration policy's switched-off groups.

    Groups that cannot be switched off (EC2, including load balancing) are always collected.
    """
    disabled = {
        g
        for g in disabled_resource_groups
        if g in RESOURCE_GROUPS and RESOURCE_GROUPS[g].can_disable
    }
    return resource_types_enabled(disabled)


def collect_location(
    session: boto3.Session | None,
    account_id: str,
    region: str,
    disabled_resource_groups: frozenset[str] = frozenset(),
    *,
    config: Config | None = None,
    max_workers: int = 4,
    key: str | None = None,
    client_factory: Callable[[str], Any] | None = None,
) -> CollectionResult:
    """Snapshot the inventory of ``account_id``/``region`` through ``session`` (the assumed role).

    ``config`` overrides the client config (default: ``aws.RETRY_CONFIG``, standard retries);
    ``max_workers`` API calls run at once; ``key`` defaults to ``location_key(account, region)``.
    ``client_factory`` (service -> client), when given, replaces ``session``: a run's shared,
    instrumented clients (``aws.CollectorSessions.client``).
    Records carry ``account_id`` and ``region`` in their data, are sorted by catalog order and
    id; outcomes follow catalog order. Resource types of disabled groups are not called and get
    no outcome.
    """
    types = enabled_resource_types(disabled_resource_groups)
    clients: dict[str, Any] = {}
    client_errors: dict[str, BaseException] = {}
    # Clients are built here, in one thread (building them from a shared session is not
    # thread-safe); calling a built client from several threads is.
    for rt in types:
        if rt.service in clients or rt.service in client_errors:
            continue
        try:
            clients[rt.service] = (
                client_factory(rt.service)
                if client_factory is not None
                else aws.client(session, rt.service, region, config=config)
            )
        except Exception as exc:  # e.g. an invalid region name
            client_errors[rt.service] = exc

    def run(rt: ResourceType) -> tuple[ApiOutcome, list[ResourceRecord]]:
        return _collect_type(
            rt, clients.get(rt.service), client_errors.get(rt.service), account_id, region
        )

    if max_workers > 1 and len(types) > 1:
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="inventory") as pool:
            results = list(pool.map(run, types))
    else:
        results = [run(rt) for rt in types]

    result = CollectionResult(key or location_key(account_id, region), account_id, region)
    for outcome, recs in results:
        result.outcomes.append(outcome)
        result.records.extend(recs)
    return result


def _collect_type(
    rt: ResourceType, client: Any, client_error: BaseException | None, account_id: str, region: str
) -> tuple[ApiOutcome, list[ResourceRecord]]:
    collector = COLLECTORS[rt.name]
    where = f"{account_id}/{region}"
    try:
        if client_error is not None:
            raise client_error
        raw = collector.get(client)
    except Exception as exc:
        outcome, message = describe_error(exc)
        log.warning("inventory %s %s: %s %s", where, rt.action, outcome, message)
        return ApiOutcome(rt.name, rt.action, outcome, message, 0), []
    try:
        recs = _with_location(collector.transform, raw, account_id, region)
    except Exception as exc:  # an answer shaped unlike any we know: this type only is lost
        message = f"cannot normalize the {rt.action} answer: {type(exc).__name__}: {exc}"
        log.error("inventory %s %s: %s", where, rt.action, message)
        return ApiOutcome(rt.name, rt.action, "failed", message[:_MAX_ERROR_CHARS], 0), []
    return ApiOutcome(rt.name, rt.action, "ok", None, len(recs)), recs


def _with_location(
    transform: Callable[[list[dict]], list[ResourceRecord]],
    raw: list[dict],
    account_id: str,
    region: str,
) -> list[ResourceRecord]:
    return [
        ResourceRecord(
            r.resource_type, r.resource_id, {**r.data, "account_id": account_id, "region": region}
        )
        for r in transform(raw)
    ]
