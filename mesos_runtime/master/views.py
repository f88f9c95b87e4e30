"""JSON views of the master's state: the v1 operator API's shapes (`mesos/v1/master/
master.proto`) and the legacy `/master/state` model that dashboards and tools read."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mesos_runtime import MESOS_API_VERSION, __version__
from mesos_runtime.wire.flags import as_dict
from mesos_runtime.wire.mesos import Attribute, ValueType
from mesos_runtime.wire.resources import Key, Resources

from .access import EVERYONE, Viewer
from .state import Agent, Framework, TrackedTask
from .statuses import time_info

if TYPE_CHECKING:
    from .core import MasterCore
    from .master import Master

BUILD_USER = "infinity"


def version_info() -> dict[str, Any]:
    return {
        "version": MESOS_API_VERSION,
        "build_date": "2026-01-01 00:00:00",
        "build_time": 1767225600.0,
        "build_user": BUILD_USER,
        "git_sha": f"infinity-{__version__}",
    }


# --- the master's own JSON of frameworks and agents (operator API events) --------------


def offered(
    master: MasterCore, framework_id: str | None = None, agent_id: str | None = None
) -> Resources:
    """What is offered and not yet accepted (of one framework, on one agent)."""
    total = Resources()
    for offer in master.offers.values():
        if framework_id is not None and offer.framework_id != framework_id:
            continue
        if agent_id is not None and offer.agent_id != agent_id:
            continue
        total = total + offer.resources
    return total


def used_by_framework(master: MasterCore, framework: Framework) -> Resources:
    used = Resources()
    for task in framework.tasks.values():
        if not task.state.is_terminal:
            used = used + task.resources
    for agent in master.agents.values():
        for (fid, _eid), executor in agent.executors.items():
            if fid == framework.id:
                used = used + executor.resources
    return used


def framework_json(master: MasterCore, framework: Framework) -> dict[str, Any]:
    out: dict[str, Any] = {
        "framework_info": framework.info.to_json(),
        "active": framework.active and framework.connected,
        "connected": framework.connected,
        "recovered": framework.recovered,
        "registered_time": time_info(framework.registered_time).to_json(),
        "offers": [o.offer.to_json() for o in framework.offers.values()],
        "allocated_resources": [
            r.to_json() for r in used_by_framework(master, framework).to_wire()
        ],
        "offered_resources": [r.to_json() for r in offered(master, framework.id).to_wire()],
    }
    if framework.reregistered_time:
        out["reregistered_time"] = time_info(framework.reregistered_time).to_json()
    if framework.unregistered_time:
        out["unregistered_time"] = time_info(framework.unregistered_time).to_json()
    return out


def agent_json(master: MasterCore, agent: Agent) -> dict[str, Any]:
    info = agent.info.replace(resources=agent.total.to_wire())
    out: dict[str, Any] = {
        "agent_info": info.to_json(),
        "active": agent.active and agent.connected,
        "deactivated": not (agent.active and agent.connected),
        "version": agent.version or MESOS_API_VERSION,
        "pid": agent.pid,
        "registered_time": time_info(agent.registered_time).to_json(),
        "total_resources": [r.to_json() for r in agent.total.to_wire()],
        "allocated_resources": [r.to_json() for r in agent.used().to_wire()],
        "offered_resources": [r.to_json() for r in offered(master, agent_id=agent.id).to_wire()],
        "capabilities": [],
    }
    if agent.reregistered_time:
        out["reregistered_time"] = time_info(agent.reregistered_time).to_json()
    out.update(master.drain.agent_json(agent.id))  # deactivated, drain_info
    return out


# --- v1 operator API -------------------------------------------------------------------


def visible_frameworks(master: Master, viewer: Viewer, completed: bool = False) -> list[Framework]:
    frameworks = master.completed_frameworks if completed else master.frameworks.values()
    if viewer.sees_everything:
        return list(frameworks)
    return [f for f in frameworks if viewer.framework(f.info)]


def visible_tasks(tasks: Any, framework: Framework, viewer: Viewer) -> list[TrackedTask]:
    if viewer.sees_everything:
        return list(tasks)
    return [t for t in tasks if viewer.task(t.user, framework.info)]


def get_tasks(master: Master, viewer: Viewer = EVERYONE) -> dict[str, Any]:
    tasks, unreachable, completed = [], [], []
    frameworks = [*visible_frameworks(master, viewer), *visible_frameworks(master, viewer, True)]
    for framework in frameworks:

        def encode(kept: Any, framework: Framework = framework) -> list[dict[str, Any]]:
            return [t.to_wire().to_json() for t in visible_tasks(kept, framework, viewer)]

        tasks += encode(framework.tasks.values())
        unreachable += encode(framework.unreachable_tasks.values())
        completed += encode(framework.completed_tasks)
    out: dict[str, Any] = {}
    for name, items in (
        ("tasks", tasks),
        ("unreachable_tasks", unreachable),
        ("completed_tasks", completed),
    ):
        if items:
            out[name] = items
    return out


def _executor_visible(master: Master, viewer: Viewer, framework_id: str, info: Any) -> bool:
    if viewer.sees_everything:
        return True
    framework = master.frameworks.get(framework_id)
    return framework is not None and viewer.executor(info, framework.info)


def get_executors(master: Master, viewer: Viewer = EVERYONE) -> dict[str, Any]:
    executors = [
        {"executor_info": e.info.to_json(), "agent_id": {"value": agent.id}}
        for agent in master.agents.values()
        for (fid, _eid), e in agent.executors.items()
        if _executor_visible(master, viewer, fid, e.info)
    ]
    return {"executors": executors} if executors else {}


def get_frameworks(master: Master, viewer: Viewer = EVERYONE) -> dict[str, Any]:
    out: dict[str, Any] = {}
    frameworks = [framework_json(master, f) for f in visible_frameworks(master, viewer)]
    completed = [framework_json(master, f) for f in visible_frameworks(master, viewer, True)]
    if frameworks:
        out["frameworks"] = frameworks
    if completed:
        out["completed_frameworks"] = completed
    return out


def get_agents(master: Master) -> dict[str, Any]:
    out: dict[str, Any] = {}
    agents = [agent_json(master, a) for a in master.agents.values()]
    recovered = [info.to_json() for info in master.recovered_agents.values()]
    if agents:
        out["agents"] = agents
    if recovered:
        out["recovered_agents"] = recovered
    return out


def get_state(master: Master, viewer: Viewer = EVERYONE) -> dict[str, Any]:
    return {
        "get_tasks": get_tasks(master, viewer),
        "get_executors": get_executors(master, viewer),
        "get_frameworks": get_frameworks(master, viewer),
        "get_agents": get_agents(master),
    }


def get_flags(master: Master) -> dict[str, Any]:
    return {"flags": [{"name": k, "value": v} for k, v in sorted(as_dict(master.flags).items())]}


def get_roles(master: Master, weights: dict[str, float]) -> dict[str, Any]:
    roles: dict[str, dict[str, Any]] = {}

    def role(name: str) -> dict[str, Any]:
        return roles.setdefault(
            name,
            {"name": name, "weight": weights.get(name, 1.0), "frameworks": [], "_res": Resources()},
        )

    for name in weights:
        role(name)
    for framework in master.frameworks.values():
        for name in framework.roles:
            role(name)["frameworks"].append({"value": framework.id})
        used = used_by_framework(master, framework) + offered(master, framework.id)
        for name in used.allocation_roles():
            entry = role(name)
            entry["_res"] = entry["_res"] + used.filter(_in_role(name))
    out = []
    for entry in sorted(roles.values(), key=lambda e: e["name"]):
        resources = entry.pop("_res")
        entry["resources"] = [r.to_json() for r in resources.to_wire()]
        entry["allocated"] = entry["resources"]
        out.append(entry)
    return {"roles": out}


def get_master(master: Master) -> dict[str, Any]:
    out: dict[str, Any] = {"master_info": master.info.to_json(), "start_time": master.start_time}
    if master.elected_time is not None:
        out["elected_time"] = master.elected_time
    return out


def maintenance_status(master: Master) -> dict[str, Any]:
    draining, down = [], []
    for machine, mode in master.machines.items():
        if mode.value == "DOWN":
            down.append(machine.to_json())
        elif mode.value == "DRAINING":
            draining.append({"id": machine.to_json()})
    out: dict[str, Any] = {}
    if draining:
        out["draining_machines"] = draining
    if down:
        out["down_machines"] = down
    return {"status": out}


# --- the legacy /master/state model -----------------------------------------------------------


def resources_map(resources: Resources) -> dict[str, Any]:
    """Mesos' JSON model of resources: scalars as numbers, ranges as "[a-b, c-d]" strings."""
    out: dict[str, Any] = {"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}
    merged: dict[str, Any] = {}
    for key, value in resources:
        if isinstance(value, float):
            merged[key.name] = round(merged.get(key.name, 0.0) + value, 3)
        elif isinstance(value, tuple):
            merged.setdefault(key.name, [])
            merged[key.name] = [*merged[key.name], *value]
        else:
            merged[key.name] = sorted(set(merged.get(key.name, [])) | set(value))
    for name, value in merged.items():
        if isinstance(value, list) and value and isinstance(value[0], tuple):
            merged_ranges = Resources.parse(
                f"{name}:[" + ",".join(f"{b}-{e}" for b, e in value) + "]"
            ).ranges(name)
            out[name] = "[" + ", ".join(f"{b}-{e}" for b, e in merged_ranges) + "]"
        elif isinstance(value, list):
            out[name] = "{" + ", ".join(value) + "}"
        else:
            out[name] = value
    return out


def _attribute_value(attribute: Attribute) -> Any:
    if attribute.type is ValueType.SCALAR and attribute.scalar is not None:
        return attribute.scalar.value
    if attribute.type is ValueType.TEXT and attribute.text is not None:
        return attribute.text.value
    if attribute.type is ValueType.RANGES and attribute.ranges is not None:
        return "[" + ", ".join(f"{r.begin}-{r.end}" for r in attribute.ranges.range) + "]"
    if attribute.type is ValueType.SET and attribute.set is not None:
        return "{" + ", ".join(attribute.set.item) + "}"
    return None


def legacy_task(task: TrackedTask) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": task.id,
        "name": task.info.name,
        "framework_id": task.framework_id,
        "executor_id": task.executor_id or "",
        "slave_id": task.agent_id,
        "agent_id": task.agent_id,
        "state": task.state.value,
        "resources": resources_map(task.resources),
        "role": next(iter(task.resources.allocation_roles()), "*"),
        "statuses": [
            {"state": s.state.value, "timestamp": s.timestamp or 0.0} for s in task.statuses
        ],
    }
    if task.user:
        out["user"] = task.user
    if task.info.labels:
        out["labels"] = [label.to_json() for label in task.info.labels.labels]
    if task.info.discovery:
        out["discovery"] = task.info.discovery
    return out


