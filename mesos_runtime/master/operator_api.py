"""The operator's endpoints: `POST /api/v1` (the v1 operator API: state queries,
maintenance, SUBSCRIBE to cluster events) and the legacy read endpoints tools still use
(`/master/state`, `/master/redirect`, `/metrics/snapshot`, `/health`, `/version`, `/flags`).
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from aiohttp import web

from mesos_runtime.wire.flags import as_dict
from mesos_runtime.wire.record import Record, record, repeated, required

from . import metrics, views
from .drain import AgentCall, DrainAgent, DrainRefused
from .flags import parse_weights
from .maintenance import MachineID, MaintenanceSchedule
from .master import Master
from .registry import RegistryFenced
from .state import EventStream
from .streaming import (
    Routes,
    accepts_json,
    decode_call,
    serve_stream,
    text,
)

OPERATOR_PATH = "/api/v1"


@record
class UpdateMaintenanceSchedule(Record):
    schedule: MaintenanceSchedule = required()


@record
class MachineList(Record):
    machines: list[MachineID] = repeated()


@record
class OperatorCall(Record):
    type: str = required()
    update_maintenance_schedule: UpdateMaintenanceSchedule | None = None
    start_maintenance: MachineList | None = None
    stop_maintenance: MachineList | None = None
    drain_agent: DrainAgent | None = None
    deactivate_agent: AgentCall | None = None
    reactivate_agent: AgentCall | None = None
    mark_agent_gone: AgentCall | None = None


def add_routes(routes: Routes, master: Master, leadership: Any) -> None:
    weights = parse_weights(master.flags.weights)

    async def operator(request: web.Request) -> web.StreamResponse:
        return await _operator(request, master, weights)

    def json_get(build: Any) -> Any:
        async def handle(request: web.Request) -> web.Response:
            del request
            return web.json_response(build())

        return handle

    def state() -> dict[str, Any]:
        leader = leadership.leader
        return views.legacy_state(
            master, leader.pid if leader else None, leader.to_json() if leader else None
        )

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
            lambda: {"slaves": [views.legacy_agent(master, a) for a in master.agents.values()]}
        ),
    )
    routes.add_get(
        "/master/frameworks",
        json_get(
            lambda: {
                "frameworks": [
                    views.legacy_framework(master, f) for f in master.frameworks.values()
                ],
                "completed_frameworks": [
                    views.legacy_framework(master, f) for f in master.completed_frameworks
                ],
            }
        ),
    )
    routes.add_get(
        "/master/tasks",
        json_get(
            lambda: {
                "tasks": [
                    views.legacy_task(t)
                    for f in master.frameworks.values()
                    for t in [*f.tasks.values(), *f.completed_tasks]
                ]
            }
        ),
    )
    routes.add_get("/master/redirect", redirect)
    routes.add_get("/redirect", redirect)
    routes.add_get(
        "/metrics/snapshot", json_get(lambda: metrics.snapshot(master, leadership.is_leader))
    )
    routes.add_get("/health", health)
    routes.add_get("/master/health", health)
    routes.add_get("/version", json_get(views.version_info))
    routes.add_get("/flags", json_get(lambda: {"flags": as_dict(master.flags)}))
    routes.add_get("/master/flags", json_get(lambda: {"flags": as_dict(master.flags)}))
    routes.add_get(
        "/master/maintenance/schedule",
        json_get(lambda: master.schedule.to_json()),  # noqa: PLW0108 - read at call time
    )
    routes.add_get(
        "/master/maintenance/status",
        json_get(lambda: views.maintenance_status(master)["status"]),
    )


_QUERIES = {
    "GET_HEALTH": lambda m, w: {"healthy": True},
    "GET_VERSION": lambda m, w: {"version_info": views.version_info()},
    "GET_FLAGS": lambda m, w: views.get_flags(m),
    "GET_STATE": lambda m, w: views.get_state(m),
    "GET_AGENTS": lambda m, w: views.get_agents(m),
    "GET_FRAMEWORKS": lambda m, w: views.get_frameworks(m),
    "GET_TASKS": lambda m, w: views.get_tasks(m),
    "GET_EXECUTORS": lambda m, w: views.get_executors(m),
    "GET_ROLES": views.get_roles,
    "GET_MASTER": lambda m, w: views.get_master(m),
    "GET_MAINTENANCE_SCHEDULE": lambda m, w: {"schedule": m.schedule.to_json()},
    "GET_MAINTENANCE_STATUS": lambda m, w: views.maintenance_status(m),
}
_ACTIONS = {"UPDATE_MAINTENANCE_SCHEDULE", "START_MAINTENANCE", "STOP_MAINTENANCE", "SUBSCRIBE"}
_AGENT_CALLS = {"DRAIN_AGENT", "DEACTIVATE_AGENT", "REACTIVATE_AGENT", "MARK_AGENT_GONE"}


async def _operator(
    request: web.Request, master: Master, weights: dict[str, float]
) -> web.StreamResponse:
    call, refused = await decode_call(
        request, OperatorCall, "Failed to convert JSON into Call protobuf"
    )
    if call is None:
        return refused  # type: ignore[return-value]
    if call.type not in _QUERIES and call.type not in _ACTIONS and call.type not in _AGENT_CALLS:
        return text(400, f"Failed to validate master::Call: unknown call type '{call.type}'")
    if not accepts_json(request):
        return text(406, "Expecting 'Accept' to allow 'application/json'")

    build = _QUERIES.get(call.type)
    if build is not None:
        key = call.type.lower()
        return web.json_response({"type": call.type, key: build(master, weights)})

    if call.type == "SUBSCRIBE":
        stream = EventStream(str(uuidlib.uuid4()))
        stream.send_json(
            {
                "type": "SUBSCRIBED",
                "subscribed": {
                    "get_state": views.get_state(master),
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
