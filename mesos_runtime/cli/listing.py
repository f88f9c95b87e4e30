"""`infinity agent list` and `infinity framework list`: what the master (`--master`, a
`zk://` one included) reports of its agents and frameworks, as tables or `--json`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .endpoints import master_state, resolve_master
from .options import JsonFlag, MasterOption
from .output import out, print_json, table

agents_app = typer.Typer(help="The agents registered with the master.")
frameworks_app = typer.Typer(help="The frameworks registered with the master.")


@agents_app.command("list")
def list_agents(master: MasterOption = None, json_output: JsonFlag = False) -> None:
    """Agents: id, address, whether active, resources used of total."""
    doc = master_state(resolve_master(master))
    agents = [agent_summary(a) for a in doc.get("slaves", [])]
    if json_output:
        print_json(agents)
        return
    print_agents(agents)


@frameworks_app.command("list")
def list_frameworks(
    master: MasterOption = None,
    include_completed: Annotated[
        bool, typer.Option("--all", help="Include completed (torn down) frameworks.")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Frameworks: id, name, whether active, their tasks."""
    doc = master_state(resolve_master(master))
    frameworks = [framework_summary(f) for f in doc.get("frameworks", [])]
    if include_completed:
        frameworks += [
            {**framework_summary(f), "completed": True} for f in doc.get("completed_frameworks", [])
        ]
    if json_output:
        print_json(frameworks)
        return
    print_frameworks(frameworks)


def print_agents(agents: list[dict[str, Any]]) -> None:
    out.print(
        table(
            f"Agents ({len(agents)})",
            [
                "ID",
                "HOSTNAME",
                "ADDRESS",
                "ATTRIBUTES",
                "ACTIVE",
                "CPUS (used/total)",
                "MEM MB (used/total)",
            ],
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


def print_frameworks(frameworks: list[dict[str, Any]]) -> None:
    out.print(
        table(
            f"Frameworks ({len(frameworks)})",
            ["ID", "NAME", "ACTIVE", "TASKS"],
            [(f["id"], f["name"], f["active"], f["tasks"]) for f in frameworks],
        )
    )


def agent_summary(agent: dict[str, Any]) -> dict[str, Any]:
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


def framework_summary(framework: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": framework.get("id"),
        "name": framework.get("name"),
        "active": bool(framework.get("active", True)),
        "tasks": len(framework.get("tasks", [])),
    }
