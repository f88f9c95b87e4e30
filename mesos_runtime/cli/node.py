"""`infinity node list|bootstrap|drain|undrain|upgrade|remove|ssh|diag`: SSH-driven host
operations on the hosts of an Ansible inventory (the one the playbooks use), over
Fabric/paramiko with host keys checked against known_hosts (mesos_runtime/ops)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from mesos_runtime.ops import nodes
from mesos_runtime.ops.inventory import Inventory, InventoryError, load
from mesos_runtime.ops.master_api import MasterApiError, OperatorApi
from mesos_runtime.ops.ssh import HostResult, SshOptions, connect, describe_error

from .output import err, fail, out, print_json, table

app = typer.Typer(help="Operate the hosts of an Ansible inventory over SSH.")

InventoryOption = Annotated[
    Path,
    typer.Option(
        "--inventory",
        "-i",
        envvar="INFINITY_INVENTORY",
        help="The Ansible inventory (file or directory) the playbooks use.",
    ),
]
AcceptOption = Annotated[
    bool,
    typer.Option(
        "--accept-unknown-host-keys",
        help="Trust host keys not in known_hosts (for this run only). A changed key is "
        "always refused.",
    ),
]
ParallelOption = Annotated[
    int, typer.Option("--parallel", min=1, max=100, help="Hosts worked on at once.")
]
DEFAULT_INVENTORY = Path("inventories/local")


def _inventory(path: Path) -> Inventory:
    try:
        return load(path)
    except InventoryError as e:
        fail(str(e))


def _report(results: list[HostResult], what: str) -> None:
    """Every host's outcome; exit status 1 when any failed."""
    failed = [r for r in results if not r.ok]
    for result in results:
        mark = "[green]ok[/]" if result.ok else f"[red]failed:[/] {result.error}"
        err.print(f"{result.host.name}: {mark}")
    if failed:
        fail(
            f"{what} failed on {len(failed)} of {len(results)} host(s): "
            + ", ".join(r.host.name for r in failed)
        )


def _run(action):
    try:
        return action()
    except (InventoryError, MasterApiError, nodes.NodeError) as e:
        fail(str(e))


