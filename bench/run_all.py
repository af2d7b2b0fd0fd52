"""`make bench`: every benchmark, each in its own process (so peak memory is its own), with
their JSON results collected in bench-out/results.json."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "bench_inventory_diff.py",
    "bench_inventory_store.py",
    "bench_flowlogs.py",
    "bench_flowlog_runs.py",
    "bench_dagster_storage.py",
    "bench_reasons.py",
    "bench_views.py",
    "bench_intake.py",
    "bench_burst.py",
    "bench_table.py",
]


def main() -> int:
    out = HERE.parent / "bench-out"
    out.mkdir(exist_ok=True)
    results, failed = {}, []
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, str(HERE / name)], capture_output=True, text=True)
        print(proc.stdout, end="")
        if proc.returncode != 0:
            print(proc.stderr[-4000:], file=sys.stderr)
            failed.append(name)
            continue
        text = proc.stdout
        start = text.find("{")
        try:
            results[name] = json.loads(text[start : text.rfind("}") + 1]) if start >= 0 else text
        except json.JSONDecodeError:
            results[name] = text
        print(f"({time.perf_counter() - started:.1f} s)\n", flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"results in {out / 'results.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
