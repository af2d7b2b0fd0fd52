"""A flow-log run's access to S3: the readers (flow-logs integrations and their roles), one
assumed-role session per role and one S3 client per (role, region) for the whole run, and the
prefetcher that downloads claimed objects ahead of their processing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3

from cloudinsights_dagster import aws
from cloudinsights_dagster.flowlogs.ledger import (
    Claimed,
)
from cloudinsights_dagster.registry import Registry

if TYPE_CHECKING:  # pyarrow is imported by the stages that use it
    pass

if TYPE_CHECKING:  # the run's enrichment indexes (process.py, which imports this module)
    from .process import EnrichmentIndexes

SessionFactory = Callable[[aws.RoleTarget, str], boto3.Session]
# Objects processed at once: parsing, enrichment and Parquet encoding release the GIL, so a
# second object fills what one leaves idle (its S3 GET, the hand-offs between its stages).
OBJECT_WORKERS = 2
# S3 bodies a run holds in memory at most: one per worker plus one fetched ahead, so the next
# object's GET overlaps processing.
BODIES_IN_MEMORY = OBJECT_WORKERS + 1


@dataclass(frozen=True)
class Reader:
    """A flow-logs integration that can read buckets of its account."""

    integration_id: int
    account_group: str
    account_id: str
    role_arn: str


def default_session_factory(target: aws.RoleTarget, region: str) -> boto3.Session:
    return aws.assumed_role_session(target, region)


class S3Clients:
    """For a whole run: one assumed-role session per role (so one STS AssumeRole per role,
    however many integrations share it) and one S3 client per (role, region); building a
    session and client costs ~0.05-0.2 CPU-s, so never per object. Clients are thread-safe; the
    sessions are only used here, under a lock."""

    def __init__(self, registry: Registry, factory: SessionFactory = default_session_factory):
        self._registry = registry
        self._factory = factory
        self._external_ids: dict[str, str] = {}
        self._sessions: dict[aws.RoleTarget, boto3.Session] = {}
        self._clients: dict[tuple[aws.RoleTarget, str], object] = {}
        self._lock = threading.Lock()

    def s3(self, reader: Reader, region: str):
        with self._lock:
            group = reader.account_group
            if group not in self._external_ids:
                self._external_ids[group] = self._registry.external_id(group)
            target = aws.RoleTarget(reader.role_arn, self._external_ids[group])
            client = self._clients.get((target, region))
            if client is None:
                session = self._sessions.get(target)
                if session is None:
                    session = self._factory(target, region)
                    self._sessions[target] = session
                client = aws.client(session, "s3", region)
                self._clients[(target, region)] = client
            return client

    @property
    def sessions(self) -> int:
        """Assumed-role sessions built so far (one per role)."""
        return len(self._sessions)


def flowlogs_readers(registry: Registry) -> dict[int, Reader]:
    """Every flow-logs integration, by id."""
    return {
        info.id: Reader(info.id, info.account_group, info.account_id, info.role_arn)
        for info in registry.list_integrations()
        if info.integration_type == "flowlogs"
    }


class Prefetcher:
    """Downloads claimed objects ahead of their processing, in claim order, holding at most
    `limit` bodies in memory (a fetch waits for a free slot; a slot frees when its object is
    processed). Objects the run will not read (unknown integration, unmonitored location) are
    not fetched."""

    def __init__(
        self, clients: S3Clients, readers: dict[int, Reader], indexes: EnrichmentIndexes, limit
    ):
        self._clients, self._readers, self._indexes = clients, readers, indexes
        self._slots = threading.Semaphore(limit)
        self._closed = threading.Event()
        self._pool = ThreadPoolExecutor(OBJECT_WORKERS, thread_name_prefix="flowlog-s3-get")

    def fetch(self, claimed: Claimed) -> Future[bytes] | None:
        reader = self._readers.get(claimed.integration_id)
        if reader is None or not self._indexes.monitors(reader.account_group, claimed.location_key):
            return None
        return self._pool.submit(self._get, reader, claimed)

    def _get(self, reader: Reader, claimed: Claimed) -> bytes:
        while not self._slots.acquire(timeout=0.5):
            if self._closed.is_set():
                raise RuntimeError("the run stopped before this object was downloaded")
        try:
            region = claimed.location_key.partition("-")[2]
            response = self._clients.s3(reader, region).get_object(
                Bucket=claimed.bucket, Key=claimed.key, ExpectedBucketOwner=reader.account_id
            )
            return response["Body"].read()
        except BaseException:
            self._slots.release()
            raise

    def processed(self, body: Future[bytes] | None) -> None:
        """The object of `body` is done with: its memory slot is free (a failed GET freed its
        slot already)."""
        if body is None:
            return
        try:
            body.result()
        except BaseException:  # noqa: BLE001 - reported by the object's own processing
            return
        self._slots.release()

    def close(self) -> None:
        """Stop: queued GETs are dropped and a GET waiting for a slot gives up (so that a
        worker waiting for its body after an error never blocks the run's shutdown)."""
        self._closed.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def join(self) -> None:
        self._pool.shutdown(wait=True)
