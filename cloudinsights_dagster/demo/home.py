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

from cloudinsights_dagster.settings import home_folder

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
DAGSTER_STATE = ("storage", "history", "schedules")  # an instance that has been used


@dataclass(frozen=True)
class DemoHome:
    home: Path
    dagster_home: Path

    @classmethod
    def from_env(cls) -> DemoHome:
        home = home_folder()
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

    def events_logged_to_file(self) -> bool:
        """Whether the instance's settings send run events to `dagster_log` (settings kept from
        before, say a copy of deploy/dagster-local.yaml, may not)."""
        config = self.dagster_home / "dagster.yaml"
        return config.exists() and str(self.dagster_log) in config.read_text()

    def foreign_state(self) -> Path | None:
        """State here that no demo recorded making (someone's warehouse or Dagster instance)."""
        record = self.load_record()
        if record is None and self.warehouse.exists():
            return self.warehouse
        ours = self._made_dagster_home(record)
        if ours != self.dagster_home and any(
            (self.dagster_home / name).exists() for name in DAGSTER_STATE
        ):
            return self.dagster_home
        return None

    def _made_dagster_home(self, record: dict | None) -> Path | None:
        """The Dagster home a demo may clear: the one its record names, else one inside this
        home (a DAGSTER_HOME elsewhere may be someone's real instance)."""
        if record and record.get("dagster_home"):
            return Path(record["dagster_home"])
        if self.dagster_home.is_relative_to(self.home):
            return self.dagster_home
        return None

    def reset(self) -> bool:
        """Remove what the last demo made; False (and nothing removed) when no demo made it."""
        record = self.load_record()
        if record is None:
            return False
        for name in MADE_FILES:
            (self.home / name).unlink(missing_ok=True)
        for name in MADE_FOLDERS:
            shutil.rmtree(self.home / name, ignore_errors=True)
        self.dagster_log.unlink(missing_ok=True)
        dagster_home = self._made_dagster_home(record)
        if dagster_home is not None and dagster_home.exists():
            for entry in dagster_home.iterdir():
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
