"""The data-access rule, enforced on the source: library functions take a `Session` (or a
`Connection`) from their caller and never commit it; only the edges and a few workers that by
design need transactions of their own open one (`session_scope(`, `get_engine(`). See the
README, "Layout", and warehouse/db.py."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "cloudinsights_dagster"
OPENERS = {"session_scope", "get_engine"}
ENDERS = {"commit", "rollback"}  # on a session or connection the function was given

# Edges: every function of these modules (or packages) may open transactions.
EDGE_MODULES = {
    "warehouse/db.py": "defines session_scope and get_engine",
    "assets/": "Dagster assets and checks own their runs' transactions",
    "sensors/": "Dagster sensors own their ticks' transactions",
    "schedules/": "Dagster schedules own their ticks' transactions",
    "resources/": "WarehouseResource.session(): how assets and sensors open a transaction",
    "cli/": "each command owns its transactions",
    "demo/run.py": "the demo command's runner (an edge like the CLI)",
    "registry.py": "Registry: a service object whose every public method is one transaction",
    "registry_bulk.py": "the Registry's bulk operations, one transaction each",
}

# Workers that by design commit in between (each says why in a comment where it opens one).
WORKERS = {
    "flowlogs/process.py": {
        # Each claim batch, object outcome and its logs commit on their own: a crash loses
        # nothing done, and other runs' SKIP LOCKED claims see the claims at once.
        "drain_day",
        "_claim_batch",
        "_record",
        "_process_one",  # a compacted file's rewrite commits before the object's new file
        "EnrichmentIndexes.index",  # a read of its own, from the object worker threads
    },
    "flowlogs/leases.py": {"LeaseKeeper._loop"},  # renewals from a background thread
    "flowlogs/intake.py": {"take_in_queue"},  # a chunk commits before its messages go
    "flowlogs/reconcile.py": {"reconcile_day"},  # no transaction open across S3 listing
    "flowlogs/subscriptions.py": {"subscribe_due_topics"},  # none open across SNS calls
    # The merged files are deleted only after the ledger's move is committed.
    "flowlogs/table.py": {"compact_day", "compact_partition"},
    # A short read and a write around the aggregation, the write committed under the lock.
    "views/refresh.py": {"refresh_run_views", "refresh_partition_views", "_refresh_locked"},
    "views/refresh_lock.py": {"refresh_lock"},  # an advisory lock outliving transactions
    "inventory/monitor.py": {"snapshot_locations.work"},  # a location commits on its own
}


def _is_edge(module: str) -> bool:
    return any(module == m or (m.endswith("/") and module.startswith(m)) for m in EDGE_MODULES)


class _Finder(ast.NodeVisitor):
    """(qualified function, line, what) of every transaction opened or ended in a module."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.aliases = set(OPENERS)
        self.found: list[tuple[str, int, str]] = []

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name in OPENERS and alias.asname:
                self.aliases.add(alias.asname)

    def _scoped(self, node) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        where = ".".join(self.stack) or "<module>"
        if name in self.aliases or name in OPENERS:
            self.found.append((where, node.lineno, f"{name}("))
        elif (
            name in ENDERS
            and isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in {"session", "connection", "conn"}
        ):
            self.found.append((where, node.lineno, f"{func.value.id}.{name}()"))
        self.generic_visit(node)


@cache
def _modules() -> dict[str, list[tuple[str, int, str]]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        finder = _Finder()
        finder.visit(ast.parse(path.read_text(), str(path)))
        found[path.relative_to(PACKAGE).as_posix()] = finder.found
    return found


def test_only_the_edges_and_the_listed_workers_open_or_end_transactions():
    offences = [
        f"cloudinsights_dagster/{module}:{line} {function} calls {what}"
        for module, found in _modules().items()
        if not _is_edge(module)
        for function, line, what in found
        if function not in WORKERS.get(module, ())
    ]
    assert not offences, (
        "Library functions take a Session (or Connection) as their first argument and never "
        "commit it: the caller owns the transaction. Open sessions only at the edges (assets, "
        "sensors, schedules, resources, CLI, Registry) or, for a worker that must commit in "
        "between, add it to WORKERS here with the reason (README, 'Layout'):\n"
        + "\n".join(offences)
    )


def test_a_session_is_the_first_argument():
    """`f(session, ...)` everywhere: a function's transaction is visible at its call."""
    misplaced = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            if args and args[0].arg in ("self", "cls"):
                args = args[1:]
            for i, arg in enumerate(args):
                annotation = ast.unparse(arg.annotation) if arg.annotation else ""
                is_db = annotation in ("Session", "sa.Connection", "Connection") or (
                    arg.arg == "session" and "boto3" not in annotation
                )
                if is_db and i:
                    misplaced.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert not misplaced, "a Session or Connection goes first:\n" + "\n".join(misplaced)


@pytest.mark.parametrize(
    ("module", "function"),
    sorted((module, function) for module, names in WORKERS.items() for function in names),
)
def test_every_listed_worker_still_opens_its_own_transactions(module, function):
    """A stale entry would let a later function of that name skip the rule unnoticed."""
    assert function in {f for f, _, _ in _modules()[module]}


def test_the_finder_catches_a_library_function_that_opens_a_session():
    finder = _Finder()
    finder.visit(
        ast.parse(
            "from cloudinsights_dagster.warehouse.db import session_scope as scope\n"
            "class Store:\n"
            "    def save(self, url):\n"
            "        with scope(url) as session:\n"
            "            session.commit()\n"
            "def engine(url):\n"
            "    return db.get_engine(url)\n"
        )
    )
    assert finder.found == [
        ("Store.save", 4, "scope("),
        ("Store.save", 5, "session.commit()"),
        ("engine", 7, "get_engine("),
    ]
