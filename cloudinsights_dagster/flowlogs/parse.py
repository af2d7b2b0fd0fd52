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

The parts: `source` (opening, sniffing, the header), `inflate` (gzip and chunking), `fastpath`
(the C bridge), `errors`; this module holds the typed reader and re-exports their public names.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv

from . import fields as F
from .errors import FlowLogCorruptError, FlowLogError, FlowLogFormatError
from .fastpath import _fastparse, fast_array, fast_kinds, fast_path_in_use, fast_path_problem
from .inflate import STREAM_ERRORS, Chunker, _igzip, decompressed_blocks, inflater
from .source import (
    DEFAULT_BLOCK_SIZE,
    MAX_HEADER_BYTES,
    PARQUET_BATCH_ROWS,
    Kind,
    Source,
    check_source,
    open_source,
    parquet_columns,
    parse_header_line,
    read_fields,
    read_text_header,
    validate_fields,
)

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "MAX_HEADER_BYTES",
    "PARQUET_BATCH_ROWS",
    "FlowLogCorruptError",
    "FlowLogError",
    "FlowLogFormatError",
    "FlowLogReader",
    "Source",
    "_fastparse",
    "_igzip",
    "check_source",
    "fast_path_in_use",
    "fast_path_problem",
    "inflater",
    "open_flow_log",
    "output_schema",
    "parse_header_line",
    "read_flow_log",
    "read_fields",
    "validate_fields",
]


def output_schema(fields: list[str]) -> pa.Schema:
    """The typed schema of a file with these (hyphenated) fields, in the file's order."""
    return _output_schema(tuple(fields))


@functools.lru_cache(maxsize=64)  # a deployment sees a few formats: built once, not per object
def _output_schema(fields: tuple[str, ...]) -> pa.Schema:
    return pa.schema([pa.field(F.to_column(f), F.arrow_type_for(f)) for f in fields])


EMPTY_FIELDS: list[str] = [f.name for f in F.FIELDS if f.mandatory]


def _csv_type(t: pa.DataType) -> pa.DataType:
    # Arrow's CSV reader parses timestamps from text; epoch seconds are read as int64 and viewed
    # as timestamp[s] afterwards (zero copy).
    return pa.int64() if pa.types.is_timestamp(t) else t


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
        self._opened = open_source(source, name)
        self.name = self._opened.name
        self.kind: Kind = self._opened.kind
        self.block_size = block_size
        self.records_read = 0
        self._chunker: Chunker | None = None
        self._invalid: list = []
        try:
            if self.kind == "parquet":
                fields = [F.to_field_name(c) for c in parquet_columns(self._opened)]
                self.empty = False
            else:
                header = read_text_header(self._opened)
                self.empty = header is None
                fields = list(EMPTY_FIELDS) if header is None else header
            if check_mandatory and not self.empty:
                validate_fields(fields, self.name)
        except BaseException:
            self._opened.raw.close()
            raise
        self.fields: list[str] = fields
        self.schema: pa.Schema = output_schema(fields)
        use_fast = fast_path_in_use() if fast_path is None else fast_path and _fastparse is not None
        self._fast_kinds = fast_kinds(self.schema) if use_fast else None
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
            fast_array(field.type, rows, *buffers)
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
            for _ in decompressed_blocks(self._opened.reopen(), self.kind, 8 << 20):
                pass
        except STREAM_ERRORS as exc:
            return self._corrupt(exc)
        return None

    def _line_at(self, offset: int) -> int:
        """The line number at a byte offset of the text. Only on the failure path: counting
        newlines as the text streams by would cost every file a third pass over its bytes."""
        newlines = 0
        seen = 0
        try:
            for block in decompressed_blocks(self._opened.reopen(), self.kind, 8 << 20):
                take = min(len(block), offset - seen)
                newlines += block.count(b"\n", 0, take)
                seen += take
                if seen >= offset:
                    break
        except STREAM_ERRORS:
            pass
        return newlines + 1

    def _corrupt(self, exc: BaseException, first_line: int = 1) -> FlowLogCorruptError:
        """The FlowLogCorruptError for an error of the chunk starting at line `first_line`."""
        message = str(exc)
        found = _ROW_RE.search(message)
        line = first_line + int(found.group(1)) - 1 if found else None
        stream_error = isinstance(exc, STREAM_ERRORS) and not isinstance(exc, pa.ArrowInvalid)
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
        chunker = Chunker(self._opened.reopen(), self.kind, self.block_size)
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
        except STREAM_ERRORS as exc:
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
    `fast_path`: parse text chunks with the C fast path (default: when built, see fast_path_in_use).
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
