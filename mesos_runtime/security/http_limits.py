"""Limits every HTTP server of the runtime applies: bounded request bodies read within a
deadline, bounded headers, idle connections closed, and a cap on open connections that
evicts the longest-idle one rather than refuse a newcomer.

A connection is busy while a handler runs for it (event streams included), idle otherwise;
only idle connections are evicted, so agents' and frameworks' streams, and a `/health`
probe arriving when the cap is reached, keep working while idle sockets make room.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger("mesos.http")

KIB = 1 << 10
MIB = 1 << 20
BODY_TIMEOUT = 30.0  # seconds a client has to send a request body
IDLE_TIMEOUT = 75.0  # seconds an idle connection (no request, or between requests) is kept
# aiohttp's parser bounds a header line and field; the whole head holds at most this many
MAX_HEADERS = 100
MAX_FIELD_SIZE = 8190


class BodyRefused(Exception):
    """A request body that is too large or too slow: `status` (413, 408) and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> web.Response:
        return web.Response(status=self.status, text=self.message, content_type="text/plain")


async def read_body(request: web.Request, limit: int, timeout: float = BODY_TIMEOUT) -> bytes:
    """The request body, at most `limit` bytes, received within `timeout` seconds."""
    length = request.content_length
    if length is not None and length > limit:
        raise BodyRefused(413, f"Request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            if length is not None:  # the common case: aiohttp's own read, within the limit
                return await request.read()
            async for chunk in request.content.iter_any():
                size += len(chunk)
                if size > limit:
                    raise BodyRefused(413, f"Request body is larger than {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise BodyRefused(408, f"Request body not received within {timeout:g}s") from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def connection_limit(share: float) -> int:
    """`share` of this process' file descriptors, after raising the soft limit to the hard
    one (as daemons usually do at start): what may be spent on client connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return max(16, int(soft * share))


class ConnectionGuard:
    """Tracks the open connections of one server and keeps them under `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.evicted = 0
        self._open: dict[Any, asyncio.BaseTransport] = {}  # insertion order: oldest first
        self._busy: dict[Any, int] = {}

    def __len__(self) -> int:
        return len(self._open)

    def opened(self, handler: Any, transport: asyncio.BaseTransport) -> None:
        self._open[handler] = transport
        if len(self._open) <= self.limit:
            return
        victim = next((h for h in self._open if h not in self._busy and h is not handler), None)
        if victim is None:
            victim = handler  # everything is in use: the newcomer waits for its client's retry
        self.evicted += 1
        if self.evicted in (1, 10, 100) or self.evicted % 1000 == 0:
            log.warning(
                "%d open connections (limit %d): closed %d idle connection(s) so far",
                len(self._open),
                self.limit,
                self.evicted,
            )
        self._open.pop(victim).close()

    def closed(self, handler: Any) -> None:
        self._open.pop(handler, None)
        self._busy.pop(handler, None)

    def wrap(self, handle: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]) -> Any:
        busy = self._busy

        async def guarded(request: web.BaseRequest) -> web.StreamResponse:
            protocol = request.protocol
            busy[protocol] = busy.get(protocol, 0) + 1
            try:
                return await handle(request)
            finally:
                left = busy.get(protocol, 1) - 1
                if left:
                    busy[protocol] = left
                else:
                    busy.pop(protocol, None)

        return guarded


class GuardedRunner(web.AppRunner):
    """An AppRunner whose server applies the limits above."""

    def __init__(self, app: web.Application, guard: ConnectionGuard, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", IDLE_TIMEOUT)
        kwargs.setdefault("max_headers", MAX_HEADERS)
        kwargs.setdefault("max_field_size", MAX_FIELD_SIZE)
        kwargs.setdefault("max_line_size", MAX_FIELD_SIZE)
        super().__init__(app, **kwargs)
        self.guard = guard

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        guard = self.guard
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: Any, transport: Any) -> None:
            made(handler, transport)
            guard.opened(handler, transport)

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            lost(handler, exc)
            guard.closed(handler)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]
        server.request_handler = guard.wrap(server.request_handler)
        return server
