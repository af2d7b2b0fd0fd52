"""settings.py is the one place the package reads its environment variables, each checked with a
message that names the variable, the value and what is allowed."""

import re
from pathlib import Path

import pytest

from cloudinsights_dagster import settings

PACKAGE = Path(settings.__file__).resolve().parent
VARIABLE = r"CLOUDINSIGHTS_[A-Z_]+[A-Z]"
# Modules besides settings.py that may touch os.environ, and why.
OTHER_READERS = {
    "aws/sessions.py",  # the AWS SDK's own variables (AWS_ENDPOINT_URL, AWS_DEFAULT_REGION)
    "doctor.py",  # DAGSTER_HOME, Dagster's own variable
    "cli/common.py",  # DAGSTER_HOME
}


def test_no_module_but_settings_reads_a_cloudinsights_variable():
    readers, mentioned = set(), set()
    for path in PACKAGE.rglob("*.py"):
        name = path.relative_to(PACKAGE).as_posix()
        text = path.read_text()
        mentioned |= set(re.findall(VARIABLE, text))
        # The demo sets the variables of the processes it starts (and reads the home to set it).
        if re.search(r"os\.environ|getenv", text) and not name.startswith("demo/"):
            readers.add(name)
    assert readers == OTHER_READERS | {"settings.py"}
    # Messages and help texts name only variables that settings.py reads.
    assert (
        sorted(mentioned - set(re.findall(VARIABLE, (PACKAGE / "settings.py").read_text()))) == []
    )


def test_location_threads_come_from_the_environment_with_a_clear_error(monkeypatch):
    monkeypatch.delenv(settings.LOCATION_THREADS_ENV, raising=False)
    assert settings.location_threads() == 8
    monkeypatch.setenv(settings.LOCATION_THREADS_ENV, "32")
    assert settings.location_threads() == 32
    for bad in ("0", "257", "many", "-1"):
        monkeypatch.setenv(settings.LOCATION_THREADS_ENV, bad)
        with pytest.raises(
            ValueError,
            match=f"CLOUDINSIGHTS_INVENTORY_LOCATION_THREADS='{bad}'.*whole number from 1 to 256",
        ):
            settings.location_threads()


def test_run_retention_days_take_run_config_first_and_check_it_too(monkeypatch):
    monkeypatch.setenv(settings.RUN_RETENTION_DAYS_ENV, "")
    assert settings.run_retention_days() == 14.0
    monkeypatch.setenv(settings.RUN_RETENTION_DAYS_ENV, "30")
    assert settings.run_retention_days() == 30.0
    assert settings.run_retention_days(2) == 2.0
    with pytest.raises(ValueError, match="CLOUDINSIGHTS_RUN_RETENTION_DAYS='0'.*above 0"):
        settings.run_retention_days(0)
