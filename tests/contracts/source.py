"""The project's own Python source, for the tests that read it with `ast`."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. "signatures.services"
    path: Path
    tree: ast.Module


def project_packages() -> list[Path]:
    """The repository's top-level packages (the project and its apps): not the
    tests, nor the benchmarks (bench/ is a package only so that config.urls
    can add the baseline route when BENCHMARK_ROUTES is on)."""
    base = Path(settings.BASE_DIR)
    return sorted(
        p.parent for p in base.glob("*/__init__.py") if p.parent.name not in {"tests", "bench"}
    )


def project_modules() -> Iterator[Module]:
    """Every module of those packages except migrations."""
    base = Path(settings.BASE_DIR)
    for package in project_packages():
        for path in sorted(package.rglob("*.py")):
            relative = path.relative_to(base)
            if "migrations" in relative.parts:
                continue
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield Module(".".join(parts), path, ast.parse(path.read_text(), filename=str(path)))
