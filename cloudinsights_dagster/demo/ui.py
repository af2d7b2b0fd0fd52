"""`make ui`: the Dagster UI over the demo's instance, with the demo's world kept alive.

The fake AWS is restarted with the same resources (the estate is seeded, see `estate.py`), every
process started here points at it (AWS_ENDPOINT_URL) and listens on 127.0.0.1 only, and a few
flow-log files arrive every five minutes so the sensors, schedules and views show life. Ctrl-C
(or SIGTERM) stops everything this started: `dagster dev` with its daemon, and the fake AWS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

from cloudinsights_dagster.demo import estate as E
from cloudinsights_dagster.demo.home import DemoHome
from cloudinsights_dagster.demo.progress import Progress
from cloudinsights_dagster.demo.run import TICK, bring_up, floor_to_tick, use_home

WORKSPACE_YAML = """\
load_from:
  - python_module:
      module_name: cloudinsights_dagster.definitions
      location_name: cloudinsights
"""


def dagster_command() -> str:
    beside = Path(sys.executable).with_name("dagster")
    return str(beside) if beside.exists() else (shutil.which("dagster") or "dagster")


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if requests.get(f"{url}/server_info", timeout=2).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.5)
    return False


def _stop_on_sigterm(*_) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cloudinsights_dagster.demo.ui",
        description="Open the Dagster UI over the demo's instance and keep its world alive.",
    )
    parser.add_argument("--port", type=int, default=3000, help="the UI's port on 127.0.0.1")
    parser.add_argument(
        "--deliver-every",
        type=float,
        default=TICK.total_seconds(),
        help="at most one delivery per this many seconds (default 300; one per new window)",
    )
    args = parser.parse_args(argv)
    out = Progress()
    home = DemoHome.from_env()
    record = home.load_record()
    if not record or record.get("state") != "finished" or "changes_applied" not in record:
        out.plain(f"no finished demo in {home.home}: run `make demo` first")
        return 2
    pid = home.running_ui()
    if pid is not None:
        out.plain(f"the demo's UI already runs (pid {pid}): stop it first")
        return 2
    use_home(home)
    home.prepare()
    workspace = home.dagster_home / "workspace.yaml"
    workspace.write_text(WORKSPACE_YAML)
    home.ui_pid.write_text(str(os.getpid()))
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    fake = proc = None
    try:
        from cloudinsights_dagster.registry import Registry
        from cloudinsights_dagster.settings import load_settings

        fake = E.FakeAws()
        registry = Registry(load_settings().database_url)
        anchor = datetime.fromisoformat(record["anchor"])
        up = bring_up(registry, anchor, record["changes_applied"], fake)
        out.step(
            f"fake AWS (moto) at {fake.endpoint}: the demo's estate rebuilt "
            f"({len(up.estate.worlds)} locations), {up.subscribed} topic(s) subscribed"
        )
        log = (home.home / "dagster-dev.log").open("w")
        url = f"http://127.0.0.1:{args.port}"
        proc = subprocess.Popen(
            [dagster_command(), "dev", "-w", str(workspace), "-h", "127.0.0.1",
             "-p", str(args.port)],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group: Ctrl-C reaches it through us, in order.
            start_new_session=True,
        )  # fmt: skip
        if not wait_until_up(url, proc, timeout=120):
            out.plain(f"the UI did not start: see {log.name}")
            return 1
        out.step(f"UI ready at {url} (dagster dev output: {log.name}); Ctrl-C stops everything")
        # The demo delivered its windows up to the last tick; from here on, each new window.
        delivered = anchor + (record["ticks"] - 1) * TICK
        next_delivery = 0.0
        while proc.poll() is None:
            window = floor_to_tick(datetime.now(UTC)) - TICK
            if window > delivered and time.monotonic() >= next_delivery:
                files = E.deliver_window(
                    up.estate, int(window.timestamp()), record["changes_applied"]
                )
                out.step(f"delivered {len(files)} flow-log file(s) of the {window:%H:%M} window")
                delivered = window
                next_delivery = time.monotonic() + args.deliver_every
            time.sleep(1)
        out.plain(f"dagster dev stopped by itself (exit {proc.returncode}): see {log.name}")
        return 1
    except KeyboardInterrupt:
        out.plain("\nstopping the UI and the fake AWS")
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if fake is not None:
            fake.stop()
        home.ui_pid.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
