"""Serving an `EventStream` as a chunked RecordIO response (Mesos' streaming calls), with
periodic HEARTBEAT records, and the request checks every v1 endpoint shares."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from mesos_runtime.security.http_limits import BodyRefused, read_body
from mesos_runtime.wire import Record, WireError, recordio
from mesos_runtime.wire.bounds import loads_untrusted

from .state import EventStream

JSON = "application/json"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Routes:
    """Where the API modules register their handlers: `gate` (http.py: leadership and
    access control) wraps each one as it is added, so a request meets the gate in its
    own handler, without a middleware layer around every request."""

    def __init__(self, app: web.Application, gate: Callable[[str, Handler], Handler]) -> None:
        self._app = app
        self._gate = gate

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        self._app.router.add_route(method, path, self._gate(path, handler))

    def add_get(self, path: str, handler: Handler) -> None:
        self._app.router.add_get(path, self._gate(path, handler))


def text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message, content_type="text/plain")


def method_not_allowed(request: web.Request) -> web.Response:
    return web.Response(
        status=405,
        text=f"Expecting one of {{ 'POST' }}, but received '{request.method}'",
        headers={"Allow": "POST"},
        content_type="text/plain",
    )


def check_content_type(request: web.Request) -> web.Response | None:
    content_type = request.headers.get("Content-Type")
    if content_type is None:
        return text(400, "Expecting 'Content-Type' to be present")
    if content_type.split(";")[0].strip().lower() != JSON:
        return text(415, f"Expecting 'Content-Type' of {JSON} (protobuf is not supported)")
    return None


def accepts_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept")
    if not accept:
        return True
    for item in accept.split(","):
        media = item.split(";")[0].strip().lower()
        params = item.split(";")[1:]
        if any(p.strip().replace(" ", "") in ("q=0", "q=0.0") for p in params):
            continue
        if media in (JSON, "application/*", "*/*"):
            return True
    return False


async def read_json(request: web.Request, limit: int) -> tuple[Any, web.Response | None]:
    """The body as JSON (at most `limit` bytes, finite numbers, bounded depth, valid
    Unicode), or the 4xx response that refuses it."""
    try:
        body = await read_body(request, limit)
    except BodyRefused as e:
        return None, e.response()
    try:
        return loads_untrusted(body), None
    except WireError as e:
        return None, text(400, f"Failed to parse body into JSON: {e}")


R = TypeVar("R", bound=Record)


async def decode_call(
    request: web.Request, kind: type[R], refusal: str, limit: int
) -> tuple[R | None, web.Response | None]:
    """The prelude every v1 POST endpoint shares: method, Content-Type, JSON, the record.

    Returns the decoded call, or the 4xx response that refuses the request; `refusal`
    prefixes a decoding error (Mesos' wording, e.g. "Failed to convert JSON into Call
    protobuf").
    """
    if request.method != "POST":
        return None, method_not_allowed(request)
    refused = check_content_type(request)
    if refused is not None:
        return None, refused
    body, refused = await read_json(request, limit)
    if refused is not None:
        return None, refused
    try:
        return kind.from_json(body), None
    except WireError as e:
        return None, text(400, f"{refusal}: {e}")


async def serve_stream(
    request: web.Request,
    stream: EventStream,
    *,
    heartbeat_interval: float | None,
    heartbeat: Record | dict[str, Any] | None,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """Write the stream's records until it closes or the client goes away. `heartbeat` is
    the typed event (or, for the operator API, the JSON) written when the stream is quiet."""
    beat = None
    if heartbeat is not None:
        beat = recordio.encode_json(
            heartbeat.to_json() if isinstance(heartbeat, Record) else heartbeat
        )
    response = web.StreamResponse(status=200, headers={"Content-Type": JSON, **(headers or {})})
    response.enable_chunked_encoding()
    await response.prepare(request)
    deadline = time.monotonic() + heartbeat_interval if heartbeat_interval else None
    try:
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            record = await stream.next(wait)
            if record is None:
                break
            if record == b"":
                if beat is not None and deadline is not None:
                    await response.write(beat)
                    deadline += heartbeat_interval  # type: ignore[operator]
                continue
            await response.write(record)
        await response.write_eof()
    except (ConnectionResetError, asyncio.CancelledError, RuntimeError):
        # the client went away (aiohttp cancels the handler or the write fails)
        pass
    return response
