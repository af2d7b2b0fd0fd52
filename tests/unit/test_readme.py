"""The README stays true to the package."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def settings_variables() -> set[str]:
    """The CLOUDINSIGHTS_* variables settings.py reads (the one module that reads them)."""
    text = (ROOT / "cloudinsights_dagster" / "settings.py").read_text()
    return set(re.findall(r"CLOUDINSIGHTS_[A-Z_]+[A-Z]", text))


def test_the_readme_documents_every_setting_the_package_reads():
    """Every CLOUDINSIGHTS_* variable settings.py reads has a row in the README's table, and
    every row is a variable it reads."""
    read = settings_variables()
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(CLOUDINSIGHTS_[A-Z_]+)`", table))
    assert read, "no setting found: the scan is broken"
    assert sorted(read - documented) == []
    assert sorted(documented - read) == []
