"""Network inventory, Dagster-free: collect a location's resources through AWS APIs, normalize
them into deterministic records, and diff consecutive snapshots into config-change events."""

from .collect import collect_location, enabled_resource_types, location_key
from .diff import Change, FieldChange, diff_fields, diff_snapshots
from .model import (
    ApiOutcome,
    CollectionResult,
    ResourceRecord,
    canonical_json,
    content_hash,
    load_snapshot,
)

__all__ = [
    "ApiOutcome",
    "Change",
    "CollectionResult",
    "FieldChange",
    "ResourceRecord",
    "canonical_json",
    "collect_location",
    "content_hash",
    "diff_fields",
    "diff_snapshots",
    "enabled_resource_types",
    "load_snapshot",
    "location_key",
]
