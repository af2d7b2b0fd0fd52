"""`flowlogs`: check a flow-log file's format, parse one to Parquet.

    flowlogs check FILE|s3://BUCKET/KEY
    flowlogs parse FILE|s3://BUCKET/KEY --out OUT.parquet|s3://BUCKET/KEY.parquet

Exit codes: 0 ok; 1 mandatory fields missing, or a corrupt / unreadable file (one line on stderr
naming the file); 2 usage. Mounted under the main `cloudinsights` command; also runnable as
`python -m cloudinsights_dagster.flowlogs.cli`.

Imports stay cheap at module level (click only): pyarrow is imported by the commands, boto3 only
for s3:// sources.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

# `check` reads only the first line of a gzip text file: a few KiB of the object.
_CHECK_RANGE_BYTES = 256 * 1024


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise click.UsageError(f"{uri}: expected s3://BUCKET/KEY")
    return bucket, key


def _fetch_s3(uri: str, byte_range: int | None = None) -> bytes:
    """The object's bytes (or its first `byte_range` bytes) through boto3's credential chain."""
    from cloudinsights_dagster.aws import base_session, client, error_message

    bucket, key = _split_s3(uri)
    s3 = client(base_session(), "s3")
    kwargs = {"Bucket": bucket, "Key": key}
    if byte_range:
        kwargs["Range"] = f"bytes=0-{byte_range - 1}"
    try:
        return s3.get_object(**kwargs)["Body"].read()
    except Exception as exc:  # botocore errors: reported as one line, exit 1
        _fail(f"{uri}: cannot read the object: {error_message(exc)}")


def _fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(1)


def _source(path: str, head_only: bool = False):
    if path.startswith("s3://"):
        partial = head_only and not path.lower().endswith(".parquet")
        return _fetch_s3(path, _CHECK_RANGE_BYTES if partial else None)
    return path


def _warn_without_fast_path() -> None:
    from .parse import fast_path_problem

    problem = fast_path_problem()
    if problem:
        click.echo(f"warning: {problem}", err=True)


@click.group(name="flowlogs")
def flowlogs() -> None:
    """VPC flow-log files: check their format, parse them to typed Parquet."""


@flowlogs.command("check")
@click.argument("file", metavar="FILE|s3://BUCKET/KEY")
def check(file: str) -> None:
    """Say whether FILE's format has every mandatory field (exit 1 and the missing ones if not).

    Reads only the header line (or the Parquet footer).
    """
    from .fields import MANDATORY_FIELDS
    from .parse import FlowLogError, read_fields, validate_fields

    _require_local(file)
    _warn_without_fast_path()
    try:
        fields = read_fields(_source(file, head_only=True), name=file)
        if fields is None:
            click.echo(f"{file}: empty file (no header, no records): nothing to check")
            return
        validate_fields(fields, file)
    except FlowLogError as exc:  # missing fields, not a header, corrupt gzip
        _fail(str(exc))
    extra = [f for f in fields if f not in MANDATORY_FIELDS]
    click.echo(
        f"{file}: ok: all {len(MANDATORY_FIELDS)} mandatory fields present"
        + (f" (plus {', '.join(extra)})" if extra else "")
    )


@flowlogs.command("parse")
@click.argument("file", metavar="FILE|s3://BUCKET/KEY")
@click.option(
    "--out",
    "out",
    required=True,
    metavar="OUT.parquet",
    help="Output Parquet file (local path or s3://BUCKET/KEY).",
)
def parse(file: str, out: str) -> None:
    """Parse FILE (gzip text or Parquet delivery) and write its typed table to OUT (no
    enrichment). Fails, writing nothing, if mandatory fields are missing or the file is corrupt.
    """
    from .parse import FlowLogError
    from .writer import write_parsed

    _require_local(file)
    _warn_without_fast_path()
    try:
        result = write_parsed(_source(file), out, name=file)
    except FlowLogError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{out}: cannot write: {exc}")
    click.echo(
        f"{file}: {result.records_read} records, {len(result.fields)} fields -> {out} "
        f"({result.seconds:.2f} s)"
    )


def _require_local(file: str) -> None:
    if file.startswith("s3://"):
        _split_s3(file)
        return
    import os

    if not os.path.exists(file):
        raise click.BadParameter(f"{file}: no such file", param_hint="FILE")
    if os.path.isdir(file):
        raise click.BadParameter(f"{file}: is a directory", param_hint="FILE")


if __name__ == "__main__":
    flowlogs()
