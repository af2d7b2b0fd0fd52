"""VPC flow logs, Dagster-free: object keys, S3 notifications, the SQS queue, record formats.

Intake: `keys` (object keys -> location and day), `notifications`, `queue`, `subscriptions`,
`intake`, `ledger`, `runs`. Records: `fields` (the field registry and value domains), `parse`
(gzip text / Parquet delivery -> typed Arrow batches, mandatory-field check), `enrich` (inventory
join, account filter, peer resolution), `writer` (output paths, atomic Parquet, the
`process_object` pipeline), `cli` (the `flowlogs` click group).

The record-side names below are imported lazily so that importing this package stays cheap (the
`cloudinsights flowlogs parse` start-up time counts).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MANDATORY_FIELDS": "fields",
    "FIELDS": "fields",
    "FlowLogField": "fields",
    "missing_mandatory": "fields",
    "value_domains": "fields",
    "FlowLogError": "parse",
    "FlowLogFormatError": "parse",
    "FlowLogCorruptError": "parse",
    "FlowLogReader": "parse",
    "open_flow_log": "parse",
    "read_flow_log": "parse",
    "read_fields": "parse",
    "check_source": "parse",
    "EniIndex": "enrich",
    "EnrichResult": "enrich",
    "ENRICHED_COLUMNS": "enrich",
    "enrich_batch": "enrich",
    "ProcessResult": "writer",
    "output_path": "writer",
    "process_object": "writer",
    "write_parsed": "writer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
