"""The package runs its demo without the dev extra: no module imports a test tool, and moto (the
demo's fake AWS) only inside the demo package, which the `demo` extra installs it for."""

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "cloudinsights_dagster"
DEV_ONLY = {"pytest", "xdist", "selenium", "ruff"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_imports_a_dev_only_package():
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & DEV_ONLY)
        for path in PACKAGE.rglob("*.py")
        if _imports(path) & DEV_ONLY
    }
    assert offenders == {}


def test_moto_only_in_the_demo_package_and_its_extra():
    importers = {
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if "moto" in _imports(path)
    }
    assert importers and all(name.startswith("demo/") for name in importers), importers
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(req.startswith("moto") for req in extras["demo"])
