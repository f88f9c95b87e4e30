"""The operator's endpoints: `POST /api/v1` (the v1 operator API: state queries,
maintenance, SUBSCRIBE to cluster events) and the legacy read endpoints tools still use
(`/master/state`, `/master/redirect`, `/metrics/snapshot` and `/metrics` (Prometheus),
`/health`, `/version`, `/flags`).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable
from typing import Any

from aiohttp import web

from mesos_runtime.security.http_limits import MIB
from mesos_runtime.wire import prometheus as prometheus_text
from mesos_runtime.wire.flags import as_dict
from mesos_runtime.wire.mesos import FrameworkID
from mesos_runtime.wire.record import Record, record, repeated, required

from . import metrics, views
from .access import AccessControl, Viewer
from .drain import AgentCall, DrainAgent, DrainRefused
from .flags import parse_weights
from .maintenance import MachineID, MaintenanceSchedule
from .master import Master
from .registry import RegistryFenced
from .state import EventStream
from .streaming import (
    Handler,
    Routes,
    accepts_json,
    decode_call,
    serve_stream,
    text,
)

OPERATOR_PATH = "/api/v1"
BODY_LIMIT = 1 * MIB  # queries and maintenance schedules


@record
class UpdateMaintenanceSchedule(Record):
    schedule: MaintenanceSchedule = required()


@record
class MachineList(Record):
    machines: list[MachineID] = repeated()


@record
class Teardown(Record):
    framework_id: FrameworkID = required()


@record
class OperatorCall(Record):
    type: str = required(max_length=64)
    teardown: Teardown | None = None
    update_maintenance_schedule: UpdateMaintenanceSchedule | None = None
    start_maintenance: MachineList | None = None
    stop_maintenance: MachineList | None = None
    drain_agent: DrainAgent | None = None
    deactivate_agent: AgentCall | None = None
    reactivate_agent: AgentCall | None = None
    mark_agent_gone: AgentCall | None = None


def add_routes(routes: Routes, master: Master, leadership: Any, access: AccessControl) -> None:
    weights = parse_weights(master.flags.weights)

    async def operator(request: web.Request) -> web.StreamResponse:
        return await _operator(request, master, weights, access)

    def json_get(build: Callable[[Viewer], Any]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return web.json_response(build(access.viewer(request)))

        return handle

    def flags_get() -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            if not access.viewer(request).flags():
                return text(403, "Not authorized to view the flags (view_flags)")
            return web.json_response({"flags": as_dict(master.flags)})

        return handle

    async def prometheus_get(request: web.Request) -> web.StreamResponse:
        del request
        return web.Response(
            text=metrics.prometheus(master, leadership.is_leader),
            headers={"Content-Type": prometheus_text.CONTENT_TYPE + "; charset=utf-8"},
        )

    def state(viewer: Viewer) -> dict[str, Any]:
        leader = leadership.leader
        return views.legacy_state(
            master, leader.pid if leader else None, leader.to_json() if leader else None, viewer
        )

    def frameworks(viewer: Viewer) -> dict[str, Any]:
        return {
            "frameworks": [
                views.legacy_framework(master, f, viewer)
                for f in views.visible_frameworks(master, viewer)
            ],
            "completed_frameworks": [
                views.legacy_framework(master, f, viewer)
                for f in views.visible_frameworks(master, viewer, completed=True)
            ],
        }

    def tasks(viewer: Viewer) -> dict[str, Any]:
        return {
            "tasks": [
                views.legacy_task(t)
                for f in views.visible_frameworks(master, viewer)
                for t in views.visible_tasks([*f.tasks.values(), *f.completed_tasks], f, viewer)
            ]
        }

    async def redirect(request: web.Request) -> web.Response:
        del request
        leader = leadership.leader
        if leader is None:
            return text(503, "No leading master is known")
        address = leader.address
        host = (address.hostname or address.ip) if address else leader.hostname
        raise web.HTTPTemporaryRedirect(location=f"//{host}:{leader.port}")

    async def health(request: web.Request) -> web.Response:
        del request
        return web.Response(status=200)

    routes.add_route("*", OPERATOR_PATH, operator)
    for path in ("/master/state", "/master/state.json", "/state", "/state.json"):
        routes.add_get(path, json_get(state))
    routes.add_get(
        "/master/slaves",
        json_get(
            lambda _: {"slaves": [views.legacy_agent(master, a) for a in master.agents.values()]}
        ),
    )
    routes.add_get("/master/frameworks", json_get(frameworks))
    routes.add_get("/master/tasks", json_get(tasks))
    routes.add_get("/master/redirect", redirect)
    routes.add_get("/redirect", redirect)
    routes.add_get(
        "/metrics/snapshot", json_get(lambda _: metrics.snapshot(master, leadership.is_leader))
    )
    routes.add_get("/metrics", prometheus_get)
    routes.add_get("/health", health)
    routes.add_get("/master/health", health)
    routes.add_get("/version", json_get(lambda _: views.version_info()))
    routes.add_get("/flags", flags_get())
    routes.add_get("/master/flags", flags_get())
    routes.add_get("/master/maintenance/schedule", json_get(lambda _: master.schedule.to_json()))
    routes.add_get(
        "/master/maintenance/status",
        json_get(lambda _: views.maintenance_status(master)["status"]),
    )


# query -> its answer, from the master, the role weights and what the requester may see
_QUERIES: dict[str, Callable[[Master, dict[str, float], Viewer], Any]] = {
    "GET_HEALTH": lambda m, w, v: {"healthy": True},
    "GET_VERSION": lambda m, w, v: {"version_info": views.version_info()},
    "GET_FLAGS": lambda m, w, v: views.get_flags(m),
    "GET_STATE": lambda m, w, v: views.get_state(m, v),
    "GET_AGENTS": lambda m, w, v: views.get_agents(m),
    "GET_FRAMEWORKS": lambda m, w, v: views.get_frameworks(m, v),
    "GET_TASKS": lambda m, w, v: views.get_tasks(m, v),
    "GET_EXECUTORS": lambda m, w, v: views.get_executors(m, v),
    "GET_ROLES": lambda m, w, v: views.get_roles(m, w),
    "GET_MASTER": lambda m, w, v: views.get_master(m),
    "GET_MAINTENANCE_SCHEDULE": lambda m, w, v: {"schedule": m.schedule.to_json()},
    "GET_MAINTENANCE_STATUS": lambda m, w, v: views.maintenance_status(m),
}
_ACTIONS = {
    "UPDATE_MAINTENANCE_SCHEDULE",
    "START_MAINTENANCE",
    "STOP_MAINTENANCE",
    "SUBSCRIBE",
    "TEARDOWN",
}
_AGENT_CALLS = {"DRAIN_AGENT", "DEACTIVATE_AGENT", "REACTIVATE_AGENT", "MARK_AGENT_GONE"}


async def _operator(
    request: web.Request, master: Master, weights: dict[str, float], access: AccessControl
) -> web.StreamResponse:
    call, refused = await decode_call(
        request, OperatorCall, "Failed to convert JSON into Call protobuf", BODY_LIMIT
    )
    if call is None:
        return refused  # type: ignore[return-value]
    if call.type not in _QUERIES and call.type not in _ACTIONS and call.type not in _AGENT_CALLS:
        return text(400, f"Failed to validate master::Call: unknown call type '{call.type}'")
    if not accepts_json(request):
        return text(406, "Expecting 'Accept' to allow 'application/json'")
    refused = access.operator_call(request, call)
    if refused is not None:
        return refused

    build = _QUERIES.get(call.type)
    if build is not None:
        key = call.type.lower()
        answer = build(master, weights, access.viewer(request))
        return web.json_response({"type": call.type, key: answer})

    if call.type == "SUBSCRIBE":
        stream = EventStream(str(uuidlib.uuid4()))
        stream.send_json(
            {
                "type": "SUBSCRIBED",
                "subscribed": {
                    "get_state": views.get_state(master, access.viewer(request)),
                    "heartbeat_interval_seconds": float(master.flags.heartbeat_interval),
                },
            }
        )
        master.operator_streams.add(stream)
        try:
            return await serve_stream(
                request,
                stream,
                heartbeat_interval=float(master.flags.heartbeat_interval),
                heartbeat={"type": "HEARTBEAT"},
            )
        finally:
            stream.close()
            master.operator_streams.discard(stream)

    if call.type in _AGENT_CALLS:
        return await _agent_call(master, call)

    try:
        if call.type == "TEARDOWN":
            if call.teardown is None:
                return text(400, "Expecting 'teardown' to be present")
            framework = master.frameworks.get(call.teardown.framework_id.value)
            if framework is None:
                return text(400, f"Framework {call.teardown.framework_id.value} is not known")
            await master.remove_framework(framework, "TEARDOWN by an operator")
            return web.Response(status=200)
        if call.type == "UPDATE_MAINTENANCE_SCHEDULE":
            if call.update_maintenance_schedule is None:
                return text(400, "Expecting 'update_maintenance_schedule' to be present")
            error = await master.update_maintenance_schedule(
                call.update_maintenance_schedule.schedule
            )
        elif call.type == "START_MAINTENANCE":
            if call.start_maintenance is None:
                return text(400, "Expecting 'start_maintenance' to be present")
            error = await master.start_maintenance(call.start_maintenance.machines)
        else:
            if call.stop_maintenance is None:
                return text(400, "Expecting 'stop_maintenance' to be present")
            error = await master.stop_maintenance(call.stop_maintenance.machines)
    except RegistryFenced:
        master.fenced()
        return text(503, "This master is no longer the leader")
    if error is not None:
        return text(400, error)
    return web.Response(status=200)


async def _agent_call(master: Master, call: OperatorCall) -> web.Response:
    """DRAIN_AGENT, DEACTIVATE_AGENT, REACTIVATE_AGENT, MARK_AGENT_GONE (drain.py)."""
    field = call.type.lower()
    body = getattr(call, field)
    if body is None:
        return text(400, f"Expecting '{field}' to be present")
    try:
        if isinstance(body, DrainAgent):
            await master.drain.drain(body)
        elif call.type == "DEACTIVATE_AGENT":
            await master.drain.deactivate(body.agent_id.value)
        elif call.type == "REACTIVATE_AGENT":
            await master.drain.reactivate(body.agent_id.value)
        else:
            await master.drain.mark_gone(body.agent_id.value)
    except DrainRefused as e:
        return text(e.status, str(e))
    except RegistryFenced:
        master.fenced()
        return text(503, "This master is no longer the leader")
    return web.Response(status=200)