@app.command("list")
def list_nodes(
    inventory: InventoryOption = DEFAULT_INVENTORY,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The inventory's hosts with their groups and their agents' state."""
    inv = _inventory(inventory)
    rows = nodes.status(inv, OperatorApi(inv))
    if as_json:
        print_json(
            [
                {
                    "host": r.host.name,
                    "address": r.host.address,
                    "groups": sorted(r.host.groups),
                    "agent_id": r.agent_id,
                    "active": r.active,
                    "drain_state": r.drain_state,
                    "leading_master": r.leading,
                }
                for r in rows
            ]
        )
        return
    out.print(
        table(
            None,
            ["HOST", "ADDRESS", "GROUPS", "AGENT", "ACTIVE", "DRAIN", "LEADER"],
            [
                (
                    r.host.name,
                    r.host.address,
                    ",".join(sorted(r.host.groups)),
                    r.agent_id or "-",
                    {True: "yes", False: "no", None: "-"}[r.active],
                    r.drain_state or "-",
                    "*" if r.leading else "",
                )
                for r in rows
            ],
        )
    )


@app.command()
def drain(
    host: Annotated[str, typer.Argument(help="The agent's inventory host name (or address).")],
    inventory: InventoryOption = DEFAULT_INVENTORY,
    *,
    grace_period: Annotated[
        int | None,
        typer.Option("--grace-period", min=0, help="Max seconds between SIGTERM and SIGKILL."),
    ] = None,
    mark_gone: Annotated[
        bool, typer.Option(help="Remove the agent for good once drained.")
    ] = False,
    wait: Annotated[bool, typer.Option(help="Wait until the agent is DRAINED.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for DRAINED.")] = 600.0,
) -> None:
    """Drain a host's agent: no new tasks, its tasks killed, DRAINED once they all ended."""
    inv = _inventory(inventory)
    _run(
        lambda: nodes.drain(
            inv,
            OperatorApi(inv),
            host,
            grace_period=grace_period,
            mark_gone=mark_gone,
            wait=wait,
            timeout=timeout,
            progress=err.print,
        )
    )


@app.command()
def undrain(
    host: Annotated[str, typer.Argument(help="The agent's inventory host name (or address).")],
    inventory: InventoryOption = DEFAULT_INVENTORY,
) -> None:
    """Reactivate a drained (or deactivated) agent: offers resume."""
    inv = _inventory(inventory)
    _run(lambda: nodes.undrain(inv, OperatorApi(inv), host))
    err.print(f"{host}: reactivated")


@app.command()
def bootstrap(
    host: Annotated[str, typer.Argument(help="A new host of the inventory's agents group.")],
    inventory: InventoryOption = DEFAULT_INVENTORY,
    accept_unknown_host_keys: AcceptOption = False,
) -> None:
    """Set up an agent on a new host (checks its SSH key, then runs scale.yml on it)."""
    inv = _inventory(inventory)
    ssh = SshOptions(accept_unknown_host_keys=accept_unknown_host_keys)
    try:
        code = nodes.bootstrap(inv, host, ssh, progress=err.print)
    except (InventoryError, nodes.NodeError) as e:
        fail(str(e))
    except Exception as e:  # noqa: BLE001 - SSH failures become one line for the operator
        fail(f"{host}: {describe_error(e)}")
    if code != 0:
        fail(f"{host}: ansible-playbook failed (exit {code})", code)


@app.command()
def upgrade(
    hosts: Annotated[
        list[str] | None, typer.Argument(help="Agents to upgrade [default: all].")
    ] = None,
    inventory: InventoryOption = DEFAULT_INVENTORY,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Agents restarted at once.")] = 1,
    wheelhouse_dir: Annotated[
        Path | None,
        typer.Option(
            help="A wheelhouse built by mesos_runtime/ops/wheelhouse.py [default: build one]."
        ),
    ] = None,
    accept_unknown_host_keys: AcceptOption = False,
) -> None:
    """Rolling upgrade of agents to this checkout's runtime; their tasks keep running."""
    inv = _inventory(inventory)
    ssh = SshOptions(accept_unknown_host_keys=accept_unknown_host_keys)
    results = _run(
        lambda: nodes.upgrade(
            inv,
            OperatorApi(inv),
            hosts,
            ssh,
            batch=batch,
            wheelhouse_dir=wheelhouse_dir,
            progress=err.print,
        )
    )
    _report(results, "upgrade")


@app.command()
def remove(
    host: Annotated[str, typer.Argument(help="The agent's inventory host name (or address).")],
    inventory: InventoryOption = DEFAULT_INVENTORY,
    grace_period: Annotated[int | None, typer.Option("--grace-period", min=0)] = None,
    accept_unknown_host_keys: AcceptOption = False,
) -> None:
    """Drain a host's agent, stop and remove it there, then mark it gone."""
    inv = _inventory(inventory)
    ssh = SshOptions(accept_unknown_host_keys=accept_unknown_host_keys)
    try:
        nodes.remove(
            inv, OperatorApi(inv), host, ssh, grace_period=grace_period, progress=err.print
        )
    except (InventoryError, MasterApiError, nodes.NodeError) as e:
        fail(str(e))
    except Exception as e:  # noqa: BLE001 - SSH failures become one line for the operator
        fail(f"{host}: {describe_error(e)}")


@app.command("ssh")
def ssh_command(
    host: Annotated[str, typer.Argument(help="An inventory host name (or address).")],
    command: Annotated[
        list[str] | None, typer.Argument(help="A command to run [default: a shell].")
    ] = None,
    inventory: InventoryOption = DEFAULT_INVENTORY,
    accept_unknown_host_keys: AcceptOption = False,
) -> None:
    """Run a command on a host (or open a shell), with the inventory's SSH settings."""
    inv = _inventory(inventory)
    try:
        target = inv.host(host)
    except InventoryError as e:
        fail(str(e))
    ssh = SshOptions(accept_unknown_host_keys=accept_unknown_host_keys)
    if command:
        try:
            connection = connect(target, ssh)
        except Exception as e:  # noqa: BLE001 - one line for the operator
            fail(f"{target.name}: {describe_error(e)}")
        try:
            result = connection.run(shlex.join(command), hide=True, warn=True, in_stream=False)
        finally:
            connection.close()
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        raise typer.Exit(result.exited)
    args = ["ssh", "-p", str(target.port)]
    for known in target.known_hosts:
        args += ["-o", f"UserKnownHostsFile={known}"]
    args += ["-o", "StrictHostKeyChecking=" + ("accept-new" if accept_unknown_host_keys else "yes")]
    if target.key_file:
        args += ["-i", target.key_file]
    args.append(f"{target.user}@{target.ssh_host}" if target.user else target.ssh_host)
    os.execvp("ssh", args)


@app.command()
def diag(
    hosts: Annotated[list[str] | None, typer.Argument(help="Hosts [default: every host].")] = None,
    inventory: InventoryOption = DEFAULT_INVENTORY,
    output: Annotated[Path, typer.Option("--output", "-o", help="The archive to write.")] = Path(
        "infinity-diag.tar.gz"
    ),
    parallel: ParallelOption = 10,
    accept_unknown_host_keys: AcceptOption = False,
) -> None:
    """Collect journals, flags, versions and the cluster's state into one archive."""
    inv = _inventory(inventory)
    ssh = SshOptions(accept_unknown_host_keys=accept_unknown_host_keys)
    results = _run(
        lambda: nodes.diag(inv, OperatorApi(inv), hosts, output, ssh=ssh, parallel=parallel)
    )
    err.print(f"wrote {output}")
    _report(results, "diagnostics")
