"""`POST /api/v1/scheduler`: the v1 scheduler API, checked the way Mesos' master checks
it (method, Content-Type, JSON, call validation, Accept, stream id, framework) before a
call reaches the master; SUBSCRIBE answers with the framework's event stream.
"""

from __future__ import annotations

import logging
import uuid as uuidlib

from aiohttp import web

from mesos_runtime.security.http_limits import MIB
from mesos_runtime.wire.scheduler import Call, CallType, Event, EventType

from .access import AccessControl
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
from .validation import validate_call

PATH = "/api/v1/scheduler"
STREAM_ID = "Mesos-Stream-Id"
BODY_LIMIT = 16 * MIB  # an ACCEPT launching many tasks, a RECONCILE of many

log = logging.getLogger("mesos.master.scheduler")

# the master's per-call message counters, e.g. master/messages_acknowledge
_COUNTERS = {kind: f"master/messages_{kind.value.lower()}" for kind in CallType}


def add_routes(routes: Routes, master: Master, access: AccessControl) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await _handle(request, master, access)

    routes.add_route("*", PATH, handle)


async def _handle(
    request: web.Request, master: Master, access: AccessControl
) -> web.StreamResponse:
    call, refused = await decode_call(
        request, Call, "Failed to convert JSON into Call protobuf", BODY_LIMIT
    )
    if call is None:
        return refused  # type: ignore[return-value]
    error = validate_call(call)
    if error is not None:
        return text(400, f"Failed to validate scheduler::Call: {error}")
    refused = access.scheduler_call(request, call)
    if refused is not None:
        return refused

    if call.type is CallType.SUBSCRIBE:
        return await _subscribe(request, master, call)

    assert call.framework_id is not None
    framework = master.frameworks.get(call.framework_id.value)
    if framework is None:
        return text(400, "Framework cannot be found")
    if not framework.connected:
        return text(403, "Framework is not subscribed")
    stream_id = request.headers.get(STREAM_ID)
    if stream_id is None:
        return text(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
    assert framework.stream is not None
    if stream_id != framework.stream.stream_id:
        return text(
            400,
            f"The stream ID '{stream_id}' included in this request didn't match the stream "
            f"ID currently associated with framework ID {framework.id}",
        )
    master.counters[_COUNTERS[call.type]] += 1
    try:
        match call.type:
            case CallType.TEARDOWN:
                await master.remove_framework(framework, "TEARDOWN by the framework")
            case CallType.ACCEPT:
                assert call.accept is not None
                unauthorized = access.unauthorized_tasks(request, framework.info, call.accept)
                master.accept(framework, call.accept, unauthorized)
            case CallType.DECLINE:
                assert call.decline is not None
                master.decline(framework, call.decline)
            case CallType.REVIVE:
                master.revive(framework, call.revive.roles if call.revive else [])
            case CallType.SUPPRESS:
                master.suppress(framework, call.suppress.roles if call.suppress else [])
            case CallType.KILL:
                assert call.kill is not None
                master.kill(framework, call.kill)
            case CallType.SHUTDOWN:
                assert call.shutdown is not None
                master.shutdown_executor(framework, call.shutdown)
            case CallType.ACKNOWLEDGE:
                assert call.acknowledge is not None
                master.acknowledge(framework, call.acknowledge)
            case CallType.RECONCILE:
                assert call.reconcile is not None
                master.reconcile(framework, call.reconcile)
            case CallType.MESSAGE:
                assert call.message is not None
                master.message(framework, call.message)
            case CallType.REQUEST:
                pass  # the allocator ignores resource requests, as Mesos' does
            case CallType.UPDATE_FRAMEWORK:
                assert call.update_framework is not None
                await master.update_framework(framework, call.update_framework)
                return web.Response(status=200)
            case _:
                return text(501, f"{call.type.value} is not implemented")
    except RegistryFenced:
        master.fenced()
        return text(503, "This master is no longer the leader")
    return web.Response(status=202)


async def _subscribe(request: web.Request, master: Master, call: Call) -> web.StreamResponse:
    if not accepts_json(request):
        return text(406, "Expecting 'Accept' to allow 'application/json'")
    if STREAM_ID in request.headers:
        return text(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
    assert call.subscribe is not None
    stream = EventStream(str(uuidlib.uuid4()))
    try:
        framework = await master.subscribe(call.subscribe, stream)
    except RegistryFenced:
        master.fenced()
        return text(503, "This master is no longer the leader")
    try:
        return await serve_stream(
            request,
            stream,
            heartbeat_interval=float(master.flags.heartbeat_interval),
            heartbeat=Event(type=EventType.HEARTBEAT),
            headers={STREAM_ID: stream.stream_id},
        )
    finally:
        if framework is not None:
            master.scheduler_disconnected(framework, stream)
