"""The scheduler library follows the leading master on one long-lived ZooKeeper session
(the detector the agent uses), not on a session opened per lookup."""

from __future__ import annotations

import re

from mesos_runtime.discovery import ZooKeeperURL
from mesos_runtime.scheduler.client import SchedulerClient
from mesos_runtime.wire.mesos import FrameworkInfo
from tests.harness import zookeeper
from tests.harness.daemons import eventually
from tests.zookeeper.conftest import ContenderFactory


def _connections(quorum: zookeeper.QuorumHandle) -> int:
    """Client connections the ensemble holds (each mntr asks on a connection of its own)."""
    total = 0
    for node in quorum.nodes:
        answer = zookeeper.four_letter_word(node.client_port, "mntr")
        total += int(re.search(r"zk_num_alive_connections\s+(\d+)", answer).group(1))  # type: ignore[union-attr]
    return total


async def _settled(quorum: zookeeper.QuorumHandle) -> int:
    """The connection count once it stops moving (sessions of earlier tests closing)."""
    last = [-1]

    def steady() -> int | None:
        now, last[0] = _connections(quorum), _connections(quorum)
        return now if now == last[0] else None

    return await eventually(steady, 30, message="ZooKeeper connections settle")


async def test_a_client_follows_the_leader_on_one_session(
    zk_quorum: zookeeper.QuorumHandle, zk_url: ZooKeeperURL, contenders: ContenderFactory
) -> None:
    first = await contenders("m1")
    second = await contenders("m2")
    before = await _settled(zk_quorum)
    client = SchedulerClient(str(zk_url), FrameworkInfo(user="u", name="follower"))
    try:
        leaders = {await client.follower.leader(10) for _ in range(5)}
        assert leaders == {f"http://127.0.0.1:{first.info.port}"}
        await eventually(
            lambda: _connections(zk_quorum) == before + 1, 20, message="one session, kept"
        )

        await first.close()  # the leader goes: the same session sees the next one
        await eventually(
            lambda: client.follower.endpoint == ("127.0.0.1", second.info.port),
            30,
            message="m2 followed",
        )
        assert await client.follower.leader(10) == f"http://127.0.0.1:{second.info.port}"
        # m1's session is gone, this client's stays
        await eventually(lambda: _connections(zk_quorum) == before, 20, message="m1 gone")
    finally:
        await client.close()
    await eventually(
        lambda: _connections(zk_quorum) == before - 1, 20, message="the session is closed"
    )
