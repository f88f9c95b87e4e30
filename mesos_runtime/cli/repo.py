"""`infinity repo add|list|remove`: the package repositories searched before the built-in
one, kept in the CLI's config dir (`$INFINITY_CONFIG_DIR`, else ~/.config/infinity)."""

from __future__ import annotations

from typing import Annotated

import typer

from mesos_runtime.universe.repository import RepositoryList

from .catalog import JsonOption, paths, repositories, universe_errors
from .output import out, print_json, table

app = typer.Typer(help="Package repositories: folders of packages, or artifact mirrors.")


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="A name for the repository.")],
    location: Annotated[
        str,
        typer.Argument(
            help="A folder of packages, a mirror folder, or the URL of `infinity mirror serve`."
        ),
    ],
) -> None:
    """Add a repository (it must hold packages); it is searched before the built-in one."""
    with universe_errors():
        entry = RepositoryList(paths()).add(name, location)
    out.print(f"added repository {entry.name}: {entry.location}", markup=False)


@app.command("list")
def list_repositories(json_output: JsonOption = False) -> None:
    """The repositories in the order they are searched."""
    with universe_errors():
        repos = repositories()
        rows = [
            {"name": r.name, "location": r.location, "packages": len(r.summaries())} for r in repos
        ]
    if json_output:
        print_json(rows)
        return
    out.print(table(None, ["NAME", "LOCATION", "PACKAGES"], [tuple(r.values()) for r in rows]))


@app.command()
def remove(name: Annotated[str, typer.Argument(help="The repository's name.")]) -> None:
    """Remove an added repository."""
    with universe_errors():
        RepositoryList(paths()).remove(name)
    out.print(f"removed repository {name}", markup=False)
