"""What the universe commands share: where the universe lives (cache, config, built-in
packages), the repositories in their order, finding a package, and universe errors turned
into one clear CLI error each.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from mesos_runtime.universe.package import Package
from mesos_runtime.universe.paths import UniversePaths
from mesos_runtime.universe.repository import Repository, find_package, open_repositories

from .output import fail

__all__ = ["JsonOption", "find", "paths", "repositories", "schema_rows", "universe_errors"]

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@contextlib.contextmanager
def universe_errors() -> Iterator[None]:
    """Every universe error (bad options, a tampered artifact, an unknown package...) is a
    ValueError whose message is meant for the user."""
    try:
        yield
    except ValueError as e:
        fail(escape(str(e)))  # messages quote patterns like [a-z]: not rich markup


def paths() -> UniversePaths:
    return UniversePaths.from_env()


def repositories() -> list[Repository]:
    with universe_errors():
        return open_repositories(paths())


def find(name: str, version: str | None = None) -> Package:
    with universe_errors():
        return find_package(repositories(), name, version)


def schema_rows(schema: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """Each option of a schema, flattened: path, type, default, description."""
    rows = []
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        if sub.get("properties"):
            rows.extend(schema_rows(sub, path + "."))
            continue
        kind = sub.get("type") or ("enum" if "enum" in sub else "")
        if "enum" in sub:
            kind = " | ".join(map(str, sub["enum"]))
        rows.append(
            {
                "option": path,
                "type": kind if isinstance(kind, str) else "|".join(kind),
                "default": sub.get("default"),
                "description": sub.get("description", ""),
            }
        )
    return rows


def existing_dir(path: Path) -> Path:
    if not path.is_dir():
        fail(f"{path}: not a folder")
    return path
