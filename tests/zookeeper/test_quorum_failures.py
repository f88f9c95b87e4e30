"""The election and the registry keep serving while ZooKeeper nodes are SIGKILLed."""

from __future__ import annotations

import asyncio
import time

import pytest
from kazoo.protocol.states import KazooState

from mesos_runtime.discovery import MasterContender, MasterDetector
from mesos_runtime.discovery.store import RegistryFenced, ZooKeeperStore
from tests.harness.daemons import eventually
from tests.harness.zookeeper import QuorumHandle
from tests.zookeeper.conftest import SESSION_TIMEOUT, ContenderFactory

pytestmark = pytest.mark.zookeeper

# a client reconnects to a surviving server within its session; after the ZooKeeper
# leader dies, the quorum first has to elect a new one
RECOVERY = 3 * SESSION_TIMEOUT


def only_leader(contenders: list[MasterContender]) -> MasterContender | None:
    leaders = [c for c in contenders if c.is_leader]
    assert len(leaders) <= 1, f"two acting leaders: {[c.info.id for c in leaders]}"
    return leaders[0] if leaders else None


def serving_node(quorum: QuorumHandle, contender: MasterContender) -> int:
    """The myid of the ZooKeeper server `contender`'s session is connected to."""
    port = contender.client._connection._socket.getpeername()[1]
    return next(n.myid for n in quorum.nodes if n.client_port == port)


async def elect(contenders: ContenderFactory, detector: MasterDetector) -> list[MasterContender]:
    masters = [await contenders(name) for name in ("a", "b", "c")]
    leader = await eventually(lambda: only_leader(masters), 30, message="a leader")
    assert await detector.detect_info(None, timeout=30) == leader.info
    return masters


async def still_serving(masters: list[MasterContender], detector: MasterDetector) -> None:
    """One leader acts and writes the registry, every client reconnected, detector agrees."""
    deadline = time.monotonic() + RECOVERY
    while True:
        # a leader may yet find its connection gone and step down: then ask the next one
        leader = only_leader(masters)
        try:
            if leader is not None:
                store = ZooKeeperStore(leader)
                await store.load()
                await store.store(b"written after the failure")
                break
        except RegistryFenced:
            pass
        assert time.monotonic() < deadline, "no leader could write the registry"
        await asyncio.sleep(0.1)
    assert await ZooKeeperStore(leader).load() == b"written after the failure"
    await eventually(
        lambda: all(m.client.state == KazooState.CONNECTED for m in masters),
        RECOVERY,
        message="every contender reconnected",
    )
    leader = await eventually(lambda: only_leader(masters), RECOVERY, message="a leader")
    await eventually(lambda: detector.leader == leader.info, RECOVERY, message="detector agrees")


async def test_sigkill_of_a_zookeeper_follower_keeps_the_election_serving(
    zk_quorum: QuorumHandle, contenders: ContenderFactory, detector: MasterDetector
) -> None:
    masters = await elect(contenders, detector)
    leader = only_leader(masters)
    assert leader is not None
    # the worst follower to lose: the one the leading master talks to, if it is a follower
    followers = zk_quorum.follower_indexes()
    victim = serving_node(zk_quorum, leader)
    if victim not in followers:
        victim = followers[0]

    zk_quorum.kill(victim)
    try:
        await still_serving(masters, detector)
        assert zk_quorum.leader_index() is not None
    finally:
        zk_quorum.start(victim)


async def test_sigkill_of_the_zookeeper_leader_reelects_and_clients_reconnect(
    zk_quorum: QuorumHandle, contenders: ContenderFactory, detector: MasterDetector
) -> None:
    masters = await elect(contenders, detector)
    old = zk_quorum.leader_index()
    assert old is not None

    zk_quorum.kill(old)
    try:
        new = zk_quorum.wait_for_quorum(RECOVERY * 2)
        assert new != old
        await still_serving(masters, detector)
    finally:
        zk_quorum.start(old)
    assert zk_quorum.leader_index() == new
