"""`/metrics/snapshot`: the master's gauges and counters under Mesos' own key names, so
dashboards and alerts written for Mesos read them unchanged; `/metrics`: the same figures
in Prometheus' text format."""

from __future__ import annotations

import time

from mesos_runtime.wire import prometheus as prometheus_text
from mesos_runtime.wire.mesos import TaskState
from mesos_runtime.wire.resources import Resources

from .master import Master
from .views import offered

_TASK_GAUGES = {
    TaskState.TASK_STAGING: "master/tasks_staging",
    TaskState.TASK_STARTING: "master/tasks_starting",
    TaskState.TASK_RUNNING: "master/tasks_running",
    TaskState.TASK_KILLING: "master/tasks_killing",
    TaskState.TASK_UNREACHABLE: "master/tasks_unreachable",
}
_TASK_TERMINAL = {
    TaskState.TASK_FINISHED: "master/tasks_finished",
    TaskState.TASK_FAILED: "master/tasks_failed",
    TaskState.TASK_KILLED: "master/tasks_killed",
    TaskState.TASK_LOST: "master/tasks_lost",
    TaskState.TASK_ERROR: "master/tasks_error",
    TaskState.TASK_DROPPED: "master/tasks_dropped",
    TaskState.TASK_GONE: "master/tasks_gone",
    TaskState.TASK_GONE_BY_OPERATOR: "master/tasks_gone_by_operator",
}


def snapshot(master: Master, is_leader: bool) -> dict[str, float]:
    frameworks = list(master.frameworks.values())
    agents = list(master.agents.values())
    out: dict[str, float] = {
        "master/elected": 1.0 if is_leader else 0.0,
        "master/uptime_secs": round(time.time() - master.start_time, 3),
        "master/frameworks_active": sum(1 for f in frameworks if f.active and f.connected),
        "master/frameworks_inactive": sum(1 for f in frameworks if not f.connected),
        "master/frameworks_connected": sum(1 for f in frameworks if f.connected),
        "master/frameworks_disconnected": sum(1 for f in frameworks if not f.connected),
        "master/slaves_active": sum(1 for a in agents if a.active and a.connected),
        "master/slaves_inactive": sum(1 for a in agents if not (a.active and a.connected)),
        "master/slaves_connected": sum(1 for a in agents if a.connected),
        "master/slaves_disconnected": sum(1 for a in agents if not a.connected),
        "master/slaves_unreachable": len(master.unreachable),
        "master/outstanding_offers": len(master.offers),
        "master/event_queue_messages": 0,
        "master/event_queue_dispatches": 0,
        "master/event_queue_http_requests": 0,
    }
    for name in (*_TASK_GAUGES.values(), *_TASK_TERMINAL.values()):
        out[name] = 0
    for framework in frameworks:
        for task in framework.tasks.values():
            gauge = _TASK_GAUGES.get(task.state)
            if gauge:
                out[gauge] += 1
        out["master/tasks_unreachable"] += len(framework.unreachable_tasks)
    # terminal states count transitions, as Mesos' counters do
    for state, name in _TASK_TERMINAL.items():
        del state
        out[name] = master.counters.get(name + "_total", 0)
    total = Resources()
    used = Resources()
    for agent in agents:
        total = total + agent.total
        used = used + agent.used()
    on_offer = offered(master)
    for name in ("cpus", "mem", "disk", "gpus"):
        t, u = total.scalar(name), (used + on_offer).scalar(name)
        out[f"master/{name}_total"] = t
        out[f"master/{name}_used"] = u
        out[f"master/{name}_percent"] = round(u / t, 6) if t else 0.0
        out[f"master/{name}_revocable_total"] = 0.0
        out[f"master/{name}_revocable_used"] = 0.0
    for key, value in master.counters.items():
        if key.startswith("master/messages_") or key.startswith("master/slave"):
            out[key] = value
    for key in (
        "master/messages_status_update",
        "master/messages_resource_offers",
        "master/messages_accept",
        "master/messages_decline",
        "master/messages_kill",
        "master/messages_acknowledge",
        "master/messages_reconcile",
        "master/slave_removals",
        "master/slave_unreachable_completed",
    ):
        out.setdefault(key, 0)
    out["master/valid_status_updates"] = master.counters.get("master/messages_status_update", 0)
    out["registrar/state_store_ms"] = 0.0
    return out


def prometheus(master: Master, is_leader: bool) -> str:
    """`snapshot` in Prometheus' text format; the transition counts are typed counter."""
    snap = snapshot(master, is_leader)
    counters = {
        key
        for key in snap
        if key in _COUNTERS or key.startswith(("master/messages_", "master/slave_removals"))
    }
    return prometheus_text.render(snap, counters)


_COUNTERS = frozenset(
    {*_TASK_TERMINAL.values(), "master/valid_status_updates", "master/slave_unreachable_completed"}
)
