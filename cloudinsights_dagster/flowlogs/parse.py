"""Streaming, typed parsing of VPC flow-log files: Arrow end to end, no Dagster.

Two deliveries are read:

* text: gzip (one or several members), space separated, the first line a header naming the
  fields in the file's own order. `-` is null. A thread of its own inflates the object and cuts
  the text into whole-line chunks of ~8 MB while the caller's thread parses the previous chunk
  with Arrow's CSV reader, so the two overlap and the whole decompressed text is never held.
  Inflating uses ISA-L (the `isal` package, a third of zlib's CPU time) when it is installed,
  else Arrow's zlib. Chunks are parsed by a small C fast path (`_fastparse.c`, built at install
  when a compiler is there), in one pass at about twice Arrow's speed; whatever it does not
  understand entirely (odd spacing, a stray character, an out-of-range number, non-ASCII text,
  a malformed row) it declines, and Arrow's CSV reader parses that chunk, so the tables and the
  errors are always Arrow's.
* Parquet (`.log.parquet`): typed columns with snake_case names.

Both give the same typed columns (see `fields.py`): snake_case names in the file's order, ports and
counts as integers, `start`/`end` as UTC timestamps, low-cardinality strings dictionary-encoded,
unknown fields kept as strings.

A file either parses entirely or raises: `FlowLogFormatError` (the header lacks mandatory fields,
raised before any record is read) or `FlowLogCorruptError` (corrupt or truncated gzip, a malformed
row, a value of the wrong type; with the line number when there is one). Callers fail that one
file and go on with the others.
"""

from __future__ import annotations

import io
import os
import queue
import re
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal, TypeAlias

import pyarrow as pa
import pyarrow.csv as pacsv

from . import fields as F

try:  # the C fast path of the text parser (built when a compiler was there at install)
    from . import _fastparse

    _FAST_PATH_IMPORT_ERROR: str | None = None
except ImportError as _exc:  # pragma: no cover - exercised where the extension is not built
    _fastparse = None
    _FAST_PATH_IMPORT_ERROR = str(_exc)

_igzip: Any
_IsalError: type[Exception]
try:  # ISA-L's inflate: the same gzip, a third of zlib's CPU time
    from isal import igzip as _igzip

    # isal's stubs declare `error` an Exception instance; it is the exception class.
    from isal.isal_zlib import error as _IsalError  # type: ignore[assignment]
except ImportError:  # pragma: no cover - exercised where isal is not installed
    _igzip = None
    _IsalError = OSError

# What a damaged compressed stream raises, whichever inflater runs.
_STREAM_ERRORS = (OSError, EOFError, _IsalError)

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
# "isal" (when installed) or "zlib" (Arrow's); CLOUDINSIGHTS_GZIP=zlib forces the latter.
INFLATER = os.environ.get("CLOUDINSIGHTS_GZIP", "isal")
# Text chunks go through the C fast path when it is built (CLOUDINSIGHTS_FASTPARSE=0: never).
FAST_PATH = _fastparse is not None and os.environ.get("CLOUDINSIGHTS_FASTPARSE", "1") != "0"


def fast_path_problem() -> str | None:
    """Why the C fast path is not in use, in words for an operator; None when it is (or when
    CLOUDINSIGHTS_FASTPARSE=0 turned it off on purpose)."""
    if _fastparse is not None:
        return None
    return (
        "the flow-log parser's C fast path is not built "
        f"({_FAST_PATH_IMPORT_ERROR}): parsing still works with Arrow alone, about a third "
        "slower. Install a C compiler and the Python headers, then reinstall (`make setup` or "
        "`pip install -e .`); the build's output says why it failed."
    )


class FlowLogError(Exception):
    """A flow-log file that cannot be loaded. `source` names the file (path or s3 URL)."""

    def __init__(self, message: str, source: str | None = None):
        self.source = source
        super().__init__(message)