def legacy_framework(
    master: Master, framework: Framework, viewer: Viewer = EVERYONE
) -> dict[str, Any]:
    info = framework.info
    used = used_by_framework(master, framework)
    on_offer = offered(master, framework.id)
    out: dict[str, Any] = {
        "id": framework.id,
        "name": info.name,
        "user": info.user,
        "hostname": info.hostname or "",
        "webui_url": info.webui_url or "",
        "principal": info.principal or "",
        "failover_timeout": info.failover_timeout or 0.0,
        "checkpoint": bool(info.checkpoint),
        "capabilities": [c.type.value for c in info.capabilities],
        "active": framework.active and framework.connected,
        "connected": framework.connected,
        "recovered": framework.recovered,
        "registered_time": framework.registered_time,
        "unregistered_time": framework.unregistered_time or 0.0,
        "resources": resources_map(used + on_offer),
        "used_resources": resources_map(used),
        "offered_resources": resources_map(on_offer),
        "tasks": [
            legacy_task(t) for t in visible_tasks(framework.tasks.values(), framework, viewer)
        ],
        "unreachable_tasks": [
            legacy_task(t)
            for t in visible_tasks(framework.unreachable_tasks.values(), framework, viewer)
        ],
        "completed_tasks": [
            legacy_task(t) for t in visible_tasks(framework.completed_tasks, framework, viewer)
        ],
        "offers": [
            {
                "id": o.id,
                "framework_id": o.framework_id,
                "slave_id": o.agent_id,
                "resources": resources_map(o.resources),
            }
            for o in framework.offers.values()
        ],
        "executors": [
            {"executor_id": eid, "slave_id": agent.id, "name": e.info.name or ""}
            for agent in master.agents.values()
            for (fid, eid), e in agent.executors.items()
            if fid == framework.id and (viewer.sees_everything or viewer.executor(e.info, info))
        ],
    }
    if framework.reregistered_time:
        out["reregistered_time"] = framework.reregistered_time
    if info.role is not None or not info.roles:
        out["role"] = info.role or "*"
    if info.roles:
        out["roles"] = list(info.roles)
    if info.labels:
        out["labels"] = [label.to_json() for label in info.labels.labels]
    return out


