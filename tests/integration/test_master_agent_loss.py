"""Agent loss as the master sees it: an agent that stops answering pings becomes
unreachable (tasks → TASK_UNREACHABLE for PARTITION_AWARE frameworks, TASK_LOST for
others, recorded in the registry), comes back with Mesos' semantics, and an agent that
unregisters is removed for good (TASK_GONE / TASK_LOST)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.harness import daemons
from tests.harness.v1_client import AgentChannel, Framework, V1Client, framework_info, task_info

pytestmark = pytest.mark.integration

PARTITION_AWARE = [{"type": "PARTITION_AWARE"}]


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[daemons.Daemon]:
    m = daemons.master(
        tmp_path_factory.mktemp("master"),
        "--heartbeat_interval=500ms",
        "--allocation_interval=100ms",
        "--agent_ping_timeout=300ms",
        "--max_agent_ping_timeouts=2",
    ).start()
    try:
        yield m
    finally:
        m.stop()


async def running_task(framework: Framework, agent: AgentChannel, task_id: str) -> dict:
    """Launch `task_id` on `agent` and report it RUNNING; returns the agent's Task report."""
    while True:
        offers = await framework.offers()
        mine = [o for o in offers if o["agent_id"]["value"] == agent.id]
        for other in (o for o in offers if o not in mine):
            await framework.decline(other, refuse_seconds=3600)
        if mine:
            break
    offer = mine[0]
    await framework.launch(offer, task_info(task_id, offer, "sleep 100"))
    await agent.stream.next(lambda e: e["type"] == "RUN_TASK")
    await agent.update(framework.id, task_id, "TASK_RUNNING", uuid.uuid4().bytes)
    await framework.acknowledge(await framework.update(task_id, "TASK_RUNNING"))
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "framework_id": {"value": framework.id},
        "agent_id": {"value": agent.id},
        "state": "TASK_RUNNING",
        "resources": task_info(task_id, offer, "")["resources"],
    }


async def test_silent_agent_becomes_unreachable_and_comes_back(
    client: V1Client, master: daemons.Daemon
) -> None:
    agent = await AgentChannel.register(client, hostname="silent", pong=False)
    aware = await client.subscribe(framework_info("aware", capabilities=PARTITION_AWARE))
    plain = await client.subscribe(framework_info("plain"))
    aware_task = await running_task(aware, agent, "aware-task")
    plain_task = await running_task(plain, agent, "plain-task")

    unreachable = await aware.update("aware-task", "TASK_UNREACHABLE")
    assert unreachable["reason"] == "REASON_AGENT_REMOVED"
    assert unreachable["source"] == "SOURCE_MASTER"
    assert "unreachable_time" in unreachable
    lost = await plain.update("plain-task", "TASK_LOST")
    assert lost["reason"] == "REASON_AGENT_REMOVED"
    state = await client.get_json("/master/state")
    assert state["unreachable_slaves"] == 1
    assert agent.id not in [s["id"] for s in state["slaves"]]
    registry = json.loads((master.work_dir / "registry.json").read_text())
    assert [u["id"]["value"] for u in registry["unreachable"]] == [agent.id]
    metrics = await client.get_json("/metrics/snapshot")
    assert metrics["master/slaves_unreachable"] == 1

    await aware.call("RECONCILE", reconcile={"tasks": [{"task_id": {"value": "aware-task"}}]})
    assert (await aware.update("aware-task"))["state"] == "TASK_UNREACHABLE"

    # the agent comes back with both tasks still running
    await agent.close()
    back = await AgentChannel.register(
        client,
        hostname="silent",
        agent_id=agent.id,
        frameworks=[
            framework_info("aware", id={"value": aware.id}, capabilities=PARTITION_AWARE),
            framework_info("plain", id={"value": plain.id}),
        ],
        tasks=[aware_task, plain_task],
    )
    try:
        shutdown = await back.stream.next("SHUTDOWN_FRAMEWORK")
        assert shutdown["shutdown_framework"]["framework_id"]["value"] == plain.id
        await aware.call("RECONCILE", reconcile={"tasks": [{"task_id": {"value": "aware-task"}}]})
        assert (await aware.update("aware-task", "TASK_RUNNING"))["reason"] == (
            "REASON_RECONCILIATION"
        )
        state = await client.get_json("/master/state")
        assert state["unreachable_slaves"] == 0
        registry = json.loads((master.work_dir / "registry.json").read_text())
        assert registry.get("unreachable", []) == []
    finally:
        await back.call("UNREGISTER")
        await back.close()


async def test_unregistered_agent_is_removed_for_good(client: V1Client) -> None:
    agent = await AgentChannel.register(client, hostname="leaving")
    aware = await client.subscribe(framework_info("aware", capabilities=PARTITION_AWARE))
    plain = await client.subscribe(framework_info("plain"))
    await running_task(aware, agent, "a1")
    await running_task(plain, agent, "p1")
    assert (await agent.call("UNREGISTER")).status == 202
    gone = await aware.update("a1", "TASK_GONE")
    assert gone["reason"] == "REASON_AGENT_REMOVED"
    await plain.update("p1", "TASK_LOST")
    await agent.close()

    again = await AgentChannel.register(client, hostname="leaving", agent_id=agent.id)
    (shutdown,) = again.stream.of_type("SHUTDOWN")
    assert "removed" in shutdown["shutdown"]["message"]
    await again.close()


async def test_agent_unreachable_past_max_agent_age_is_gone_and_refused(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    aged = daemons.master(
        tmp_path_factory.mktemp("aged-master"),
        "--heartbeat_interval=500ms",
        "--allocation_interval=100ms",
        "--agent_ping_timeout=300ms",
        "--max_agent_ping_timeouts=2",
        "--registry_max_agent_age=2secs",
    ).start()
    try:
        async with V1Client(aged.url) as client:
            agent = await AgentChannel.register(client, hostname="aging", pong=False)
            aware = await client.subscribe(framework_info("aware", capabilities=PARTITION_AWARE))
            await running_task(aware, agent, "old-task")

            await aware.update("old-task", "TASK_UNREACHABLE")
            gone = await aware.update("old-task", "TASK_GONE")
            assert gone["source"] == "SOURCE_MASTER"
            # asked with its agent, as Mesos' reconciliation does for tasks it knew
            ask = {"task_id": {"value": "old-task"}, "agent_id": {"value": agent.id}}
            await aware.call("RECONCILE", reconcile={"tasks": [ask]})
            answer = await aware.update("old-task")
            assert answer["state"] == "TASK_GONE", answer

            # the machine returns under its old id: the master tells it to shut down
            await agent.close()
            back = await AgentChannel.register(client, hostname="aging", agent_id=agent.id)
            assert agent.id not in [
                s["id"] for s in (await client.get_json("/master/state"))["slaves"]
            ]
            await back.close()
    finally:
        aged.stop()