class FlowLogFormatError(FlowLogError):
    """The file's format lacks mandatory fields (or has no usable header).

    `missing_fields`: the absent mandatory fields (hyphenated, sorted); `fields`: the header.
    """

    def __init__(
        self,
        missing_fields: list[str],
        source: str | None = None,
        fields: list[str] | None = None,
        reason: str | None = None,
    ):
        self.missing_fields = list(missing_fields)
        self.fields = list(fields or [])
        if reason is None:
            plural = "s" if len(self.missing_fields) > 1 else ""
            reason = f"missing mandatory field{plural} " + ", ".join(self.missing_fields)
        self.reason = reason
        self.summary = reason
        if self.missing_fields:
            self.summary += (
                ": the flow log must be recreated with a custom format that includes "
                + ("them" if len(self.missing_fields) > 1 else "it")
                + " (AWS cannot edit a flow log's format)"
            )
        where = f"{source}: " if source else ""
        super().__init__(where + self.summary, source)

    def details(self) -> dict:
        return {
            "source": self.source,
            "error": "missing_mandatory_fields" if self.missing_fields else "bad_header",
            "missing_fields": self.missing_fields,
            "fields": self.fields,
            "message": self.summary,
        }


class FlowLogCorruptError(FlowLogError):
    """Corrupt or truncated compression, a malformed row or an untyped value."""

    def __init__(
        self,
        detail: str,
        source: str | None = None,
        line: int | None = None,
        text: str | None = None,
    ):
        self.detail = detail
        self.line = line
        self.text = text
        where = f"{source}: " if source else ""
        at = f"line {line}: " if line is not None else ""
        self.summary = f"{at}{detail}"
        super().__init__(f"{where}{self.summary}", source)

    def details(self) -> dict:
        return {
            "source": self.source,
            "error": "corrupt",
            "line": self.line,
            "detail": self.detail,
            "message": self.summary,
        }


# ---------------------------------------------------------------------------------------------
# Sources


@dataclass
class _Opened:
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


def _open(source: Source, name: str | None) -> _Opened:
    name = _source_name(source, name)
    try:
        raw, path, buffer = _open_raw(source)
    except OSError as exc:
        raise FlowLogError(f"{name}: cannot open: {exc}", name) from exc
    kind, size = _sniff(raw, name)
    return _Opened(raw, kind, name, size, path, buffer)


# ---------------------------------------------------------------------------------------------
# Header


def parse_header_line(line: bytes | str) -> list[str]:
    """Field names (hyphenated) of a text header line."""
    text = line.decode("ascii", "replace") if isinstance(line, bytes | bytearray) else line
    return text.strip().split()


def _read_text_header(opened: _Opened) -> list[str] | None:
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


def _parquet_columns(opened: _Opened) -> list[str]:
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
    opened = _open(source, name)
    with opened.raw:
        if opened.kind == "parquet":
            return [F.to_field_name(c) for c in _parquet_columns(opened)]
        return _read_text_header(opened)


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


# ---------------------------------------------------------------------------------------------
# Schema


def output_schema(fields: list[str]) -> pa.Schema:
    """The typed schema of a file with these (hyphenated) fields, in the file's order."""
    return pa.schema(
        [pa.field(F.to_column(f), F.arrow_type_for(f)) for f in fields],
    )


EMPTY_FIELDS: list[str] = [f.name for f in F.FIELDS if f.mandatory]


def _csv_type(t: pa.DataType) -> pa.DataType:
    # Arrow's CSV reader parses timestamps from text; epoch seconds are read as int64 and viewed
    # as timestamp[s] afterwards (zero copy).
    return pa.int64() if pa.types.is_timestamp(t) else t


# ---------------------------------------------------------------------------------------------
# Decompression and chunking


def _decompressed_blocks(raw: pa.NativeFile, kind: Kind, size: int) -> Iterator[bytes]:
    """The text of a file, from its start, in blocks of about `size` bytes. Takes ownership
    of `raw` (closes it)."""
    with raw:
        raw.seek(0)
        yield from _blocks(raw, kind, size)


def _blocks(raw: pa.NativeFile, kind: Kind, size: int) -> Iterator[bytes]:
    if kind == "gzip" and INFLATER == "isal" and _igzip is not None:
        read = _igzip.IGzipFile(fileobj=raw, mode="rb").read
    elif kind == "gzip":
        read = pa.CompressedInputStream(raw, "gzip").read  # releases the GIL while inflating
    else:
        read = raw.read
    while block := read(size):
        yield block


_END = object()


