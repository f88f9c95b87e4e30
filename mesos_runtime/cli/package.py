"""`infinity package lint|lock DIR`: check a package before it is published; resolve its
Maven artifacts and write their lock (every file with its sha512)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from mesos_runtime.universe.artifacts import ArtifactStore
from mesos_runtime.universe.lint import lint_package
from mesos_runtime.universe.lock import LOCK_FILE
from mesos_runtime.universe.package import load_package

from .catalog import JsonOption, paths, universe_errors
from .output import err, fail, out, print_json

app = typer.Typer(help="Check and lock package folders.")

PackageDir = Annotated[Path, typer.Argument(help="The package's folder.")]


@app.command()
def lint(directory: PackageDir, json_output: JsonOption = False) -> None:
    """Schema valid with defaults, templates render into a valid spec, artifacts locked,
    README present. Exits 1 when any check fails."""
    report = lint_package(directory)
    if json_output:
        print_json(dataclasses.asdict(report) | {"ok": report.ok})
    else:
        for warning in report.warnings:
            err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
        for error in report.errors:
            err.print(f"[red]error:[/] {escape(error)}", highlight=False)
    if not report.ok:
        fail(f"package {report.package}: {len(report.errors)} problem(s)")
    if not json_output:
        out.print(f"package {report.package}: ok", markup=False)


@app.command()
def lock(directory: PackageDir) -> None:
    """Resolve every Maven artifact with Maven and (re)write the package's lock file."""
    with universe_errors():
        package = load_package(directory)
        new = ArtifactStore(paths()).lock_package(package)
    (directory / LOCK_FILE).write_text(new.dump())
    for library in new.libraries:
        out.print(
            f"{package.name}: {library.name}: {len(library.files)} files locked "
            f"(packed sha512 {library.packed_sha512[:16]}…)",
            markup=False,
        )
