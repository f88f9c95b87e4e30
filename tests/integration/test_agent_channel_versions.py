"""Agent channel versions as the master speaks them: version 2 (REGISTERED confirms it) lets
one UPDATE carry a batch of status updates, each reaching the framework and acknowledged
back on its own; version 3 binds every call to the subscription's session; version 1
agents are still served; unknown versions are refused."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import daemons
from tests.harness.v1_client import AgentChannel, V1Client, framework_info, task_info

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[daemons.Daemon]:
    m = daemons.master(tmp_path_factory.mktemp("master"), "--allocation_interval=100ms").start()
    try:
        yield m
    finally:
        m.stop()


def _agent_info(hostname: str) -> dict[str, Any]:
    from mesos_runtime.wire.resources import Resources

    resources = Resources.parse("cpus:2;mem:1024;disk:1000")
    return {
        "hostname": hostname,
        "port": 5051,
        "resources": [r.to_json() for r in resources.to_wire()],
    }


def _status(agent_id: str, task_id: str, state: str) -> dict[str, Any]:
    return {
        "task_id": {"value": task_id},
        "state": state,
        "source": "SOURCE_EXECUTOR",
        "agent_id": {"value": agent_id},
        "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
    }


async def test_one_update_call_carries_a_batch_of_status_updates(client: V1Client) -> None:
    body = {"type": "SUBSCRIBE", "subscribe": {"agent_info": _agent_info("batch"), "version": 2}}
    stream = await client.open_stream("/agent/v1", body)
    assert stream.status == 200
    registered = (await stream.next("REGISTERED"))["registered"]
    assert registered["version"] >= 2  # the master's newest: batches are agreed
    assert "session" not in registered  # sessions come with version 3
    agent = AgentChannel(client, stream, registered["agent_id"]["value"])
    framework = await client.subscribe(framework_info("batching"))
    while True:
        offers = [o for o in await framework.offers() if o["agent_id"]["value"] == agent.id]
        if offers:
            break
    tasks = [task_info(f"batched-{i}", offers[0], "sleep 100") for i in range(2)]
    await framework.launch(offers[0], *tasks)
    for _ in tasks:
        await stream.next("RUN_TASK")

    updates = [
        {"framework_id": {"value": framework.id}, "status": _status(agent.id, t, "TASK_RUNNING")}
        for t in ("batched-0", "batched-1")
    ]
    reply = await agent.call("UPDATE", updates=updates)
    assert reply.status == 202, reply.body

    for task_id in ("batched-0", "batched-1"):
        status = await framework.update(task_id, "TASK_RUNNING")
        await framework.acknowledge(status)
        ack = await stream.next(
            lambda e, t=task_id: (
                e["type"] == "ACKNOWLEDGE" and e["acknowledge"]["task_id"]["value"] == t
            )
        )
        assert ack["acknowledge"]["uuid"] == status["uuid"]
    await stream.close()


async def test_version_1_agents_are_still_served(client: V1Client) -> None:
    agent = await AgentChannel.register(client, hostname="old-agent")  # SUBSCRIBE version 1
    reply = await agent.call("PONG")
    assert reply.status == 202
    await agent.close()


async def test_unknown_channel_versions_are_refused(client: V1Client) -> None:
    for version in (4, 99):
        body = {
            "type": "SUBSCRIBE",
            "subscribe": {"agent_info": _agent_info("future"), "version": version},
        }
        reply = await client.post("/agent/v1", body)
        assert reply.status == 400
        assert "version" in reply.body


async def test_an_update_call_without_updates_is_refused(client: V1Client) -> None:
    agent = await AgentChannel.register(client, hostname="empty-update")
    reply = await agent.call("UPDATE")
    assert reply.status == 400
    assert "update" in reply.body
    await agent.close()


async def test_version_3_calls_must_carry_the_session_of_their_subscription(
    client: V1Client,
) -> None:
    agent = await AgentChannel.register(client, hostname="sessions", version=3)
    assert agent.session
    assert (await agent.call("PONG")).status == 202
    session, agent.session = agent.session, "guessed"
    reply = await agent.call("PONG")
    assert reply.status == 403
    assert "session" in reply.body
    agent.session = None
    assert (await agent.call("UNREGISTER")).status == 403
    agent.session = session
    await agent.close()