class _Chunker(threading.Thread):
    """Decompresses a text file in its own thread and hands out whole-line chunks of about
    `size` bytes, each with its byte offset in the text, skipping the header line.

    A bounded queue keeps at most a few chunks in memory. Errors of the compressed stream are
    handed to the consumer. `cancel()` stops the thread (it is a daemon: it never holds up the
    interpreter's exit).
    """

    def __init__(self, raw: pa.NativeFile, kind: Kind, size: int, depth: int = 2):
        super().__init__(name="flowlog-inflate", daemon=True)
        self._blocks = _decompressed_blocks(raw, kind, size)
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()

    def run(self) -> None:
        try:
            self._chunks()
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put(exc)
        else:
            self._put(_END)

    def _chunks(self) -> None:
        tail = b""
        offset = 0  # offset of `tail` in the text
        in_header = True
        for block in self._blocks:
            if self._stop.is_set():
                return
            buf = tail + block if tail else block
            start = 0
            if in_header:
                text_start = len(buf) - len(buf.lstrip())
                header_end = buf.find(b"\n", text_start)
                if text_start == len(buf) or header_end < 0:
                    tail = buf  # the header line is not complete yet
                    continue
                in_header = False
                start = header_end + 1
            end = buf.rfind(b"\n", start) + 1
            if end > start:
                self._put((offset + start, memoryview(buf)[start:end]))
                start = end
            tail = buf[start:]
            offset += start
        if tail.strip() and not in_header:
            self._put((offset, memoryview(tail)))  # a last line without its newline

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[tuple[int, memoryview]]:  # (text offset, chunk)
        while (item := self._queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item

    def cancel(self) -> None:
        self._stop.set()
        while True:  # unblock a pending put
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break


# ---------------------------------------------------------------------------------------------
# Reader


_ROW_RE = re.compile(r"Row #(\d+)")
_COL_RE = re.compile(r"In CSV column #(\d+)")
_CONVERSION_RE = re.compile(r"conversion error to (\S+): invalid value '(.*)'")


class FlowLogReader:
    """Iterates typed RecordBatches of one flow-log file. The header is validated on open.

    Attributes: `fields` (hyphenated names, file order), `schema` (typed, snake_case), `kind`
    ('gzip', 'text' or 'parquet'), `records_read` (so far), `empty` (no header, no records).
    """

    def __init__(
        self,
        source: Source,
        *,
        name: str | None = None,
        check_mandatory: bool = True,
        block_size: int = DEFAULT_BLOCK_SIZE,
        fast_path: bool | None = None,
    ):
        self._opened = _open(source, name)
        self.name = self._opened.name
        self.kind: Kind = self._opened.kind
        self.block_size = block_size
        self.records_read = 0
        self._chunker: _Chunker | None = None
        self._invalid: list = []
        try:
            if self.kind == "parquet":
                fields = [F.to_field_name(c) for c in _parquet_columns(self._opened)]
                self.empty = False
            else:
                header = _read_text_header(self._opened)
                self.empty = header is None
                fields = list(EMPTY_FIELDS) if header is None else header
            if check_mandatory and not self.empty:
                validate_fields(fields, self.name)
        except BaseException:
            self._opened.raw.close()
            raise
        self.fields: list[str] = fields
        self.schema: pa.Schema = output_schema(fields)
        use_fast = FAST_PATH if fast_path is None else fast_path and _fastparse is not None
        self._fast_kinds = _fast_kinds(self.schema) if use_fast else None
        self.fast_chunks = 0  # text chunks the fast path parsed (the rest went through Arrow)

    # -- text ----------------------------------------------------------------------------------
    def _invalid_row(self, row) -> str:
        self._invalid.append(row)
        return "error"

    def _csv_options(self, chunk_bytes: int):
        column_types = {f: _csv_type(F.arrow_type_for(f)) for f in self.fields}
        return dict(
            read_options=pacsv.ReadOptions(
                column_names=self.fields,
                # Serial: the parallelism is across the pipeline's stages, and errors keep their
                # row numbers. One block per chunk: one batch (one Parquet row group) per chunk.
                use_threads=False,
                block_size=chunk_bytes + 1,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=" ",
                quote_char=False,
                double_quote=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=True,
                invalid_row_handler=self._invalid_row,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=column_types,
                null_values=[F.NULL_TOKEN],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )

    def _fast_batch(self, chunk: memoryview) -> pa.RecordBatch | None:
        """The chunk parsed by the C fast path; None when it declines (Arrow then parses the
        chunk and gives the same table, or the precise error)."""
        parsed = _fastparse.parse(chunk, self._fast_kinds)
        if parsed is None:
            return None
        rows, columns = parsed
        arrays = [
            _fast_array(field.type, rows, *buffers)
            for field, buffers in zip(self.schema, columns, strict=True)
        ]
        self.fast_chunks += 1
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _typed(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        arrays = []
        for array, field in zip(batch.columns, self.schema, strict=True):
            if pa.types.is_timestamp(field.type):
                array = array.view(field.type)
            arrays.append(array)
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _gzip_error(self) -> FlowLogCorruptError | None:
        """On a bad row, whether the gzip stream itself is damaged: a corrupt deflate stream
        decodes to garbage lines before its checksum fails, and "corrupt gzip" is the true cause.
        (Only on the failure path: it decompresses the object once more.)"""
        if self.kind != "gzip":
            return None
        try:
            for _ in _decompressed_blocks(self._opened.reopen(), self.kind, 8 << 20):
                pass
        except _STREAM_ERRORS as exc:
            return self._corrupt(exc)
        return None

    def _line_at(self, offset: int) -> int:
        """The line number at a byte offset of the text. Only on the failure path: counting
        newlines as the text streams by would cost every file a third pass over its bytes."""
        newlines = 0
        seen = 0
        try:
            for block in _decompressed_blocks(self._opened.reopen(), self.kind, 8 << 20):
                take = min(len(block), offset - seen)
                newlines += block.count(b"\n", 0, take)
                seen += take
                if seen >= offset:
                    break
        except _STREAM_ERRORS:
            pass
        return newlines + 1

    def _corrupt(self, exc: BaseException, first_line: int = 1) -> FlowLogCorruptError:
        """The FlowLogCorruptError for an error of the chunk starting at line `first_line`."""
        message = str(exc)
        found = _ROW_RE.search(message)
        line = first_line + int(found.group(1)) - 1 if found else None
        stream_error = isinstance(exc, _STREAM_ERRORS) and not isinstance(exc, pa.ArrowInvalid)
        if stream_error:
            if isinstance(exc, EOFError) or "truncated" in message.lower():
                return FlowLogCorruptError("truncated gzip (the object is incomplete)", self.name)
            return FlowLogCorruptError(f"corrupt gzip: {message}", self.name)
        damaged = self._gzip_error()
        if damaged is not None:
            return damaged
        if self._invalid:
            row = self._invalid[0]
            return FlowLogCorruptError(
                f"malformed record: expected {row.expected_columns} fields, got "
                f"{row.actual_columns}",
                self.name,
                line=first_line + row.number - 1 if row.number is not None else line,
                text=row.text,
            )
        conversion = _CONVERSION_RE.search(message)
        col = _COL_RE.search(message)
        if conversion and col and int(col.group(1)) < len(self.fields):
            field = self.fields[int(col.group(1))]
            return FlowLogCorruptError(
                f"field {field}: invalid value '{conversion.group(2)}' "
                f"(expected {conversion.group(1)})",
                self.name,
                line=line,
                text=conversion.group(2),
            )
        return FlowLogCorruptError(message, self.name, line=line)

    def _iter_text(self) -> Iterator[pa.RecordBatch]:
        if self.empty:
            return
        chunker = _Chunker(self._opened.reopen(), self.kind, self.block_size)
        self._chunker = chunker
        chunker.start()
        try:
            for offset, chunk in chunker:
                if self._fast_kinds is not None:
                    batch = self._fast_batch(chunk)
                    if batch is not None:
                        if batch.num_rows:
                            self.records_read += batch.num_rows
                            yield batch
                        continue
                try:
                    table = pacsv.read_csv(
                        pa.BufferReader(pa.py_buffer(chunk)), **self._csv_options(len(chunk))
                    )
                except pa.ArrowInvalid as exc:
                    if "Empty CSV file" in str(exc):  # only blank lines
                        continue
                    raise self._corrupt(exc, self._line_at(offset)) from exc
                except pa.ArrowException as exc:
                    raise self._corrupt(exc, self._line_at(offset)) from exc
                for batch in table.to_batches():
                    if batch.num_rows:
                        self.records_read += batch.num_rows
                        yield self._typed(batch)
        except _STREAM_ERRORS as exc:
            raise self._corrupt(exc) from exc
        finally:
            chunker.cancel()

    # -- parquet -------------------------------------------------------------------------------
    def _iter_parquet(self) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq

        dict_columns = [f.name for f in self.schema if pa.types.is_dictionary(f.type)]
        try:
            pf = pq.ParquetFile(self._opened.raw, read_dictionary=dict_columns)
            batches = pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, use_threads=True)
            for batch in batches:
                arrays = [
                    _cast_column(array, field)
                    for array, field in zip(batch.columns, self.schema, strict=True)
                ]
                self.records_read += batch.num_rows
                yield pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        except (OSError, pa.ArrowException) as exc:
            raise FlowLogCorruptError(f"corrupt Parquet file: {exc}", self.name) from exc

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        if self.kind == "parquet":
            return self._iter_parquet()
        return self._iter_text()

    def read_all(self) -> pa.Table:
        return pa.Table.from_batches(list(self), schema=self.schema)

    def close(self) -> None:
        if self._chunker is not None:
            self._chunker.cancel()
            self._chunker = None
        self._opened.raw.close()

    def __enter__(self) -> FlowLogReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _fast_kinds(schema: pa.Schema) -> bytes | None:
    """The fast path's column kinds for a schema; None when a type is not one it produces."""
    kinds = []
    for field in schema:
        t = field.type
        if pa.types.is_int32(t):
            kinds.append("i")
        elif pa.types.is_int64(t) or (pa.types.is_timestamp(t) and t.unit == "s"):
            kinds.append("l")
        elif pa.types.is_string(t):
            kinds.append("s")
        elif t == F.DICT_STRING:
            kinds.append("d")
        else:
            return None
    return "".join(kinds).encode()


def _fast_array(t: pa.DataType, rows: int, validity, *buffers) -> pa.Array:
    """An Arrow array over the fast path's buffers (no copies)."""
    mask = None if validity is None else pa.py_buffer(validity)
    if pa.types.is_dictionary(t):
        indices, dict_offsets, dict_values = buffers
        dictionary = pa.Array.from_buffers(
            pa.string(),
            len(dict_offsets) // 4 - 1,
            [None, pa.py_buffer(dict_offsets), pa.py_buffer(dict_values)],
        )
        codes = pa.Array.from_buffers(pa.int32(), rows, [mask, pa.py_buffer(indices)])
        return pa.DictionaryArray.from_arrays(codes, dictionary)
    return pa.Array.from_buffers(t, rows, [mask, *(pa.py_buffer(b) for b in buffers)])


def _cast_column(array: pa.Array, field: pa.Field) -> pa.Array:
    if array.type == field.type:
        return array
    target = field.type
    if pa.types.is_timestamp(target):
        if pa.types.is_integer(array.type):
            return array.cast(pa.int64()).view(target)
        if pa.types.is_timestamp(array.type):
            return array.cast(pa.timestamp(array.type.unit, tz="UTC")).cast(target, safe=False)
        return array.cast(pa.int64()).view(target)
    if pa.types.is_dictionary(target) and pa.types.is_dictionary(array.type):
        return array.cast(target)
    if pa.types.is_dictionary(target):
        return array.cast(pa.string()).dictionary_encode()
    return array.cast(target)


def open_flow_log(
    source: Source,
    *,
    name: str | None = None,
    check_mandatory: bool = True,
    block_size: int = DEFAULT_BLOCK_SIZE,
    fast_path: bool | None = None,
) -> FlowLogReader:
    """Open a flow-log file (gzip text, plain text or Parquet delivery) for typed batches.

    `source`: a path, bytes, an Arrow file, or a binary file object (read into memory: pass a
    path or an Arrow file for large objects). `name` (the path or s3://bucket/key) appears in
    errors. Raises FlowLogFormatError at once if the header lacks mandatory fields.
    `fast_path`: parse text chunks with the C fast path (default: when built, see FAST_PATH).
    """
    return FlowLogReader(
        source,
        name=name,
        check_mandatory=check_mandatory,
        block_size=block_size,
        fast_path=fast_path,
    )


def read_flow_log(source: Source, *, name: str | None = None, **kw) -> pa.Table:
    """The whole typed table of a (small) flow-log file."""
    with open_flow_log(source, name=name, **kw) as reader:
        return reader.read_all()
