"""A master whose ZooKeeper session is lost stops leading at once, then contends afresh."""

from __future__ import annotations

import asyncio
import time

import pytest
from kazoo.client import KazooClient

from mesos_runtime.discovery import MasterContender, MasterDetector, ZooKeeperURL
from tests.harness.daemons import eventually
from tests.zookeeper.conftest import SESSION_TIMEOUT, ContenderFactory

pytestmark = pytest.mark.zookeeper

FAILOVER = SESSION_TIMEOUT + 1.0


def expire_session(zk_url: ZooKeeperURL, contender: MasterContender) -> None:
    """Expire `contender`'s session for real: take it over from another client, close it.

    The server moves the session to the new connection (the contender is cut off at once)
    and ends it on close, deleting its ephemeral znode - what a partition followed by
    session expiry does to a master.
    """
    thief = KazooClient(hosts=zk_url.hosts, client_id=contender.client.client_id)
    thief.start(timeout=30)
    # in a real partition the cut-off client suspends (and steps down) well before the
    # server expires its session; wait for that before ending the session, so the race
    # between the two notifications is the real one and not an artefact of the takeover
    deadline = time.monotonic() + 10
    while contender.is_leader and time.monotonic() < deadline:
        time.sleep(0.01)
    thief.stop()
    thief.close()


def assert_one_leader_at_a_time(changes: list[tuple[str, bool]]) -> None:
    leading: set[str] = set()
    for name, elected in changes:
        if elected:
            assert not leading, f"{name} elected while {leading} still led: {changes}"
            leading.add(name)
        else:
            leading.discard(name)


async def test_master_whose_session_is_lost_stops_leading_before_another_is_elected(
    contenders: ContenderFactory, detector: MasterDetector, zk_url: ZooKeeperURL
) -> None:
    changes: list[tuple[str, bool]] = []
    masters = [
        await contenders(name, on_change=lambda leading, n=name: changes.append((n, leading)))
        for name in ("a", "b", "c")
    ]
    a, b, _c = masters
    await eventually(lambda: a.is_leader, 30, message="a elected")
    old_znode = a.znode

    await asyncio.to_thread(expire_session, zk_url, a)

    await eventually(lambda: b.is_leader, FAILOVER, message="b elected")
    assert not a.is_leader
    # a stepped down before b took over: never two acting leaders
    assert_one_leader_at_a_time(changes)
    assert await detector.detect_info(a.info, timeout=FAILOVER) == b.info

    # a contends again, with a fresh znode, behind the others
    await eventually(lambda: a.znode not in (None, old_znode), FAILOVER, message="a re-contends")
    assert not a.is_leader and b.is_leader
    assert_one_leader_at_a_time(changes)


async def test_suspended_session_suspends_leadership_until_the_session_is_back(
    contenders: ContenderFactory, zk_url: ZooKeeperURL
) -> None:
    """Losing the connection to one ZooKeeper server suspends the session (it lives on)."""
    changes: list[bool] = []
    leader = await contenders("a", on_change=changes.append)
    follower = await contenders("b")
    await eventually(lambda: leader.is_leader, 30, message="a elected")
    znode = leader.znode

    # drop a's TCP connection under it: kazoo sees the socket close and suspends
    connection = leader.client._connection._socket
    connection.shutdown(2)

    await eventually(lambda: False in changes, 10, message="a steps down")
    # the session survived, and with it a's znode: nobody else could have been elected,
    # so a leads again as soon as it has reconnected
    await eventually(lambda: leader.is_leader, FAILOVER, message="a leads again")
    assert leader.znode == znode
    assert not follower.is_leader
    assert changes == [True, False, True]
