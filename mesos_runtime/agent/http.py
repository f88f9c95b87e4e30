"""The agent's HTTP endpoints: `/health`, `/state` (Mesos' agent state JSON), `/flags`,
`/metrics/snapshot` (`slave/*`), the files API (`/files/read`, `/files/browse`,
`/files/download` over sandboxes) and `/api/v1/executor`.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from mesos_runtime.wire.flags import as_dict
from mesos_runtime.wire.mesos import TaskState

from . import executor_api
from .agent import Agent
from .state import ExecutorPhase, resources_json

MAX_READ = 16 << 20


def create_app(agent: Agent) -> web.Application:
    app = web.Application(client_max_size=16 << 20)

    async def health(_: web.Request) -> web.Response:
        return web.Response(status=200)

    async def state(_: web.Request) -> web.Response:
        return web.json_response(state_json(agent))

    async def flags(_: web.Request) -> web.Response:
        return web.json_response({"flags": as_dict(agent.flags)})

    async def metrics(_: web.Request) -> web.Response:
        return web.json_response(metrics_json(agent))

    async def executor(request: web.Request) -> web.StreamResponse:
        return await executor_api.handle(request, agent)

    async def files_read(request: web.Request) -> web.Response:
        return _files_read(agent, request)

    async def files_browse(request: web.Request) -> web.Response:
        return _files_browse(agent, request)

    async def files_download(request: web.Request) -> web.StreamResponse:
        path, error = _sandbox_path(agent, request)
        if error is not None:
            return error
        assert path is not None
        if not path.is_file():
            return web.Response(status=404, text=f"'{path}' is not a file")
        return web.FileResponse(path)

    for prefix in ("", "/slave(1)"):
        app.router.add_get(prefix + "/health", health)
        app.router.add_get(prefix + "/state", state)
        app.router.add_get(prefix + "/state.json", state)
        app.router.add_get(prefix + "/flags", flags)
    app.router.add_get("/metrics/snapshot", metrics)
    app.router.add_get("/files/read", files_read)
    app.router.add_get("/files/read.json", files_read)
    app.router.add_get("/files/browse", files_browse)
    app.router.add_get("/files/browse.json", files_browse)
    app.router.add_get("/files/download", files_download)
    app.router.add_route("*", executor_api.PATH, executor)
    return app


def state_json(agent: Agent) -> dict[str, Any]:
    info = agent.info
    total = agent.total_resources()
    attributes: dict[str, Any] = {}
    for a in info.attributes:
        if a.text is not None:
            attributes[a.name] = a.text.value
        elif a.scalar is not None:
            attributes[a.name] = a.scalar.value
        elif a.ranges is not None:
            attributes[a.name] = "[" + ",".join(f"{r.begin}-{r.end}" for r in a.ranges.range) + "]"
        elif a.set is not None:
            attributes[a.name] = "{" + ",".join(a.set.item) + "}"
    aid = agent.agent_id
    master = agent.master_info
    return {
        "version": "1.11.0",
        "infinity_version": "0.1.0",
        "start_time": agent.start_time,
        "id": aid.value if aid else "",
        "pid": f"slave(1)@{agent.endpoint}",
        "hostname": info.hostname,
        "port": info.port,
        "resources": resources_json(total),
        "unreserved_resources": resources_json(total.unreserved()),
        "reserved_resources": {
            role: resources_json(total.reserved(role))
            for role in {k.role for k, _ in total if k.role != "*"}
        },
        "used_resources": resources_json(agent.used_resources()),
        "attributes": attributes,
        "master_hostname": (master.hostname or "") if master else "",
        "registered": agent.registered,
        "flags": as_dict(agent.flags),
        "isolation": agent.containerizer.isolator.kind,
        "frameworks": [f.state_json(aid) for f in agent.frameworks.values()],
        "completed_frameworks": [f.state_json(aid) for f in agent.completed_frameworks],
        "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
    }


def metrics_json(agent: Agent) -> dict[str, float]:
    total = agent.total_resources()
    used = agent.used_resources()
    out: dict[str, float] = dict(agent.metrics)
    gc = agent.gc.metrics
    out["gc/path_removals_succeeded"] = float(gc.path_removals_succeeded)
    out["gc/path_removals_failed"] = float(gc.path_removals_failed)
    out["gc/path_removals_pending"] = float(agent.gc.pending)
    executors = [e for f in agent.frameworks.values() for e in f.executors.values()]
    out.update(
        {
            "slave/uptime_secs": time.time() - agent.start_time,
            "slave/registered": 1.0 if agent.registered else 0.0,
            "slave/frameworks_active": float(len(agent.frameworks)),
            "slave/executors_running": float(
                sum(1 for e in executors if e.phase is ExecutorPhase.RUNNING)
            ),
            "slave/executors_registering": float(
                sum(1 for e in executors if e.phase is ExecutorPhase.REGISTERING)
            ),
            "slave/executors_terminating": float(
                sum(1 for e in executors if e.phase is ExecutorPhase.TERMINATING)
            ),
            "slave/tasks_staging": float(agent.count(TaskState.TASK_STAGING)),
            "slave/tasks_starting": float(agent.count(TaskState.TASK_STARTING)),
            "slave/tasks_running": float(agent.count(TaskState.TASK_RUNNING)),
            "slave/tasks_killing": float(agent.count(TaskState.TASK_KILLING)),
            "slave/recovered_tasks": float(agent.recovered_tasks),
            "slave/status_updates_unacknowledged": float(
                agent.status_updates.unacknowledged_count()
            ),
        }
    )
    for name in ("cpus", "mem", "disk", "gpus"):
        t, u = total.scalar(name), used.scalar(name)
        out[f"slave/{name}_total"] = t
        out[f"slave/{name}_used"] = u
        out[f"slave/{name}_percent"] = u / t if t else 0.0
    return out


# --- the files API over sandboxes -------------------------------------------------------


def _sandbox_path(agent: Agent, request: web.Request) -> tuple[Path | None, web.Response | None]:
    raw = request.query.get("path")
    if not raw:
        return None, web.Response(status=400, text="Expecting 'path' to be present")
    root = (agent.layout.work_dir / "slaves").resolve()
    candidate = Path(raw)
    if not candidate.is_absolute():
        candidate = agent.layout.work_dir / raw.lstrip("/")
    resolved = candidate.resolve()
    try:
        resolved.relative_to(root)
    except ValueError:
        return None, web.Response(status=404, text=f"'{raw}' is not in a sandbox of this agent")
    if not resolved.exists():
        return None, web.Response(status=404, text=f"'{raw}' does not exist")
    return resolved, None


def _int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    return int(raw)


def _files_read(agent: Agent, request: web.Request) -> web.Response:
    path, error = _sandbox_path(agent, request)
    if error is not None:
        return error
    assert path is not None
    if path.is_dir():
        return web.Response(status=400, text=f"'{request.query['path']}' is a directory")
    try:
        offset = _int_param(request, "offset")
        length = _int_param(request, "length")
    except ValueError:
        return web.Response(status=400, text="'offset' and 'length' must be integers")
    size = path.stat().st_size
    if offset is None or offset == -1:
        if offset == -1:
            return web.json_response({"data": "", "offset": size})
        offset = 0
    if offset < 0:
        return web.Response(status=400, text="Negative 'offset' provided")
    if length is None or length == -1:
        length = size - offset
    if length < 0:
        return web.Response(status=400, text="Negative 'length' provided")
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(min(length, MAX_READ))
    return web.json_response({"data": data.decode("utf-8", errors="replace"), "offset": offset})


def _files_browse(agent: Agent, request: web.Request) -> web.Response:
    path, error = _sandbox_path(agent, request)
    if error is not None:
        return error
    assert path is not None
    if not path.is_dir():
        return web.Response(status=400, text=f"'{request.query['path']}' is not a directory")
    entries = []
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        st = entry.stat(follow_symlinks=False)
        entries.append(
            {
                "path": str(Path(request.query["path"]) / entry.name),
                "nlink": st.st_nlink,
                "size": st.st_size,
                "mtime": st.st_mtime,
                "mode": stat.filemode(st.st_mode),
                "uid": str(st.st_uid),
                "gid": str(st.st_gid),
            }
        )
    return web.json_response(entries)
