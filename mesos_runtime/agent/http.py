"""The agent's HTTP endpoints: `/health`, `/state` (Mesos' agent state JSON), `/flags`,
`/metrics/snapshot` (`slave/*`; `/metrics`: the same in Prometheus' format), the files API
(`/files/read`, `/files/browse`, `/files/download` over sandboxes, opened without following
links: sandbox_files.py) and `/api/v1/executor`. File system work runs in threads, never on
the event loop.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from mesos_runtime.wire import prometheus
from mesos_runtime.wire.flags import as_dict
from mesos_runtime.wire.mesos import TaskState

from . import executor_api, sandbox_files
from .access import AgentAccess
from .agent import Agent
from .state import ExecutorPhase, resources_json

MAX_READ = 16 << 20

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(agent: Agent, access: AgentAccess) -> web.Application:
    app = web.Application(client_max_size=16 << 20)

    def add_get(path: str, handler: Handler) -> None:
        check = access.checker(path)  # authentication in front of the handler
        if check is None:
            app.router.add_get(path, handler)
            return

        async def checked(request: web.Request) -> web.StreamResponse:
            refused = await check(request)
            return refused if refused is not None else await handler(request)

        app.router.add_get(path, checked)

    async def health(_: web.Request) -> web.Response:
        return web.Response(status=200)

    async def state(_: web.Request) -> web.Response:
        return web.json_response(state_json(agent))

    async def flags(_: web.Request) -> web.Response:
        return web.json_response({"flags": as_dict(agent.flags)})

    async def metrics(_: web.Request) -> web.Response:
        return web.json_response(metrics_json(agent))

    async def metrics_prometheus(_: web.Request) -> web.Response:
        return web.Response(
            text=metrics_prometheus_text(agent),
            headers={"Content-Type": prometheus.CONTENT_TYPE + "; charset=utf-8"},
        )

    async def executor(request: web.Request) -> web.StreamResponse:
        return await executor_api.handle(request, agent)

    async def files_read(request: web.Request) -> web.Response:
        return await _files_read(agent, request)

    async def files_browse(request: web.Request) -> web.Response:
        return await _files_browse(agent, request)

    async def files_download(request: web.Request) -> web.StreamResponse:
        return await _files_download(agent, request)

    for prefix in ("", "/slave(1)"):
        add_get(prefix + "/health", health)
        add_get(prefix + "/state", state)
        add_get(prefix + "/state.json", state)
        add_get(prefix + "/flags", flags)
    add_get("/metrics/snapshot", metrics)
    add_get("/metrics", metrics_prometheus)
    add_get("/files/read", files_read)
    add_get("/files/read.json", files_read)
    add_get("/files/browse", files_browse)
    add_get("/files/browse.json", files_browse)
    add_get("/files/download", files_download)
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
        "cgroup_hierarchy": agent.containerizer.isolator.hierarchy.to_json(),
        "frameworks": [f.state_json(aid) for f in agent.frameworks.values()],
        "completed_frameworks": [f.state_json(aid) for f in agent.completed_frameworks],
        "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
    }


def metrics_prometheus_text(agent: Agent) -> str:
    """`metrics_json` in Prometheus' text format; the agent's event counts are counters."""
    counters = {*agent.metrics, "gc/path_removals_succeeded", "gc/path_removals_failed"}
    return prometheus.render(metrics_json(agent), counters)


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

MAX_OFFSET = (1 << 63) - 1
DOWNLOAD_CHUNK = 1 << 20


def _path_param(request: web.Request) -> str:
    raw = request.query.get("path")
    if not raw:
        raise sandbox_files.FileRefused(400, "Expecting 'path' to be present")
    return raw


def _sandbox_refused(agent: Agent, request: web.Request, raw: str) -> web.Response | None:
    """`access_sandboxes` for the sandbox `raw` lies in."""
    frameworks = [*agent.frameworks.values(), *agent.completed_frameworks]
    return agent.access.sandbox(request, raw, agent.layout.work_dir, frameworks)


def _int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise sandbox_files.FileRefused(400, f"'{name}' must be an integer") from None
    if not -1 <= value <= MAX_OFFSET:
        raise sandbox_files.FileRefused(
            400, f"'{name}' must be -1 or between 0 and {MAX_OFFSET}, not {raw}"
        )
    return value


def _refused(e: sandbox_files.FileRefused) -> web.Response:
    return web.Response(status=e.status, text=e.message)


async def _files_read(agent: Agent, request: web.Request) -> web.Response:
    try:
        raw = _path_param(request)
        if (refused := _sandbox_refused(agent, request, raw)) is not None:
            return refused
        offset = _int_param(request, "offset")
        length = _int_param(request, "length")
        offset = 0 if offset is None else offset
        length = MAX_READ if length is None or length == -1 else min(length, MAX_READ)
        data, at = await asyncio.to_thread(
            sandbox_files.read_regular, agent.layout.work_dir, raw, offset, length
        )
    except sandbox_files.FileRefused as e:
        return _refused(e)
    return web.json_response({"data": data.decode("utf-8", errors="replace"), "offset": at})


async def _files_browse(agent: Agent, request: web.Request) -> web.Response:
    try:
        raw = _path_param(request)
        if (refused := _sandbox_refused(agent, request, raw)) is not None:
            return refused
        entries = await asyncio.to_thread(sandbox_files.list_directory, agent.layout.work_dir, raw)
    except sandbox_files.FileRefused as e:
        return _refused(e)
    return web.json_response(
        [
            {
                "path": f"{raw.rstrip('/')}/{entry.name}",
                "nlink": entry.stat.st_nlink,
                "size": entry.stat.st_size,
                "mtime": entry.stat.st_mtime,
                "mode": stat.filemode(entry.stat.st_mode),
                "uid": str(entry.stat.st_uid),
                "gid": str(entry.stat.st_gid),
            }
            for entry in entries
        ]
    )


async def _files_download(agent: Agent, request: web.Request) -> web.StreamResponse:
    try:
        raw = _path_param(request)
        if (refused := _sandbox_refused(agent, request, raw)) is not None:
            return refused
        fd, size = await asyncio.to_thread(sandbox_files.open_regular, agent.layout.work_dir, raw)
    except sandbox_files.FileRefused as e:
        return _refused(e)
    try:
        name = raw.rstrip("/").rsplit("/", 1)[-1].replace('"', "")
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": f'attachment; filename="{name}"',
            }
        )
        response.content_length = size
        await response.prepare(request)
        sent = 0
        while sent < size:
            chunk = await asyncio.to_thread(os.pread, fd, min(DOWNLOAD_CHUNK, size - sent), sent)
            if not chunk:
                break  # the file shrank meanwhile
            await response.write(chunk)
            sent += len(chunk)
        await response.write_eof()
        return response
    finally:
        os.close(fd)
