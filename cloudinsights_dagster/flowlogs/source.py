"""Opening a flow-log source (path, bytes, Arrow file), telling its delivery (gzip text, plain
text, Parquet) from its first bytes, and reading and checking its header."""

from __future__ import annotations

import io
import os
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Literal, TypeAlias

import pyarrow as pa

from . import fields as F
from .errors import FlowLogCorruptError, FlowLogError, FlowLogFormatError

Source: TypeAlias = str | os.PathLike | bytes | bytearray | memoryview | pa.NativeFile | BinaryIO
Kind = Literal["gzip", "parquet", "text"]

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
# A header is one line of at most ~50 field names; anything longer is not a header.
MAX_HEADER_BYTES = 16 * 1024
# Text bytes per parsed chunk (~35k records, one batch, one Parquet row group): large enough for
# per-batch overheads to vanish, small enough to keep memory flat.
DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024
PARQUET_BATCH_ROWS = 64 * 1024


@dataclass
class OpenedSource:
    raw: pa.NativeFile  # seekable; for the header and the format sniffing
    kind: Kind
    name: str | None
    size: int
    path: str | None = None  # a local file...
    buffer: pa.Buffer | None = None  # ...or the object's bytes in memory

    def reopen(self) -> pa.NativeFile:
        """A fresh, independent handle on the same bytes (a decompressing stream closes the
        file under it; a second pass must not disturb a first one)."""
        if self.path is not None:
            return pa.OSFile(self.path, "rb")
        return pa.BufferReader(self.buffer)


def _source_name(source: Source, name: str | None) -> str | None:
    if name:
        return name
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return getattr(source, "name", None) if isinstance(getattr(source, "name", None), str) else None


def _open_raw(source: Source) -> tuple[pa.NativeFile, str | None, pa.Buffer | None]:
    """A seekable Arrow file for any source, with its local path or its bytes. Sources other
    than paths are held in memory: that is the compressed object (AWS caps them at ~75 MB),
    never the decompressed text."""
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        return pa.OSFile(path, "rb"), path, None
    if isinstance(source, pa.NativeFile):
        if source.seekable():
            source.seek(0)
        buffer = source.read_buffer()
    elif isinstance(source, bytes | bytearray | memoryview):
        buffer = pa.py_buffer(source)
    elif isinstance(source, io.IOBase) or hasattr(source, "read"):
        buffer = pa.py_buffer(source.read())
    else:
        raise TypeError(f"cannot read a flow log from {type(source).__name__}")
    return pa.BufferReader(buffer), None, buffer


def _sniff(raw: pa.NativeFile, name: str | None) -> tuple[Kind, int]:
    raw.seek(0)
    magic = raw.read(4)
    raw.seek(0)
    size = raw.size()
    lowered = (name or "").lower()
    if magic[:2] == GZIP_MAGIC:
        return "gzip", size
    if magic == PARQUET_MAGIC or lowered.endswith(".parquet"):
        return "parquet", size
    if lowered.endswith(".gz") and size:
        raise FlowLogCorruptError("not a gzip file (bad magic bytes)", name)
    return ("gzip" if lowered.endswith(".gz") else "text"), size


def open_source(source: Source, name: str | None) -> OpenedSource:
    name = _source_name(source, name)
    try:
        raw, path, buffer = _open_raw(source)
    except OSError as exc:
        raise FlowLogError(f"{name}: cannot open: {exc}", name) from exc
    kind, size = _sniff(raw, name)
    return OpenedSource(raw, kind, name, size, path, buffer)


def parse_header_line(line: bytes | str) -> list[str]:
    """Field names (hyphenated) of a text header line."""
    text = line.decode("ascii", "replace") if isinstance(line, bytes | bytearray) else line
    return text.strip().split()


def read_text_header(opened: OpenedSource) -> list[str] | None:
    """The header of a text file; None when the file holds no text at all (empty)."""
    raw = opened.raw
    raw.seek(0)
    head = b""
    if opened.kind == "gzip":
        decomp = zlib.decompressobj(zlib.MAX_WBITS | 16)
        truncated = opened.size == 0
        try:
            while b"\n" not in head and len(head) < MAX_HEADER_BYTES:
                if decomp.eof:  # end of a member: another may follow (multi-member gzip)
                    rest = decomp.unused_data or raw.read(8192)
                    if not rest:
                        break
                    decomp = zlib.decompressobj(zlib.MAX_WBITS | 16)
                    head += decomp.decompress(rest)
                    continue
                chunk = raw.read(8192)
                if not chunk:
                    truncated = True
                    break
                head += decomp.decompress(chunk)
        except zlib.error as exc:
            raise FlowLogCorruptError(f"corrupt gzip: {exc}", opened.name) from exc
        if truncated and opened.size:
            raise FlowLogCorruptError("truncated gzip (the object is incomplete)", opened.name)
    else:
        head = raw.read(MAX_HEADER_BYTES)
    raw.seek(0)
    if not head.strip():
        return None
    line = head.lstrip(b"\r\n").split(b"\n", 1)[0]
    if b"\n" not in head and len(head) >= MAX_HEADER_BYTES:
        raise FlowLogFormatError(
            list(F.MANDATORY_FIELDS), opened.name, reason="the first line is not a flow-log header"
        )
    return parse_header_line(line)


def parquet_columns(opened: OpenedSource) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(opened.raw).names)
    except (pa.ArrowException, OSError) as exc:
        raise FlowLogCorruptError(f"corrupt Parquet file: {exc}", opened.name) from exc
    finally:
        opened.raw.seek(0)


def validate_fields(fields: list[str], source: str | None = None) -> None:
    """Raise FlowLogFormatError when a header lacks mandatory fields or is not a header."""
    if not fields:
        raise FlowLogFormatError(
            list(F.MANDATORY_FIELDS), source, fields, reason="the first line is not a header"
        )
    dupes = sorted({f for f in fields if fields.count(f) > 1})
    if dupes:
        raise FlowLogFormatError(
            [], source, fields, reason="the header repeats the field(s) " + ", ".join(dupes)
        )
    missing = F.missing_mandatory(fields)
    if missing:
        known = [f for f in fields if F.to_field_name(f) in F.FIELDS_BY_NAME]
        reason = None if known else "the first line is not a flow-log header"
        raise FlowLogFormatError(missing, source, fields, reason=reason)


def read_fields(source: Source, name: str | None = None) -> list[str] | None:
    """The file's field names (hyphenated, in the file's order), reading only its first line
    (or the Parquet footer). None for an empty file."""
    opened = open_source(source, name)
    with opened.raw:
        if opened.kind == "parquet":
            return [F.to_field_name(c) for c in parquet_columns(opened)]
        return read_text_header(opened)


def check_source(source: Source, name: str | None = None) -> list[str]:
    """The mandatory fields the file's format lacks ([] when complete or empty)."""
    try:
        fields = read_fields(source, name)
        if fields is None:
            return []
        validate_fields(fields, name)
    except FlowLogFormatError as exc:
        return exc.missing_fields
    return []
