"""The Arrow memory pool the pipelines allocate from.

pyarrow's default pool is mimalloc. In a fresh process (a Dagster run, the CLI), the flow-record
pipeline's sorted 262k-row groups ran 5-7% slower on it than on jemalloc; the old per-batch
encoding ran as fast on either. On the 2M-record benchmark file, cold processes interleaved, 8
of each, the median wall seconds were:

- sorted groups: 2.27 on mimalloc, 2.13 on jemalloc;
- per-batch encoding: 2.10 on mimalloc, 2.21 on jemalloc.

(docs/scaling.md, "Memory pool".) Warm in one process, the pools are even, so the difference is
how a fresh process gets its first large buffers. The pipelines therefore take jemalloc where
the wheel has it. ARROW_DEFAULT_MEMORY_POOL, Arrow's own variable, still decides when it is set:
Arrow reads it, and this module then leaves the pool alone."""

from __future__ import annotations

import contextlib
import functools

import pyarrow as pa

from cloudinsights_dagster.settings import arrow_pool_chosen


@functools.cache
def use_pipeline_memory_pool() -> str:
    """Make jemalloc the process's default Arrow pool, unless ARROW_DEFAULT_MEMORY_POOL names
    one or the wheel lacks jemalloc; return the backend now in use. Buffers already allocated
    keep their pool, so calling it late is safe, only less useful."""
    if not arrow_pool_chosen():
        # NotImplementedError: a pyarrow built without jemalloc (e.g. Windows wheels).
        with contextlib.suppress(NotImplementedError):
            pa.set_memory_pool(pa.jemalloc_memory_pool())
    return pa.default_memory_pool().backend_name
