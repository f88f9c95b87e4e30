"""Client-side logic of the scheduler library against a tiny HTTP peer on loopback.

The peer here is a stand-in that only replays canned Mesos responses (RecordIO stream,
307, 503, 400) so the client's framing, redirect, retry and heartbeat logic can be pinned
down; the client against the real master is covered in tests/integration.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from mesos_runtime.scheduler import (
    CallError,
    MasterUnavailable,
    SchedulerClient,
    StreamLost,
    base_url,
)
from mesos_runtime.scheduler.client import _redirect_target
from mesos_runtime.wire import recordio
from mesos_runtime.wire.mesos import FrameworkInfo
from mesos_runtime.wire.scheduler import EventType

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SUBSCRIBED = {
    "type": "SUBSCRIBED",
    "subscribed": {"framework_id": {"value": "fw-1"}, "heartbeat_interval_seconds": 0.2},
}


async def serve(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/api/v1/scheduler", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def framework() -> FrameworkInfo:
    return FrameworkInfo(user="root", name="unit")


async def stream(request: web.Request, chunks: list[bytes], then_idle: bool) -> web.StreamResponse:
    response = web.StreamResponse(
        status=200, headers={"Content-Type": "application/json", "Mesos-Stream-Id": "stream-7"}
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    for chunk in chunks:
        await response.write(chunk)
        await asyncio.sleep(0.01)
    if then_idle:
        await asyncio.sleep(30)
    return response


@pytest.fixture
async def peer() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers: list[AsyncIterator[str]] = []

    async def start(handler: Handler) -> str:
        gen = serve(handler)
        servers.append(gen)
        return await gen.__anext__()

    yield start
    for gen in servers:
        await gen.aclose()


async def test_events_split_across_chunks_decode_and_framework_id_is_remembered(peer) -> None:
    first = recordio.encode_json(SUBSCRIBED)
    heartbeat = recordio.encode_json({"type": "HEARTBEAT"})
    data = first + heartbeat
    chunks = [data[:3], data[3:20], data[20:]]

    async def handler(request: web.Request) -> web.StreamResponse:
        return await stream(request, chunks, then_idle=True)

    address = await peer(handler)
    async with SchedulerClient(address, framework()) as client:
        events = []
        async for event in client.subscribe():
            events.append(event.type)
            if len(events) == 2:
                break
        assert events == [EventType.SUBSCRIBED, EventType.HEARTBEAT]
        assert client.stream_id == "stream-7"
        assert client.framework_id is not None and client.framework_id.value == "fw-1"


async def test_missed_heartbeats_end_the_stream(peer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await stream(request, [recordio.encode_json(SUBSCRIBED)], then_idle=True)

    address = await peer(handler)
    async with SchedulerClient(address, framework(), heartbeat_grace=0.1) as client:
        with pytest.raises(StreamLost, match="heartbeats missed"):
            async for _ in client.subscribe():
                pass


async def test_stream_closed_by_master_raises_stream_lost(peer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await stream(request, [recordio.encode_json(SUBSCRIBED)], then_idle=False)

    address = await peer(handler)
    async with SchedulerClient(address, framework()) as client:
        with pytest.raises(StreamLost, match="closed"):
            async for _ in client.subscribe():
                pass


async def test_subscribe_follows_307_to_the_netloc_in_location(peer) -> None:
    async def leader(request: web.Request) -> web.StreamResponse:
        return await stream(request, [recordio.encode_json(SUBSCRIBED)], then_idle=True)

    leader_address = await peer(leader)

    async def follower(request: web.Request) -> web.StreamResponse:
        return web.Response(
            status=307, headers={"Location": f"//{leader_address}/api/v1/scheduler"}
        )

    follower_address = await peer(follower)
    async with SchedulerClient(follower_address, framework()) as client:
        async for event in client.subscribe():
            assert event.type is EventType.SUBSCRIBED
            break
        assert client.leader_url == f"http://{leader_address}"


async def test_subscribe_retries_while_no_leader_is_elected(peer) -> None:
    answers = iter([503, 503])

    async def handler(request: web.Request) -> web.StreamResponse:
        status = next(answers, 200)
        if status == 503:
            return web.Response(status=503, text="No leader elected")
        return await stream(request, [recordio.encode_json(SUBSCRIBED)], then_idle=True)

    address = await peer(handler)
    async with SchedulerClient(address, framework()) as client:
        async for event in client.subscribe():
            assert event.type is EventType.SUBSCRIBED
            break


async def test_subscribe_gives_up_on_503_after_subscribe_timeout(peer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, text="No leader elected")

    address = await peer(handler)
    async with SchedulerClient(address, framework(), subscribe_timeout=0.3) as client:
        with pytest.raises(MasterUnavailable, match="no leader"):
            async for _ in client.subscribe():
                pass


async def test_unreachable_master_raises_master_unavailable() -> None:
    # a port nothing listens on: bind, read the number, close
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with SchedulerClient(f"127.0.0.1:{port}", framework()) as client:
        with pytest.raises(MasterUnavailable, match="cannot reach master"):
            async for _ in client.subscribe():
                pass


async def test_calls_carry_stream_id_and_framework_id_and_errors_raise_call_error(peer) -> None:
    seen: list[tuple[str | None, dict]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if body["type"] == "SUBSCRIBE":
            return await stream(request, [recordio.encode_json(SUBSCRIBED)], then_idle=True)
        seen.append((request.headers.get("Mesos-Stream-Id"), body))
        if body["type"] == "KILL":
            return web.Response(status=400, text="Failed to validate scheduler::Call: oops")
        return web.Response(status=202)

    address = await peer(handler)
    async with SchedulerClient(address, framework()) as client:
        async for _ in client.subscribe():
            break
        await client.decline(["offer-1"], filters=10)
        with pytest.raises(CallError) as refused:
            await client.kill("task-1")
    assert refused.value.status == 400
    assert "oops" in refused.value.message
    stream_id, decline = seen[0]
    assert stream_id == "stream-7"
    assert decline == {
        "framework_id": {"value": "fw-1"},
        "type": "DECLINE",
        "decline": {"offer_ids": [{"value": "offer-1"}], "filters": {"refuse_seconds": 10.0}},
    }


def test_master_addresses_normalise_to_a_base_url() -> None:
    assert base_url("127.0.0.1:5050") == "http://127.0.0.1:5050"
    assert base_url("http://localhost:5051/") == "http://localhost:5051"
    assert base_url("master.example") == "http://master.example:5050"
    assert _redirect_target("http://a:1", "//10.0.0.2:5050/api/v1/scheduler") == (
        "http://10.0.0.2:5050"
    )


def test_unknown_event_types_are_skipped() -> None:
    from mesos_runtime.scheduler.client import _decode_event

    assert _decode_event(json.dumps({"type": "SOMETHING_NEW"}).encode()) is None
    assert _decode_event(json.dumps({"type": "HEARTBEAT"}).encode()) is not None
