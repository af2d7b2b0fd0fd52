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

from cloudinsights_dagster.lazy_exports import lazy_exports

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


__getattr__ = lazy_exports(__name__, _EXPORTS)
