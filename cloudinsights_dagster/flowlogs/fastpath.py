"""The bridge to the parser's C fast path (`_fastparse.c`): whether it is built and in use,
the kinds of columns it fills, and its buffers as Arrow arrays."""

from __future__ import annotations

import pyarrow as pa

from ..settings import parser_settings
from . import fields as F

try:  # the C fast path of the text parser (built when a compiler was there at install)
    from . import _fastparse

    _FAST_PATH_IMPORT_ERROR: str | None = None
except ImportError as _exc:  # pragma: no cover - exercised where the extension is not built
    _fastparse = None
    _FAST_PATH_IMPORT_ERROR = str(_exc)


def fast_path_in_use() -> bool:
    """Text chunks go through the C fast path when it is built (CLOUDINSIGHTS_FASTPARSE=0:
    never)."""
    return _fastparse is not None and parser_settings().fast_path


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


def fast_kinds(schema: pa.Schema) -> bytes | None:
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


def fast_array(t: pa.DataType, rows: int, validity, *buffers) -> pa.Array:
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
