"""The `infinity` command: one typer app, one sub-app per command group."""

from __future__ import annotations

import logging
import sys
from importlib import metadata
from typing import Annotated

import typer

from . import cluster, install, listing, mirror, node, package, repo, service, task, universe
from .output import CliError, err, out

app = typer.Typer(
    name="infinity",
    help="Infinity: a Mesos-model cluster runtime and package universe. "
    "An installed service has commands of its own: infinity <service> plan|pod|endpoints ...",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        out.print(f"infinity {infinity_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Infinity: a Mesos-model cluster runtime and package universe."""


def infinity_version() -> str:
    """The installed distribution's version (the source tree's when run uninstalled)."""
    try:
        return metadata.version("infinity-mesos")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


app.add_typer(cluster.app, name="cluster")
app.add_typer(task.app, name="task")
app.add_typer(listing.agents_app, name="agent")
app.add_typer(listing.frameworks_app, name="framework")
app.command("search")(universe.search)
app.command("describe")(universe.describe)
app.add_typer(repo.app, name="repo")
app.add_typer(mirror.app, name="mirror")
app.add_typer(package.app, name="package")
app.add_typer(node.app, name="node")
app.command("install")(install.install)
app.command("list")(install.list_services)
app.command("update")(install.update)
app.command("rollback")(install.rollback)
app.command("history")(install.history)
app.command("uninstall")(install.uninstall)


def _service_args(args: list[str]) -> tuple[str, list[str]] | None:
    """`infinity <service> ...` when the first word is no command of ours: the service."""
    if not args or args[0].startswith("-"):
        return None
    group = typer.main.get_group(app)
    if args[0] in group.commands:
        return None
    return args[0], args[1:]


def main() -> None:
    """Console-script entry point: user-facing errors become one line and exit status 1."""
    # kazoo narrates every reconnect attempt; a `zk://` failure is reported in one line
    logging.getLogger("kazoo").addHandler(logging.NullHandler())
    logging.getLogger("kazoo").propagate = False
    try:
        routed = _service_args(sys.argv[1:])
        if routed is None:
            app()
        else:
            service.app(args=routed[1], obj=routed[0], prog_name=f"infinity {routed[0]}")
    except CliError as e:
        err.print(f"[red]error:[/] {e}")
        sys.exit(e.code)
