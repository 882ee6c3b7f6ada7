"""The dependency order between the project's apps (issue 14, the redesign).

    core <- organizing <- letters <- signatures <- petitions
    core <- organizing <- discussions

`config` (the Django project) sits above all: it may import everything and
nothing imports it (settings are read through django.conf.settings), except
the entry points that start the project. A lower app never imports a higher
one: it offers a template block, a template tag or a Django signal that the
higher app fills. Every import counts, function-local ones too: they hide a
dependency, they do not remove it.

Today `organizing` is also the project and `signatures` holds the petition
export, so the order cannot hold yet: the test is expected to fail until the
redesign (issue 14) lands, and must pass from then on.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from tests.contracts.source import Module, project_modules

# What each app may import (besides itself).
MAY_IMPORT = {
    "config": {"core", "organizing", "discussions", "letters", "signatures", "petitions"},
    "core": set(),
    "organizing": {"core"},
    "discussions": {"core", "organizing"},
    "letters": {"core", "organizing"},
    "signatures": {"core", "organizing", "letters"},
    "petitions": {"core", "organizing", "letters", "signatures"},
}
# Entry points that start the project, whose only job is to import config: the
# one-line shims kept one release for installed servers (docs/operations.md).
ENTRY_POINTS = {"organizing.asgi", "organizing.wsgi", "organizing.celery"}


def imported_modules(module: Module) -> set[str]:
    """Absolute names of the modules `module` imports."""
    package = module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]
    found = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            found.add(name)
    return found


def app_of(module_name: str) -> str | None:
    top = module_name.split(".")[0]
    return top if top in MAY_IMPORT else None


def app_imports(modules: Iterable[Module]) -> tuple[dict[str, set[str]], list[str]]:
    """({app: apps it imports}, the upward imports as "module -> module")."""
    graph: dict[str, set[str]] = defaultdict(set)
    upward = []
    for module in modules:
        app = app_of(module.name)
        assert app is not None, f"{module.name}: add its app to MAY_IMPORT (in its place)"
        if module.name in ENTRY_POINTS:
            continue
        for target in sorted(imported_modules(module)):
            other = app_of(target)
            if other is None or other == app:
                continue
            graph[app].add(other)
            if other not in MAY_IMPORT[app]:
                upward.append(f"{module.name} -> {target}")
    return graph, upward


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one app (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(app: str) -> None:
        index[app] = low[app] = len(index)
        stack.append(app)
        for other in sorted(graph.get(app, ())):
            if other not in index:
                visit(other)
                low[app] = min(low[app], low[other])
            elif other in stack:
                low[app] = min(low[app], index[other])
        if low[app] == index[app]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == app:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for app in sorted(graph):
        if app not in index:
            visit(app)
    return found


def test_every_module_has_a_place_in_the_order():
    apps = {app_of(module.name) for module in project_modules()}
    assert None not in apps
    assert {"organizing", "letters", "signatures"} <= apps


def fake_module(name: str, source: str) -> Module:
    path = Path(*name.split(".")).with_suffix(".py")
    return Module(name, path, ast.parse(source))


def test_the_check_finds_upward_imports_and_cycles():
    modules = [
        fake_module("core.crypto", ""),
        fake_module("letters.views", "def f():\n    from signatures.selectors import x\n"),
        fake_module("signatures.api", "from letters import models\nimport core.crypto\n"),
        fake_module("signatures.export.tasks", "from .. import services\nfrom . import render\n"),
        fake_module("organizing.asgi", "from config.asgi import application\n"),
    ]
    assert imported_modules(modules[3]) == {"signatures", "signatures.export"}
    graph, upward = app_imports(modules)
    assert upward == ["letters.views -> signatures.selectors"]
    assert cycles(graph) == [["letters", "signatures"]]


def test_no_upward_import_and_no_cycle_between_apps():
    graph, upward = app_imports(project_modules())
    problems = [f"upward import: {line}" for line in upward]
    problems += [f"import cycle between apps: {', '.join(group)}" for group in cycles(graph)]
    assert not problems, "\n".join(problems)
