"""The VPC flow-log field registry: one entry per field AWS documents (versions 2 to 8).

For each field: the hyphenated name of the text header, the snake_case column name (also the
name AWS uses in its Parquet delivery), the Arrow type of the parsed column, whether this product
needs it (the 17 mandatory fields), and the value domain that data-quality checks can assert.

Everything that knows a flow-log field by name reads it from here: the parser, the enrichment,
the mandatory-field check and the Great Expectations suite.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

TIMESTAMP = pa.timestamp("s", tz="UTC")

# `-` in a text file means "no value".
NULL_TOKEN = "-"

# How the parser materialises low-cardinality string columns (account, ENI, action, status...):
# dictionary-encoded, so the enrichment looks each distinct ENI up once and Parquet writes the
# dictionary as is. High-cardinality strings (addresses) stay plain strings.
DICT_STRING = pa.dictionary(pa.int32(), pa.string())


@dataclass(frozen=True)
class FlowLogField:
    """One flow-log field."""

    name: str  # hyphenated, as in the text header and in the flow log's LogFormat (${name})
    version: int  # the flow-log version that introduced it
    arrow_type: pa.DataType
    mandatory: bool = False
    # Value domain for checks: an allowed set of values, or an inclusive numeric range.
    allowed: tuple[str, ...] | None = None
    min_value: int | None = None
    max_value: int | None = None
    # A regular expression the (string) values match, for checks.
    pattern: str | None = None
    description: str = ""

    @property
    def column(self) -> str:
        """The snake_case column name (AWS's Parquet delivery uses the same)."""
        return self.name.replace("-", "_")

    @property
    def is_string(self) -> bool:
        return pa.types.is_string(self.arrow_type) or pa.types.is_dictionary(self.arrow_type)

    @property
    def value_type(self) -> pa.DataType:
        """The logical value type (string for dictionary-encoded columns)."""
        if pa.types.is_dictionary(self.arrow_type):
            return self.arrow_type.value_type
        return self.arrow_type


def _f(name: str, version: int, arrow_type: pa.DataType, mandatory: bool = False, **kw):
    return FlowLogField(name, version, arrow_type, mandatory, **kw)


_INT32, _INT64, _STR = pa.int32(), pa.int64(), pa.string()

# In AWS's documented order (the default v2 format is the first 14, in this order).
FIELDS: tuple[FlowLogField, ...] = (
    _f(
        "version",
        2,
        _INT32,
        True,
        min_value=2,
        max_value=255,
        description="Flow-log version: the highest version among the format's fields.",
    ),
    _f(
        "account-id",
        2,
        DICT_STRING,
        True,
        pattern=r"^(\d{12}|unknown)$",
        description="Owner of the source network interface; 'unknown' for some service ENIs.",
    ),
    _f(
        "interface-id",
        2,
        DICT_STRING,
        True,
        pattern=r"^eni-[0-9a-f]+$",
        description="The network interface the traffic is recorded for.",
    ),
    _f("srcaddr", 2, _STR, True, description="Source address (IPv4 or IPv6)."),
    _f("dstaddr", 2, _STR, True, description="Destination address (IPv4 or IPv6)."),
    _f("srcport", 2, _INT32, True, min_value=0, max_value=65535),
    _f("dstport", 2, _INT32, True, min_value=0, max_value=65535),
    _f(
        "protocol",
        2,
        _INT32,
        True,
        min_value=0,
        max_value=255,
        description="IANA protocol number (6 TCP, 17 UDP, 1 ICMP...).",
    ),
    _f("packets", 2, _INT64, True, min_value=0),
    _f("bytes", 2, _INT64, True, min_value=0),
    _f("start", 2, TIMESTAMP, True, description="First packet of the interval (UTC)."),
    _f("end", 2, TIMESTAMP, True, description="Last packet of the interval (UTC)."),
    _f("action", 2, DICT_STRING, True, allowed=("ACCEPT", "REJECT")),
    _f("log-status", 2, DICT_STRING, True, allowed=("OK", "NODATA", "SKIPDATA")),
    _f("vpc-id", 3, DICT_STRING, pattern=r"^vpc-[0-9a-f]+$"),
    _f("subnet-id", 3, DICT_STRING, pattern=r"^subnet-[0-9a-f]+$"),
    _f("instance-id", 3, DICT_STRING, pattern=r"^i-[0-9a-f]+$"),
    _f(
        "tcp-flags",
        3,
        _INT32,
        True,
        min_value=0,
        max_value=511,
        description="Bitmask OR-ed over the interval: FIN 1, SYN 2, RST 4, SYN-ACK 18.",
    ),
    _f("type", 3, DICT_STRING, allowed=("IPv4", "IPv6", "EFA")),
    _f("pkt-srcaddr", 3, _STR),
    _f("pkt-dstaddr", 3, _STR),
    _f("region", 4, DICT_STRING),
    _f("az-id", 4, DICT_STRING),
    _f("sublocation-type", 4, DICT_STRING, allowed=("wavelength", "outpost", "localzone")),
    _f("sublocation-id", 4, DICT_STRING),
    _f("pkt-src-aws-service", 5, DICT_STRING),
    _f("pkt-dst-aws-service", 5, DICT_STRING),
    _f("flow-direction", 5, DICT_STRING, True, allowed=("ingress", "egress")),
    _f(
        "traffic-path",
        5,
        _INT32,
        True,
        min_value=1,
        max_value=8,
        description="Egress path: 1 same VPC, 2 IGW or gateway endpoint, 3 VGW, 4 intra-region "
        "peering, 5 inter-region peering, 6 local gateway, 7 gateway endpoint (Nitro), "
        "8 IGW (Nitro).",
    ),
    _f("ecs-cluster-arn", 7, DICT_STRING),
    _f("ecs-cluster-name", 7, DICT_STRING),
    _f("ecs-container-instance-arn", 7, DICT_STRING),
    _f("ecs-container-instance-id", 7, DICT_STRING),
    _f("ecs-container-id", 7, DICT_STRING),
    _f("ecs-second-container-id", 7, DICT_STRING),
    _f("ecs-service-name", 7, DICT_STRING),
    _f("ecs-task-definition-arn", 7, DICT_STRING),
    _f("ecs-task-arn", 7, DICT_STRING),
    _f("ecs-task-id", 7, DICT_STRING),
    _f("reject-reason", 8, DICT_STRING),
)

FIELDS_BY_NAME: dict[str, FlowLogField] = {f.name: f for f in FIELDS}
FIELDS_BY_COLUMN: dict[str, FlowLogField] = {f.column: f for f in FIELDS}

MANDATORY_FIELDS: tuple[str, ...] = tuple(sorted(f.name for f in FIELDS if f.mandatory))
MANDATORY_COLUMNS: tuple[str, ...] = tuple(f.column for f in FIELDS if f.mandatory)

# AWS's default format (version 2), which lacks flow-direction, traffic-path and tcp-flags.
DEFAULT_FORMAT: tuple[str, ...] = tuple(f.name for f in FIELDS if f.version == 2)

# The fields NODATA / SKIPDATA records fill in; every other field of theirs is `-` (null).
ALWAYS_PRESENT_ON_NODATA: frozenset[str] = frozenset(
    {"version", "account-id", "interface-id", "start", "end", "log-status"}
)
NO_DATA_STATUSES: tuple[str, ...] = ("NODATA", "SKIPDATA")


def to_column(name: str) -> str:
    """The snake_case column for a header field name (unknown fields too)."""
    return name.strip().replace("-", "_")


def to_field_name(column: str) -> str:
    """The hyphenated field name for a column name (inverse of `to_column`)."""
    return column.strip().replace("_", "-")


def missing_mandatory(names: Iterable[str]) -> list[str]:
    """The mandatory fields (hyphenated, sorted) absent from a header's field or column names."""
    present = {to_field_name(n) for n in names}
    return [name for name in MANDATORY_FIELDS if name not in present]


def arrow_type_for(name: str) -> pa.DataType:
    """Arrow type for a hyphenated field or snake_case column; unknown fields are strings."""
    field = FIELDS_BY_NAME.get(to_field_name(name))
    return field.arrow_type if field else pa.string()


def log_format(names: Iterable[str]) -> str:
    """The LogFormat string (`${version} ${account-id} ...`) for a list of field names."""
    return " ".join(f"${{{to_field_name(n)}}}" for n in names)


def parse_log_format(log_format_string: str) -> list[str]:
    """Field names of a flow log's LogFormat string, as returned by DescribeFlowLogs."""
    return [token.strip()[2:-1] for token in log_format_string.split() if token.startswith("${")]


def recreate_hint(missing: Iterable[str]) -> str:
    """The actionable advice for a flow log whose format lacks mandatory fields."""
    return (
        "the flow log must be recreated with a custom format that includes "
        + ", ".join(missing)
        + " (AWS cannot edit a flow log's format)"
    )


def value_domains() -> dict[str, dict]:
    """Per snake_case column, the facts a data-quality suite asserts: type, mandatory, and the
    allowed set / numeric range / pattern when there is one. NODATA and SKIPDATA records have
    nulls in every column outside ALWAYS_PRESENT_ON_NODATA."""
    out: dict[str, dict] = {}
    for f in FIELDS:
        domain: dict = {
            "type": str(f.value_type),
            "mandatory": f.mandatory,
            "null_on_nodata": f.name not in ALWAYS_PRESENT_ON_NODATA,
        }
        if f.allowed is not None:
            domain["allowed"] = list(f.allowed)
        if f.min_value is not None:
            domain["min"] = f.min_value
        if f.max_value is not None:
            domain["max"] = f.max_value
        if f.pattern is not None:
            domain["pattern"] = f.pattern
        out[f.column] = domain
    return out
