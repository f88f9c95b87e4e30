"""The master's aiohttp application: routes, the leadership seam (only the leading master
serves the APIs; others redirect with 307, or answer 503 with no leader known) and one
access-control seam in front of every handler where authentication/authorization slot in.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from mesos_runtime.wire.mesos import MasterInfo

from . import agent_channel, operator_api, scheduler_api, webui
from .master import Master

log = logging.getLogger("mesos.master.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MASTER_KEY = web.AppKey("master", Master)


class Leadership(Protocol):
    """Who leads: the standalone master always does; with --zk a contender decides."""

    @property
    def is_leader(self) -> bool: ...

    @property
    def leader(self) -> MasterInfo | None: ...


class StandaloneLeadership:
    def __init__(self, info: MasterInfo) -> None:
        self._info = info

    @property
    def is_leader(self) -> bool:
        return True

    @property
    def leader(self) -> MasterInfo | None:
        return self._info


LEADERSHIP_KEY = web.AppKey("leadership", Leadership)  # type: ignore[type-abstract]


class AccessControl:
    """Authentication and authorization of HTTP requests (Mesos' --authenticate_* and
    --acls come here). Returns a response to refuse a request, or None to let it through."""

    async def check(self, request: web.Request) -> web.StreamResponse | None:
        del request
        return None


ACCESS_KEY = web.AppKey("access", AccessControl)

# paths that only the leading master serves (the rest are read-only and answer anywhere)
_LEADER_ONLY = ("/api/v1/scheduler", "/api/v1", agent_channel.PATH)


def leader_location(leader: MasterInfo, path: str) -> str:
    address = leader.address
    host = (address.hostname or address.ip) if address else leader.hostname
    port = address.port if address else leader.port
    return f"//{host}:{port}{path}"


@web.middleware
async def _gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    leadership = request.app[LEADERSHIP_KEY]
    if request.path in _LEADER_ONLY and not leadership.is_leader:
        leader = leadership.leader
        if leader is None:
            return web.Response(status=503, text="No leading master is known")
        raise web.HTTPTemporaryRedirect(location=leader_location(leader, request.path))
    refused = await request.app[ACCESS_KEY].check(request)
    if refused is not None:
        return refused
    return await handler(request)


def build_app(
    master: Master, leadership: Leadership, access: AccessControl | None = None
) -> web.Application:
    app = web.Application(middlewares=[_gate], client_max_size=64 * 1024 * 1024)
    app[MASTER_KEY] = master
    app[LEADERSHIP_KEY] = leadership
    app[ACCESS_KEY] = access or AccessControl()
    scheduler_api.add_routes(app, master)
    agent_channel.add_routes(app, master)
    operator_api.add_routes(app, master, leadership)
    webui.add_routes(app, master)
    return app
