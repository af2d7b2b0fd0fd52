"""How fast this machine is, for reading the benches' absolute figures (CPU-s targets such as
"a run's fixed cost <= 2 CPU-s") against another machine's: the CPU seconds of a fixed
pure-Python loop and of a process that only imports Dagster. On the machine where the targets
were set, the import took ~1.5 CPU-s; on a shared 2-core box it has taken 1.5 to 2.7."""

from __future__ import annotations

import subprocess
import sys
import time

_LOOP = 20_000_000


def _python_loop_cpu_s() -> float:
    started = time.process_time()
    total = 0
    for i in range(_LOOP):
        total += i
    return time.process_time() - started


def _import_dagster_cpu_s() -> float:
    script = (
        "import resource, dagster; u = resource.getrusage(resource.RUSAGE_SELF); "
        "print(u.ru_utime + u.ru_stime)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def machine_speed(repeat: int = 3) -> dict:
    """Medians of `repeat` measurements: a 20M-iteration Python loop and `import dagster` in a
    fresh interpreter (CPU seconds)."""
    loops = sorted(_python_loop_cpu_s() for _ in range(repeat))
    imports = sorted(_import_dagster_cpu_s() for _ in range(repeat))
    return {
        "python_loop_20m_cpu_s": round(loops[len(loops) // 2], 3),
        "import_dagster_cpu_s": round(imports[len(imports) // 2], 3),
    }


if __name__ == "__main__":
    print(machine_speed())
