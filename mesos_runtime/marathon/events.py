"""Marathon's event bus and its server-sent event stream (`GET /v2/events`).

Every event is a JSON object with `eventType` and `timestamp`, sent as
`event: <eventType>` / `data: <json>` records; `?event_type=` filters by type. A slow
subscriber's queue is bounded: when it overflows, that subscriber is dropped rather than
holding Marathon back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from .instances import iso

__all__ = ["EventBus", "stream_events"]

log = logging.getLogger(__name__)

_QUEUE_LIMIT = 10_000
_KEEPALIVE = 15.0


class EventBus:
    """Fan events out to the attached streams (and keep counts for /metrics)."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self.published = 0

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, event_type: str, **fields: Any) -> dict[str, Any]:
        event = {"eventType": event_type, "timestamp": iso(time.time()), **fields}
        self.published += 1
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("dropping an event stream subscriber that does not keep up")
                self._subscribers.discard(queue)
                queue.get_nowait()  # make room for the end-of-stream marker
                queue.put_nowait(None)
        return event

    def attach(self) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(_QUEUE_LIMIT)
        self._subscribers.add(queue)
        return queue

    def detach(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._subscribers.discard(queue)

    def close(self) -> None:
        for queue in list(self._subscribers):
            self._subscribers.discard(queue)
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)


def _record(event: dict[str, Any]) -> bytes:
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['eventType']}\ndata: {data}\n\n".encode()


async def stream_events(
    request: web.Request, bus: EventBus, types: Iterable[str]
) -> web.StreamResponse:
    """Answer `request` with the event stream until the client goes away."""
    wanted = set(types)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    queue = bus.attach()
    remote = request.remote or ""
    try:
        attached = bus.publish("event_stream_attached", remoteAddress=remote)
        if not wanted or "event_stream_attached" in wanted:
            await response.write(_record(attached))
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), _KEEPALIVE)
            except TimeoutError:
                await response.write(b"\n")  # keeps proxies from closing an idle stream
                continue
            if event is None:
                break
            if event is attached:
                continue
            if not wanted or event["eventType"] in wanted:
                await response.write(_record(event))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        bus.detach(queue)
        bus.publish("event_stream_detached", remoteAddress=remote)
    return response
