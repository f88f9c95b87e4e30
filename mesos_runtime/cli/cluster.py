"""`infinity cluster up|status|down`: the local cluster on 127.0.0.1 (see localcluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from . import localcluster
from .endpoints import master_state, master_url
from .localcluster import ClusterError, ClusterState, cluster_dir
from .output import err, fail, out, print_json, table

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
    port: Annotated[int, typer.Option("--port", help="The master's port.")] = 5050,
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
    if not any(p["running"] for p in [processes["master"], *processes["agents"]]):
        if json_output:
            print_json({"cluster": processes, "master_state": None})
        else:
            _print_processes(processes)
        fail(f"the local cluster in {where} is not running (`infinity cluster up` starts it)")
    doc = master_state(state.master.address)
    if json_output:
        print_json(
            {
                "cluster": processes,
                "master": master_url(state.master.address),
                "agents": [_agent_summary(a) for a in doc.get("slaves", [])],
                "frameworks": [_framework_summary(f) for f in doc.get("frameworks", [])],
            }
        )
        return
    _print_processes(processes)
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


def _load(where: Path) -> ClusterState | None:
    try:
        return ClusterState.load(where)
    except ClusterError as e:
        fail(str(e))


def _print_processes(processes: dict[str, Any]) -> None:
    rows = [
        (
            p["kind"],
            p["pid"],
            f"{p.get('ip') or '127.0.0.1'}:{p['port']}",
            p.get("attributes") or "",
            "running" if p["running"] else "stopped",
        )
        for p in [processes["master"], *processes["agents"]]
    ]
    out.print(
        table(
            f"Local cluster ({processes['directory']})",
            ["ROLE", "PID", "ADDRESS", "ATTRIBUTES", ""],
            rows,
        )
    )


def _print_master(doc: dict[str, Any]) -> None:
    agents = [_agent_summary(a) for a in doc.get("slaves", [])]
    out.print()
    out.print(
        table(
            f"Agents ({len(agents)})",
            ["ID", "HOSTNAME", "ADDRESS", "ATTRIBUTES", "ACTIVE", "CPUS (used/total)", "MEM MB"],
            [
                (
                    a["id"],
                    a["hostname"],
                    a["address"],
                    ";".join(f"{k}:{v}" for k, v in sorted(a["attributes"].items())),
                    a["active"],
                    f"{a['used']['cpus']:g}/{a['total']['cpus']:g}",
                    f"{a['used']['mem']:g}/{a['total']['mem']:g}",
                )
                for a in agents
            ],
        )
    )
    frameworks = [_framework_summary(f) for f in doc.get("frameworks", [])]
    out.print()
    out.print(
        table(
            f"Frameworks ({len(frameworks)})",
            ["ID", "NAME", "ACTIVE", "TASKS"],
            [(f["id"], f["name"], f["active"], f["tasks"]) for f in frameworks],
        )
    )


def _agent_summary(agent: dict[str, Any]) -> dict[str, Any]:
    def scalars(resources: dict[str, Any] | None) -> dict[str, float]:
        resources = resources or {}
        return {k: float(resources.get(k, 0) or 0) for k in ("cpus", "mem", "disk")}

    pid = agent.get("pid", "")
    address = pid.split("@", 1)[1] if "@" in pid else f"{agent.get('hostname')}:{agent.get('port')}"
    return {
        "id": agent.get("id"),
        "hostname": agent.get("hostname"),
        "address": address,
        "attributes": dict(agent.get("attributes") or {}),
        "active": bool(agent.get("active", True)),
        "total": scalars(agent.get("resources")),
        "used": scalars(agent.get("used_resources")),
    }


def _framework_summary(framework: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": framework.get("id"),
        "name": framework.get("name"),
        "active": bool(framework.get("active", True)),
        "tasks": len(framework.get("tasks", [])),
    }