def legacy_agent(master: Master, agent: Agent) -> dict[str, Any]:
    used = agent.used()
    reserved: dict[str, Any] = {}
    for role in {k.role for k, _v in agent.total if k.reservations}:
        reserved[role] = resources_map(agent.total.reserved(role))
    out: dict[str, Any] = {
        "id": agent.id,
        "pid": agent.pid,
        "hostname": agent.info.hostname,
        "port": agent.port,
        "registered_time": agent.registered_time,
        "resources": resources_map(agent.total),
        "used_resources": resources_map(used),
        "offered_resources": resources_map(offered(master, agent_id=agent.id)),
        "reserved_resources": reserved,
        "unreserved_resources": resources_map(agent.total.unreserved()),
        "attributes": {a.name: _attribute_value(a) for a in agent.info.attributes},
        "active": agent.active and agent.connected,
        "deactivated": not (agent.active and agent.connected),
        "version": agent.version or MESOS_API_VERSION,
        "capabilities": [],
    }
    if agent.reregistered_time:
        out["reregistered_time"] = agent.reregistered_time
    out.update(master.drain.agent_json(agent.id))  # deactivated, drain_info
    return out


def legacy_state(
    master: Master, leader_pid: str | None, leader_info: Any, viewer: Viewer = EVERYONE
) -> dict[str, Any]:
    agents = list(master.agents.values())
    active = sum(1 for a in agents if a.active and a.connected)
    out: dict[str, Any] = {
        **version_info(),
        "start_time": master.start_time,
        "id": master.id,
        "pid": master.info.pid,
        "hostname": master.hostname,
        "activated_slaves": active,
        "deactivated_slaves": len(agents) - active,
        "unreachable_slaves": len(master.unreachable),
        "slaves": [legacy_agent(master, a) for a in agents],
        "frameworks": [
            legacy_framework(master, f, viewer) for f in visible_frameworks(master, viewer)
        ],
        "completed_frameworks": [
            legacy_framework(master, f, viewer) for f in visible_frameworks(master, viewer, True)
        ],
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    }
    if viewer.flags():  # as Mesos: flags only for those who may view them
        out["flags"] = as_dict(master.flags)
    if master.elected_time is not None:
        out["elected_time"] = master.elected_time
    if master.flags.cluster:
        out["cluster"] = master.flags.cluster
    if master.flags.log_dir:
        out["log_dir"] = master.flags.log_dir
    if leader_pid is not None:
        out["leader"] = leader_pid
        out["leader_info"] = leader_info
    return out


def _in_role(role: str) -> Callable[[Key], bool]:
    return lambda key: key.allocation_role == role
