"""Inflating gzip text (ISA-L when installed, else Arrow's zlib) and cutting it into whole-line
chunks on a thread of its own, so inflating overlaps with parsing."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from ..settings import parser_settings
from .source import Kind

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
STREAM_ERRORS = (OSError, EOFError, _IsalError)


def inflater() -> str:
    """ "isal" (ISA-L, when installed) or "zlib" (Arrow's); CLOUDINSIGHTS_GZIP=zlib forces the
    latter."""
    return "isal" if parser_settings().inflater == "isal" and _igzip is not None else "zlib"


def decompressed_blocks(raw: pa.NativeFile, kind: Kind, size: int) -> Iterator[bytes]:
    """The text of a file, from its start, in blocks of about `size` bytes. Takes ownership
    of `raw` (closes it)."""
    with raw:
        raw.seek(0)
        yield from _blocks(raw, kind, size)


def _blocks(raw: pa.NativeFile, kind: Kind, size: int) -> Iterator[bytes]:
    if kind == "gzip" and inflater() == "isal":
        read = _igzip.IGzipFile(fileobj=raw, mode="rb").read
    elif kind == "gzip":
        read = pa.CompressedInputStream(raw, "gzip").read  # releases the GIL while inflating
    else:
        read = raw.read
    while block := read(size):
        yield block


_END = object()


class Chunker(threading.Thread):
    """Decompresses a text file in its own thread and hands out whole-line chunks of about
    `size` bytes, each with its byte offset in the text, skipping the header line.

    A bounded queue keeps at most a few chunks in memory. Errors of the compressed stream are
    handed to the consumer. `cancel()` stops the thread (it is a daemon: it never holds up the
    interpreter's exit).
    """

    def __init__(self, raw: pa.NativeFile, kind: Kind, size: int, depth: int = 2):
        super().__init__(name="flowlog-inflate", daemon=True)
        self._blocks = decompressed_blocks(raw, kind, size)
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
