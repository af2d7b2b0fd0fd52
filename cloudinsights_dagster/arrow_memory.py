"""The Arrow memory pool the pipelines allocate from.

pyarrow's default pool is mimalloc. In a fresh process (a Dagster run, the CLI), the flow-record
pipeline's sorted 262k-row groups ran 5-7% slower on it than on jemalloc; warm in one process
the pools are even (the figures: docs/scaling.md, "Memory pool"). The pipelines therefore take
jemalloc where the wheel has it. ARROW_DEFAULT_MEMORY_POOL, Arrow's own variable, still decides when it is set:
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
