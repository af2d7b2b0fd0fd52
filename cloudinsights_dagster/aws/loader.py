"""One botocore model loader per process, and each service's model and client class built once."""

from __future__ import annotations

import threading
from typing import Any

import botocore.client
import botocore.loaders
import botocore.session

# Building a client reads and parses the service's JSON models (endpoints, service-2, paginators):
# ~0.1 CPU-s per new session. Every session made here shares one loader, so a process parses each
# model once, however many roles, regions and clients a run uses.

_SHARED_LOADER_LOCK = threading.Lock()
_SHARED_LOADER: botocore.loaders.Loader | None = None


def shared_loader() -> botocore.loaders.Loader:
    global _SHARED_LOADER
    with _SHARED_LOADER_LOCK:
        if _SHARED_LOADER is None:
            _SHARED_LOADER = botocore.loaders.create_loader()
            # boto3 appends its data folder to the loader of every Session it wraps: on a shared
            # loader, keep each folder once or every lookup walks a growing list.
            _SHARED_LOADER._search_paths = _UniquePaths(_SHARED_LOADER._search_paths)
            _cache_client_classes()
        return _SHARED_LOADER


class _UniquePaths(list):
    def append(self, path) -> None:
        if path not in self:
            super().append(path)


_MODELS: dict[tuple[str, str | None], Any] = {}
# Client classes that boto3 sessions customize when they are built (S3's upload_file and
# download_file...): built per session, or a plain botocore session's class would lose them.
_SESSION_CUSTOMIZED_CLASSES = frozenset({"s3"})
_CLASSES: dict[tuple[str, int], type] = {}


def _cache_client_classes() -> None:
    """Build each service's model and client class once per process for sessions on the shared
    loader. botocore builds them for every client: an EC2 client class has ~700 generated
    methods (~10 ms CPU per client), and a run makes a client per role, region and service.
    Other sessions (boto3 defaults) are left as botocore makes them. Both objects are read-only
    once built, so clients may share them."""
    creator = botocore.client.ClientCreator
    if getattr(creator, "_cloudinsights_cached", False):
        return
    load_model, create_class = creator._load_service_model, creator._create_client_class

    def cached_model(self, service_name, api_version=None):
        if self._loader is not _SHARED_LOADER:
            return load_model(self, service_name, api_version)
        key = (service_name, api_version)
        with _SHARED_LOADER_LOCK:
            found = _MODELS.get(key)
        if found is None:
            found = load_model(self, service_name, api_version)
            with _SHARED_LOADER_LOCK:
                found = _MODELS.setdefault(key, found)
        return found

    def cached_class(self, service_name, service_model):
        if self._loader is not _SHARED_LOADER or service_name in _SESSION_CUSTOMIZED_CLASSES:
            return create_class(self, service_name, service_model)
        key = (service_name, id(service_model))
        with _SHARED_LOADER_LOCK:
            found = _CLASSES.get(key)
        if found is None:
            found = create_class(self, service_name, service_model)
            with _SHARED_LOADER_LOCK:
                found = _CLASSES.setdefault(key, found)
        return found

    creator._load_service_model = cached_model
    creator._create_client_class = cached_class
    creator._cloudinsights_cached = True


def botocore_session(credentials: Any = None) -> botocore.session.Session:
    """A botocore session on the process's shared model loader; the standard credential chain
    unless ``credentials`` (e.g. refreshable assumed-role credentials) are given."""
    core = botocore.session.Session()
    core.register_component("data_loader", shared_loader())
    if credentials is not None:
        core._credentials = credentials  # botocore's documented-in-practice hook for providers
    return core
