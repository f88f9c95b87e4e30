"""`infinity cluster up|status|down`: the local cluster on 127.0.0.1 (see localcluster)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from . import localcluster
from .endpoints import master_state, master_url
from .listing import agent_summary, framework_summary, print_agents, print_frameworks
from .localcluster import ClusterError, ClusterState, cluster_dir
from .output import CliError, err, fail, out, print_json, table

app = typer.Typer(help="Run a local cluster: a master and agents on 127.0.0.1.")

DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="Directory holding the cluster's state [default: $INFINITY_CLUSTER_DIR or ./.cluster]",
        show_default=False,
    ),
]


@app.command()
def up(  # noqa: PLR0917 - typer maps each option to a parameter
    agents: Annotated[int, typer.Option("--agents", min=1, help="Number of agents.")] = 1,
    directory: DirOption = None,
    port: Annotated[
        int,
        typer.Option("--port", min=0, max=65535, help="The master's port (0: any free one)."),
    ] = 5050,
    resources: Annotated[
        str | None,
        typer.Option(
            "--resources",
            help="Each agent's --resources (Mesos syntax); autodetected when absent.",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness.")] = 60.0,
    marathon: Annotated[
        bool, typer.Option("--marathon/--no-marathon", help="Also start Marathon (port 8080).")
    ] = True,
    authenticate: Annotated[
        bool,
        typer.Option(
            "--authenticate/--no-authenticate",
            help="Authenticate frameworks, agents and operators with generated credentials "
            "(kept under the cluster directory; the CLI presents them).",
        ),
    ] = True,
) -> None:
    """Start a standalone master, N agents and Marathon in the background; wait until ready."""
    where = cluster_dir(directory)
    try:
        with _interruptible():
            state = localcluster.start_cluster(
                where,
                agents=agents,
                port=port,
                agent_resources=resources,
                timeout=timeout,
                progress=err.print,
                marathon=marathon,
                authenticate=authenticate,
            )
    except ClusterError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted: stopped the daemons it had started", code=130)
    out.print(f"Master: {state.master.url}")
    out.print(f"Web:    {state.master.url}/")
    out.print(f"Agents: {', '.join(a.url for a in state.agents)}")
    if state.marathon is not None:
        out.print(f"Marathon: {state.marathon.url}")
    out.print(f"State:  {where}  (stop with `infinity cluster down`)")
    if state.credential:
        out.print(f"Auth:   HTTP Basic, credential {state.credential} (the CLI presents it;")
        out.print(f"        frameworks: export INFINITY_CREDENTIAL={state.credential})")


@app.command()
def status(
    directory: DirOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The local cluster's processes and what the master reports: agents, frameworks, tasks."""
    where = cluster_dir(directory)
    state = _load(where)
    if state is None:
        fail(f"no local cluster in {where} (start one with `infinity cluster up`)")
    processes = state.to_json()
    daemons = _daemons(processes)
    master = processes["master"]
    if not master["running"]:
        # the process table first: it shows what is left (e.g. agents after a master crash)
        if json_output:
            print_json({"cluster": processes, "master_state": None})
        else:
            _print_processes(processes)
        left = [p for p in daemons if p["running"]]
        if left:
            fail(
                f"the master (pid {master['pid']}) is not running but {len(left)} other "
                f"daemon(s) of the local cluster in {where} are: stop them with "
                "`infinity cluster down`, then `infinity cluster up` starts it afresh"
            )
        fail(f"the local cluster in {where} is not running (`infinity cluster up` starts it)")
    if not json_output:
        _print_processes(processes)
    try:
        doc = master_state(state.master.address)
    except CliError:
        if json_output:
            print_json({"cluster": processes, "master_state": None})
        raise
    if json_output:
        print_json(
            {
                "cluster": processes,
                "master": master_url(state.master.address),
                "agents": [agent_summary(a) for a in doc.get("slaves", [])],
                "frameworks": [framework_summary(f) for f in doc.get("frameworks", [])],
            }
        )
        return
    _print_master(doc)


@app.command()
def down(directory: DirOption = None) -> None:
    """Stop exactly the processes `cluster up` started (agents first, then the master)."""
    where = cluster_dir(directory)
    state = _load(where)
    if state is None:
        fail(f"no local cluster in {where}")
    stopped = localcluster.stop_cluster(state)
    for p in stopped:
        out.print(f"stopped {p.kind} pid {p.pid} ({p.address})")
    if not stopped:
        out.print(f"nothing was running in {where}")


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM (and SIGHUP) while starting raise KeyboardInterrupt as SIGINT does, so the
    daemons started so far (each in its own session: no signal reaches them) are stopped."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _load(where: Path) -> ClusterState | None:
    try:
        return ClusterState.load(where)
    except ClusterError as e:
        fail(str(e))


def _daemons(processes: dict[str, Any]) -> list[dict[str, Any]]:
    marathon = processes.get("marathon")
    return [processes["master"], *processes["agents"], *([marathon] if marathon else [])]


def _print_processes(processes: dict[str, Any]) -> None:
    rows = [
        (
            p["kind"],
            p["pid"],
            f"{p.get('ip') or '127.0.0.1'}:{p['port']}",
            p.get("attributes") or "",
            "running" if p["running"] else "stopped",
        )
        for p in _daemons(processes)
    ]
    out.print(
        table(
            f"Local cluster ({processes['directory']})",
            ["ROLE", "PID", "ADDRESS", "ATTRIBUTES", ""],
            rows,
        )
    )


def _print_master(doc: dict[str, Any]) -> None:
    out.print()
    print_agents([agent_summary(a) for a in doc.get("slaves", [])])
    out.print()
    print_frameworks([framework_summary(f) for f in doc.get("frameworks", [])])
