"""Several instances of one scheduler on a real ZooKeeper quorum: one leads, its state is in
ZooKeeper, a deposed leader's writes are refused, the next leader takes over the same
framework."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from mesos_runtime.scheduler import NotLeader, SchedulerHA, SchedulerState, open_ha
from mesos_runtime.wire.mesos import FrameworkID
from tests.harness import zookeeper
from tests.harness.daemons import eventually

pytestmark = [pytest.mark.integration, pytest.mark.zookeeper]

Opener = Callable[[str], "asyncio.Future[SchedulerHA]"]


@pytest.fixture
async def instances(zk_quorum: zookeeper.QuorumHandle) -> AsyncIterator[Callable[..., object]]:
    """Open instances (`await open_instance(identifier)`) of one scheduler on its own path."""
    for node in zk_quorum.nodes:
        if not node.running:
            zk_quorum.start(node.myid)
    zk_quorum.wait_for_quorum()
    location = zk_quorum.zk_url(f"/svc-{uuid.uuid4().hex[:8]}")
    opened: list[SchedulerHA] = []

    async def open_instance(identifier: str) -> SchedulerHA:
        ha = await open_ha(location, identifier, session_timeout=4.0)
        opened.append(ha)
        return ha

    try:
        yield open_instance
    finally:
        for ha in opened:
            await ha.close()


async def test_one_instance_leads_and_the_others_know_who(instances) -> None:
    first = await instances("10.0.0.1:8080")
    await asyncio.wait_for(first.election.elected(), 30)
    second = await instances("10.0.0.2:8080")
    third = await instances("10.0.0.3:8080")
    await asyncio.sleep(0.5)  # they contend: neither may win while the first leads
    assert first.election.is_leader
    assert not second.election.is_leader and not third.election.is_leader
    assert await second.election.leader() == "10.0.0.1:8080"
    assert await third.election.leader() == "10.0.0.1:8080"


async def test_the_next_instance_leads_when_the_leader_goes_and_keeps_its_state(instances) -> None:
    first = await instances("a:1")
    await asyncio.wait_for(first.election.elected(), 30)
    await SchedulerState(first.store).set_framework_id(FrameworkID(value="fw-7"))
    await SchedulerState(first.store).put_json("apps", "/web", {"instances": 3})
    second = await instances("b:2")
    await first.close()  # its session ends: its lock znode goes with it
    await asyncio.wait_for(second.election.elected(), 30)
    state = SchedulerState(second.store)
    assert await state.framework_id() == FrameworkID(value="fw-7")
    assert await state.get_json("apps", "/web") == {"instances": 3}
    assert await second.election.leader() == "b:2"


async def test_a_deposed_leader_cannot_write(instances) -> None:
    first = await instances("a:1")
    await asyncio.wait_for(first.election.elected(), 30)
    second = await instances("b:2")
    state = SchedulerState(first.store)
    await state.put_json("apps", "/x", 1)
    await first.election.abdicate()
    await asyncio.wait_for(second.election.elected(), 30)
    with pytest.raises(NotLeader):
        await state.put_json("apps", "/x", 2)
    await SchedulerState(second.store).put_json("apps", "/x", 3)
    assert await SchedulerState(second.store).get_json("apps", "/x") == 3
    # the abdicated instance contends again, behind the new leader
    assert await first.election.leader() == "b:2"


async def test_a_leader_that_loses_its_session_stops_leading_at_once(
    instances, zk_quorum: zookeeper.QuorumHandle
) -> None:
    first = await instances("a:1")
    await asyncio.wait_for(first.election.elected(), 30)
    second = await instances("b:2")
    # cut the leader's session the way a partition would: drop its connection for good
    client = first.zk_client
    await asyncio.to_thread(client.stop)
    await eventually(lambda: not first.election.is_leader, 10, message="leader stepped down")
    await asyncio.wait_for(second.election.elected(), 30)
    assert first.election.fence_node() is None
