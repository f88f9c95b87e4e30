"""The master's aiohttp application: routes, the leadership seam (only the leading master
serves the APIs; others redirect with 307, or answer 503 with no leader known) and one
access-control seam in front of every handler where authentication/authorization slot in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from mesos_runtime.wire.mesos import MasterInfo

from . import agent_channel, operator_api, scheduler_api, webui
from .access import AccessControl, MasterAccess
from .master import Master
from .streaming import Handler, Routes

log = logging.getLogger("mesos.master.http")

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


LEADERSHIP_KEY = web.AppKey("leadership", Leadership)


ACCESS_KEY = web.AppKey("access", AccessControl)

# paths that only the leading master serves (the rest are read-only and answer anywhere)
_LEADER_ONLY = ("/api/v1/scheduler", "/api/v1", agent_channel.PATH)


def leader_location(leader: MasterInfo, path: str) -> str:
    address = leader.address
    host = (address.hostname or address.ip) if address else leader.hostname
    port = address.port if address else leader.port
    return f"//{host}:{port}{path}"


def _gate(leadership: Leadership, access: AccessControl) -> Callable[[str, Handler], Handler]:
    """The seam in front of every handler: a follower redirects (or refuses) the calls
    only the leader serves, then access control may refuse the request."""

    def wrap(path: str, handler: Handler) -> Handler:
        leader_only = path in _LEADER_ONLY
        check = access.checker(path)  # None: nothing to check on this path

        async def gated(request: web.Request) -> web.StreamResponse:
            if leader_only and not leadership.is_leader:
                leader = leadership.leader
                if leader is None:
                    return web.Response(status=503, text="No leading master is known")
                raise web.HTTPTemporaryRedirect(location=leader_location(leader, path))
            if check is not None:
                refused = await check(request)
                if refused is not None:
                    return refused
            return await handler(request)

        return gated

    return wrap


def build_app(
    master: Master, leadership: Leadership, access: AccessControl | None = None
) -> web.Application:
    access = access or AccessControl()
    if isinstance(access, MasterAccess):
        access.master = master
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[MASTER_KEY] = master
    app[LEADERSHIP_KEY] = leadership
    app[ACCESS_KEY] = access
    routes = Routes(app, _gate(leadership, access))
    scheduler_api.add_routes(routes, master, access)
    agent_channel.add_routes(routes, master, access)
    operator_api.add_routes(routes, master, leadership, access)
    webui.add_routes(routes, master, access)
    return app
