"""Shared fixtures: real master and agent daemons on loopback, and one real 3-node
ZooKeeper quorum (Debian's `zookeeper` package) for the whole session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.harness import daemons, zookeeper
from tests.harness.v1_client import V1Client


@pytest.fixture
def master(tmp_path: Path) -> Iterator[daemons.Daemon]:
    """A running standalone master."""
    m = daemons.master(tmp_path / "master").start()
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture
async def client(master: daemons.Daemon) -> AsyncIterator[V1Client]:
    """A raw v1 HTTP client on `master` (a module may provide its own `master`)."""
    async with V1Client(master.url) as c:
        yield c


@pytest.fixture
def agent(tmp_path: Path, master: daemons.Daemon) -> Iterator[daemons.Daemon]:
    """A running agent registered with `master`."""
    a = daemons.agent(
        tmp_path / "agent",
        master.address,
        "--resources=cpus:4;mem:4096;disk:10000;ports:[31000-31999]",
    ).start()
    try:
        daemons.wait_until(
            lambda: daemons.registered_agents(master), 30, message="agent registered"
        )
        yield a
    finally:
        a.stop()


@pytest.fixture(scope="session")
def zk_quorum(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zookeeper.QuorumHandle]:
    """A running 3-node quorum shared by the session: every test works under its own znode
    path, and a test that kills a node brings it back (or leaves it to the next fixture
    that checks). Skips with the reason when ZooKeeper cannot be had."""
    try:
        zookeeper.ensure_installed()
    except zookeeper.ZooKeeperUnavailable as e:
        pytest.skip(str(e))
    quorum = zookeeper.start_quorum(tmp_path_factory.mktemp("zookeeper"))
    try:
        yield quorum
    finally:
        quorum.stop()
