"""Where flow records go and how a file gets there: a deterministic path per source object (a local
folder or `s3://`), Arrow filesystems for both, and the atomic Parquet writer (a temporary name,
renamed or moved into place when complete: a reader never sees a half-written file, and a
failure leaves the previous output untouched)."""

import contextlib
import os
import posixpath
import uuid
from urllib.parse import quote

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from . import encoding

_KNOWN_SUFFIXES = (".log.gz", ".log.parquet")


def output_path(base: str, bucket: str, key: str) -> str:
    """Deterministic output location of the enriched records of s3://bucket/key.

    `base/bucket/<key without its .log.gz/.log.parquet suffix>.parquet`; the S3 layout (account,
    region, day) is kept so a day's files share a folder. Characters unsafe in paths are
    percent-encoded, and `.`/`..` segments cannot escape the base.
    """
    stem = key
    for suffix in _KNOWN_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    segments = [safe_segment(s) for s in stem.split("/") if s != ""]
    if not segments:
        segments = ["_"]
    return posixpath.join(base.rstrip("/") or "/", safe_segment(bucket), *segments) + ".parquet"


def safe_segment(segment: str) -> str:
    encoded = quote(segment, safe="=-_.,+@~")
    if encoded in (".", ".."):
        encoded = encoded.replace(".", "%2E")
    return encoded


def resolve_filesystem(
    path: str, filesystem: pafs.FileSystem | None = None
) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for a local path or an s3:// URI.

    s3:// uses Arrow's S3 client with the standard AWS credential chain; AWS_ENDPOINT_URL (a moto
    server locally) and AWS_DEFAULT_REGION are honoured. Pass `filesystem` to use other
    credentials.
    """
    if path.startswith("s3://"):
        inner = path[len("s3://") :]
        if filesystem is not None:
            return filesystem, inner
        return s3_filesystem(), inner
    if filesystem is not None:
        return filesystem, path
    return pafs.LocalFileSystem(), os.path.abspath(path)


def s3_filesystem(**kwargs) -> pafs.S3FileSystem:
    """An Arrow S3 filesystem from the standard AWS configuration (endpoint override for moto)."""
    from cloudinsights_dagster import aws  # boto3: only for s3:// outputs

    endpoint = aws.endpoint_url()
    options = {
        "region": aws.default_region(),
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=5),
    }
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        options.update(endpoint_override=host or endpoint, scheme=scheme if host else "http")
    options.update(kwargs)
    return pafs.S3FileSystem(**options)


class AtomicParquetWriter:
    """A ParquetWriter on a temporary file that becomes `path` on commit(), or vanishes on
    abort(). Local paths are renamed; on S3 the temporary object is moved (copy + delete)."""

    def __init__(
        self,
        path: str,
        schema: pa.Schema,
        *,
        filesystem: pafs.FileSystem | None = None,
        compression: str | None = None,
        compression_level: int | None = None,
        profile: str = "object",
    ):
        self.fs, self.path = resolve_filesystem(path, filesystem)
        directory = posixpath.dirname(self.path)
        if directory and not isinstance(self.fs, pafs.S3FileSystem):  # S3 needs no folders
            self.fs.create_dir(directory, recursive=True)
        name = posixpath.basename(self.path)
        self.tmp_path = posixpath.join(directory, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
        self._sink = self.fs.open_output_stream(self.tmp_path)
        try:
            options = encoding.column_options(schema, compression, profile)
            if compression_level is not None:
                options["compression_level"] = compression_level
            self._writer = pq.ParquetWriter(self._sink, schema, **options)
        except BaseException:
            with contextlib.suppress(Exception):
                self._sink.close()
                self.fs.delete_file(self.tmp_path)
            raise
        self.rows = 0
        self._done = False

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def commit(self) -> int:
        """Finish the file and move it into place; returns its size in bytes."""
        self._writer.close()
        self._sink.close()
        self._done = True
        self.fs.move(self.tmp_path, self.path)
        info = self.fs.get_file_info(self.path)
        return int(info.size or 0)

    def abort(self) -> None:
        """Drop the temporary file (best effort: the caller is already handling an error)."""
        if self._done:
            return
        self._done = True
        for cleanup in (
            self._writer.close,
            self._sink.close,
            lambda: self.fs.delete_file(self.tmp_path),
        ):
            with contextlib.suppress(Exception):
                cleanup()


def read_output(path: str, filesystem: pafs.FileSystem | None = None) -> pa.Table:
    """Read one output file back (helper for tests and tools)."""
    fs, inner = resolve_filesystem(path, filesystem)
    return pq.read_table(inner, filesystem=fs)
