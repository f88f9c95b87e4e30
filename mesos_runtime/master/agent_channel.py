"""Server side of the agent channel (`POST /agent/v1`, see mesos_runtime/wire/agent_channel.py
and docs/agent-channel.md): SUBSCRIBE opens the agent's event stream; PONG, UPDATE,
MESSAGE, EXECUTOR_EXITED and UNREGISTER are answered 202 and handed to the master (an
UPDATE of channel version 2 may carry a batch of updates: each is handed over in order).
"""

from __future__ import annotations

import uuid as uuidlib

from aiohttp import web

from mesos_runtime.security.authentication import principal_of
from mesos_runtime.security.http_limits import MIB
from mesos_runtime.wire.agent_channel import (
    CHANNEL_PATH,
    CHANNEL_VERSION,
    MIN_CHANNEL_VERSION,
    AgentCall,
    AgentCallType,
    AgentEvent,
    AgentEventType,
    AgentShutdown,
)
from mesos_runtime.wire.record import WireError

from .access import AccessControl
from .master import AgentRefused, Master
from .registry import RegistryFenced
from .state import EventStream
from .streaming import (
    Routes,
    check_content_type,
    method_not_allowed,
    read_json,
    serve_stream,
    text,
)

PATH = CHANNEL_PATH
BODY_LIMIT = 64 * MIB  # a re-registering agent reports every task it runs

_PAYLOAD = {
    AgentCallType.SUBSCRIBE: "subscribe",
    AgentCallType.MESSAGE: "message",
    AgentCallType.EXECUTOR_EXITED: "executor_exited",
}


def add_routes(routes: Routes, master: Master, access: AccessControl) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await _handle(request, master, access)

    routes.add_route("*", PATH, handle)


async def _handle(
    request: web.Request, master: Master, access: AccessControl
) -> web.StreamResponse:
    if request.method != "POST":
        return method_not_allowed(request)
    refused = check_content_type(request)
    if refused is not None:
        return refused
    body, refused = await read_json(request, BODY_LIMIT)
    if refused is not None:
        return refused
    try:
        call = AgentCall.from_json(body)
    except WireError as e:
        return text(400, f"Failed to parse AgentCall: {e}")
    name = _PAYLOAD.get(call.type)
    if name is not None and getattr(call, name) is None:
        return text(400, f"Expecting '{name}' to be present")
    if call.type is AgentCallType.UPDATE and call.update is None and not call.updates:
        return text(400, "Expecting 'update' or 'updates' to be present")
    if call.type is AgentCallType.SUBSCRIBE:
        assert call.subscribe is not None
        refused = access.agent_subscribe(request, call.subscribe)
        if refused is not None:
            return refused
        return await _subscribe(request, master, call)
    if call.agent_id is None:
        return text(400, "Expecting 'agent_id' to be present")
    agent = master.agents.get(call.agent_id.value)
    if agent is None or not agent.connected:
        # the agent must (re-)subscribe first: e.g. after a master failover
        return text(403, f"Agent {call.agent_id.value} is not registered")
    refused = access.agent_call(request, agent, call)
    if refused is not None:
        return refused
    try:
        match call.type:
            case AgentCallType.PONG:
                master.agent_pong(agent)
            case AgentCallType.UPDATE:
                if call.update is not None:
                    master.agent_update(agent, call.update)
                for update in call.updates:  # channel version 2: a batch, in order
                    master.agent_update(agent, update)
            case AgentCallType.MESSAGE:
                master.agent_message(agent, call.message)  # type: ignore[arg-type]
            case AgentCallType.EXECUTOR_EXITED:
                master.executor_exited(agent, call.executor_exited)  # type: ignore[arg-type]
            case AgentCallType.UNREGISTER:
                await master.agent_unregister(agent)
            case _:
                return text(400, f"Unsupported agent call {call.type.value}")
    except RegistryFenced:
        master.fenced()
        return text(503, "This master is no longer the leader")
    return web.Response(status=202)


async def _subscribe(request: web.Request, master: Master, call: AgentCall) -> web.StreamResponse:
    assert call.subscribe is not None
    version = call.subscribe.version or CHANNEL_VERSION
    if not MIN_CHANNEL_VERSION <= version <= CHANNEL_VERSION:
        return text(
            400,
            f"Agent channel version {version} is not supported "
            f"({MIN_CHANNEL_VERSION}..{CHANNEL_VERSION})",
        )
    stream = EventStream(str(uuidlib.uuid4()))
    try:
        agent = await master.agent_subscribe(
            call.subscribe, stream, request.remote or "127.0.0.1", principal_of(request)
        )
    except AgentRefused as e:
        # as Mesos: a removed agent is told to shut down rather than refused silently
        stream.send(
            AgentEvent(type=AgentEventType.SHUTDOWN, shutdown=AgentShutdown(message=str(e)))
        )
        stream.close()
        return await serve_stream(request, stream, heartbeat_interval=None, heartbeat=None)
    except WireError as e:
        return text(400, f"Invalid agent resources: {e}")
    except RegistryFenced:
        master.fenced()
        return text(503, "This master is no longer the leader")
    try:
        return await serve_stream(request, stream, heartbeat_interval=None, heartbeat=None)
    finally:
        master.agent_disconnected(agent, stream)
