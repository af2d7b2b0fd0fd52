"""The README stays true to the package."""

import re
from pathlib import Path


def test_the_readme_documents_every_setting_the_package_reads():
    """Every CLOUDINSIGHTS_* variable the package reads has a row in the README's table."""
    root = Path(__file__).resolve().parents[2]
    read = set()
    for path in (root / "cloudinsights_dagster").rglob("*.py"):
        read |= set(re.findall(r"CLOUDINSIGHTS_[A-Z_]+[A-Z]", path.read_text()))
    readme = (root / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(CLOUDINSIGHTS_[A-Z_]+)`", table))
    assert read, "no setting found: the scan is broken"
    assert sorted(read - documented) == []
