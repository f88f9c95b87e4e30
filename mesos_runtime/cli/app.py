"""The `infinity` command: one typer app, one sub-app per command group."""

from __future__ import annotations

import sys

import typer

from . import cluster, mirror, node, package, repo, task, universe
from .output import CliError, err

app = typer.Typer(
    name="infinity",
    help="Infinity: a Mesos-model cluster runtime and package universe.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(cluster.app, name="cluster")
app.add_typer(task.app, name="task")
app.command("search")(universe.search)
app.command("describe")(universe.describe)
app.add_typer(repo.app, name="repo")
app.add_typer(mirror.app, name="mirror")
app.add_typer(package.app, name="package")
app.add_typer(node.app, name="node")


def main() -> None:
    """Console-script entry point: user-facing errors become one line and exit status 1."""
    try:
        app()
    except CliError as e:
        err.print(f"[red]error:[/] {e}")
        sys.exit(e.code)
