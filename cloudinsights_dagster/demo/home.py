"""The demo's state folder: what a demo made, so a second demo replaces exactly that.

A demo writes a record (`demo.json`) before it creates anything, and `make ui` a pid file while it
runs. A folder with a warehouse but no record is someone else's: the demo leaves it alone.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cloudinsights_dagster.settings import DEFAULT_HOME

# The local instance of the demo and its UI. No usage statistics leave this machine, no
# first-run prompts; run events also go to a log file, at INFO (Dagster's console logger prints
# every event at DEBUG).
DAGSTER_YAML = """\
telemetry:
  enabled: false
nux:
  enabled: false
python_logs:
  python_log_level: INFO
  dagster_handler_config:
    handlers:
      demo_file:
        class: logging.FileHandler
        level: INFO
        filename: {log_file}
        formatter: plain
    formatters:
      plain:
        format: "%(asctime)s %(levelname)s %(message)s"
"""

# What a demo creates in CLOUDINSIGHTS_HOME (besides its record and the Dagster home).
MADE_FILES = ("warehouse.db", "warehouse.db-journal", "warehouse.db-wal", "warehouse.db-shm")
MADE_FOLDERS = ("flowlogs", "topology")


@dataclass(frozen=True)
class DemoHome:
    home: Path
    dagster_home: Path

    @classmethod
    def from_env(cls) -> DemoHome:
        home = Path(os.environ.get("CLOUDINSIGHTS_HOME") or DEFAULT_HOME).resolve()
        dagster_home = Path(os.environ.get("DAGSTER_HOME") or home / "dagster").resolve()
        return cls(home, dagster_home)

    @property
    def record(self) -> Path:
        return self.home / "demo.json"

    @property
    def ui_pid(self) -> Path:
        return self.home / "demo-ui.pid"

    @property
    def dagster_log(self) -> Path:
        """Dagster's run events of the demo and its UI."""
        return self.home / "dagster-events.log"

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.db"

    def prepare(self) -> None:
        """Create the folders and the instance's settings (kept if already there)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        config = self.dagster_home / "dagster.yaml"
        if not config.exists():
            config.write_text(DAGSTER_YAML.format(log_file=json.dumps(str(self.dagster_log))))

    def foreign_state(self) -> bool:
        """State here that no demo recorded making (someone's warehouse, say)."""
        return self.record.exists() is False and self.warehouse.exists()

    def reset(self) -> bool:
        """Remove what the last demo made; False (and nothing removed) when no demo made it."""
        if not self.record.exists():
            return False
        for name in MADE_FILES:
            (self.home / name).unlink(missing_ok=True)
        for name in MADE_FOLDERS:
            shutil.rmtree(self.home / name, ignore_errors=True)
        self.dagster_log.unlink(missing_ok=True)
        if self.dagster_home.exists():
            for entry in self.dagster_home.iterdir():
                if entry.name == "dagster.yaml":
                    continue  # the instance's settings stay
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        self.record.unlink(missing_ok=True)
        return True

    def save_record(self, record: dict) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        temporary = self.record.with_suffix(".tmp")
        temporary.write_text(json.dumps(record, indent=2, sort_keys=True))
        temporary.replace(self.record)

    def load_record(self) -> dict | None:
        if not self.record.exists():
            return None
        return json.loads(self.record.read_text())

    def running_ui(self) -> int | None:
        """The pid of this home's `make ui` if it still runs."""
        try:
            pid = int(self.ui_pid.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid  # alive, someone else's process
        return pid
