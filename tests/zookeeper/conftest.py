"""Fixtures on a real 3-node ZooKeeper quorum (Debian's `zookeeper` package) on loopback.

One quorum serves the whole session; every test works under its own znode path, and a
test that kills a ZooKeeper node brings it back before it ends.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from mesos_runtime.discovery import (
    MasterContender,
    MasterDetector,
    ZooKeeperURL,
    make_master_info,
    parse_zk_url,
)
from tests.harness import zookeeper
from tests.harness.daemons import eventually, free_port

# short enough that expiry-driven failovers keep the suite fast, long enough not to
# expire spuriously on a loaded 2-core machine
SESSION_TIMEOUT = 4.0


@pytest.fixture
def zk_url(zk_quorum: zookeeper.QuorumHandle) -> ZooKeeperURL:
    """A fresh `--zk` URL (own path) on the quorum, with every node serving."""
    for node in zk_quorum.nodes:
        if not node.running:
            zk_quorum.start(node.myid)
    zk_quorum.wait_for_quorum()
    return parse_zk_url(zk_quorum.zk_url(f"/mesos-{uuid.uuid4().hex[:8]}"))


ContenderFactory = Callable[..., MasterContender]


@pytest.fixture
async def contenders(zk_url: ZooKeeperURL) -> AsyncIterator[ContenderFactory]:
    """Make contenders (`await make(name)`) on `zk_url`, each contending once made."""
    made: list[MasterContender] = []

    async def make(name: str, **kwargs: object) -> MasterContender:
        info = make_master_info(name, "127.0.0.1", free_port(), hostname="localhost")
        contender = MasterContender(
            zk_url,
            info,
            session_timeout=SESSION_TIMEOUT,
            **kwargs,  # type: ignore[arg-type]
        )
        made.append(contender)
        await contender.start()
        # contend in the order made, so the election order is known
        await eventually(lambda: contender.znode, 30, message=f"{name} contending")
        return contender

    try:
        yield make
    finally:
        for c in made:
            await c.close()


@pytest.fixture
async def detector(zk_url: ZooKeeperURL) -> AsyncIterator[MasterDetector]:
    d = MasterDetector(zk_url, session_timeout=SESSION_TIMEOUT)
    await d.start()
    try:
        yield d
    finally:
        await d.close()
