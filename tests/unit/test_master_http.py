"""The leadership seam in front of the master's APIs: a master that does not lead
redirects API calls to the leader with 307 (`Location: //host:port/path`, as Mesos
clients expect) or answers 503 when no leader is known, while read endpoints answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from mesos_runtime.master.allocator import Allocator
from mesos_runtime.master.flags import MasterFlags
from mesos_runtime.master.http import build_app
from mesos_runtime.master.master import Master
from mesos_runtime.master.registry import FileStore, Registry
from mesos_runtime.wire.mesos import Address, MasterInfo

LEADER = MasterInfo(
    id="other",
    ip=0,
    port=5050,
    hostname="leader.example",
    address=Address(hostname="leader.example", ip="10.0.0.1", port=5050),
    pid="master@10.0.0.1:5050",
)


class Following:
    """A master that follows `leader` (None: no leader elected yet)."""

    def __init__(self, leader: MasterInfo | None) -> None:
        self.leader = leader
        self.is_leader = False


async def serve(tmp_path: Path, leadership: Following) -> TestServer:
    master = Master(
        MasterFlags(work_dir=str(tmp_path)),
        Registry(FileStore(tmp_path)),
        Allocator(),
        hostname="follower",
        advertise_ip="127.0.0.1",
        advertise_port=5051,
    )
    server = TestServer(build_app(master, leadership), host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.mark.parametrize("path", ["/api/v1/scheduler", "/api/v1", "/agent/v1"])
async def test_follower_redirects_api_calls_to_the_leader(
    tmp_path: Path, session: aiohttp.ClientSession, path: str
) -> None:
    server = await serve(tmp_path, Following(LEADER))
    try:
        async with session.post(
            server.make_url(path), json={"type": "SUBSCRIBE"}, allow_redirects=False
        ) as response:
            assert response.status == 307
            assert response.headers["Location"] == f"//leader.example:5050{path}"
        async with session.get(
            server.make_url("/master/redirect"), allow_redirects=False
        ) as response:
            assert response.status == 307
            assert response.headers["Location"] == "//leader.example:5050"
        async with session.get(server.make_url("/master/state")) as response:
            state = await response.json()
            assert state["leader"] == "master@10.0.0.1:5050"
        async with session.get(server.make_url("/metrics/snapshot")) as response:
            assert (await response.json())["master/elected"] == 0.0
    finally:
        await server.close()


async def test_without_a_leader_api_calls_get_503(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    server = await serve(tmp_path, Following(None))
    try:
        async with session.post(server.make_url("/api/v1/scheduler"), json={}) as response:
            assert response.status == 503
        async with session.get(server.make_url("/health")) as response:
            assert response.status == 200
        async with session.get(server.make_url("/master/state")) as response:
            assert "leader" not in await response.json()
    finally:
        await server.close()
