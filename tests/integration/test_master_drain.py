"""Agent draining on a real master and agent: DRAIN_AGENT (`max_grace_period`,
`mark_gone`), DEACTIVATE_AGENT, REACTIVATE_AGENT and MARK_AGENT_GONE as Mesos defines them,
with the drain state in GET_AGENTS and `/master/state`, kept across a master restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness import daemons
from tests.harness.v1_client import Framework, V1Client, framework_info, task_info

pytestmark = pytest.mark.integration

SECOND = 1_000_000_000


@pytest.fixture
async def framework(client: V1Client, agent: daemons.Daemon) -> AsyncIterator[Framework]:
    del agent  # registered with the master before the framework subscribes
    f = await client.subscribe(
        framework_info(
            "drain-test",
            capabilities=[{"type": "PARTITION_AWARE"}, {"type": "TASK_KILLING_STATE"}],
        )
    )
    try:
        yield f
    finally:
        await f.call("TEARDOWN")


async def until(condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll an async condition (the harness's `eventually` polls sync ones)."""
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.1)
    del what


async def agent_entry(client: V1Client) -> dict[str, Any]:
    (entry,) = (await client.operator({"type": "GET_AGENTS"}))["get_agents"]["agents"]
    return entry


async def run_task(framework: Framework, task_id: str, command: str, grace: int = 30) -> None:
    (offer, *_) = await framework.offers()
    task = task_info(task_id, offer, command)
    task["kill_policy"] = {"grace_period": {"nanoseconds": grace * SECOND}}
    assert (await framework.launch(offer, task)).status == 202
    await framework.acknowledged(task_id, "TASK_RUNNING", timeout=30)


async def test_drain_kills_tasks_within_max_grace_period_and_reports_drained(
    client: V1Client, framework: Framework
) -> None:
    # the task ignores SIGTERM: only the SIGKILL after the (bounded) grace period ends it
    await run_task(framework, "stubborn", "trap '' TERM; sleep 600", grace=600)
    agent = await agent_entry(client)
    agent_id = agent["agent_info"]["id"]
    assert "drain_info" not in agent
    reply = await client.post(
        "/api/v1",
        {
            "type": "DRAIN_AGENT",
            "drain_agent": {"agent_id": agent_id, "max_grace_period": {"nanoseconds": SECOND}},
        },
    )
    assert reply.status == 200, reply
    draining = await agent_entry(client)
    assert draining["deactivated"] is True
    assert draining["drain_info"]["config"]["max_grace_period"] == {"nanoseconds": SECOND}
    killing = await framework.update("stubborn", "TASK_KILLING", timeout=20)
    assert killing["reason"] == "REASON_AGENT_DRAINING"
    assert (await agent_entry(client))["drain_info"]["state"] == "DRAINING"
    await framework.acknowledge(killing)
    killed = await framework.update("stubborn", "TASK_KILLED", timeout=20)
    assert killed["reason"] == "REASON_AGENT_DRAINING"
    assert (await agent_entry(client))["drain_info"]["state"] == "DRAINING"  # not acked yet
    await framework.acknowledge(killed)

    async def drained() -> bool:
        return (await agent_entry(client))["drain_info"]["state"] == "DRAINED"

    await until(drained, 15, "agent DRAINED")
    (slave,) = (await client.get_json("/master/state"))["slaves"]
    assert slave["drain_info"]["state"] == "DRAINED"
    assert slave["deactivated"] is True
    assert slave["offered_resources"]["cpus"] == 0

    # drained agents come back with REACTIVATE_AGENT, and offers resume
    reply = await client.post(
        "/api/v1", {"type": "REACTIVATE_AGENT", "reactivate_agent": {"agent_id": agent_id}}
    )
    assert reply.status == 200, reply
    back = await agent_entry(client)
    assert "drain_info" not in back
    assert back["deactivated"] is False
    assert await framework.offers(timeout=20)


async def test_deactivated_agent_keeps_its_tasks_and_gets_no_offers(
    client: V1Client, framework: Framework
) -> None:
    await run_task(framework, "kept", "sleep 600")
    agent_id = (await agent_entry(client))["agent_info"]["id"]
    call = {"type": "DEACTIVATE_AGENT", "deactivate_agent": {"agent_id": agent_id}}
    assert (await client.post("/api/v1", call)).status == 200
    entry = await agent_entry(client)
    assert entry["deactivated"] is True
    assert "drain_info" not in entry
    assert entry["offered_resources"] == []
    tasks = (await client.operator({"type": "GET_TASKS"}))["get_tasks"]["tasks"]
    assert [(t["task_id"]["value"], t["state"]) for t in tasks] == [("kept", "TASK_RUNNING")]
    await framework.call("REVIVE")
    with pytest.raises(TimeoutError):
        await framework.offers(timeout=2)  # nothing offered from a deactivated agent
    call = {"type": "REACTIVATE_AGENT", "reactivate_agent": {"agent_id": agent_id}}
    assert (await client.post("/api/v1", call)).status == 200
    assert await framework.offers(timeout=20)


async def test_drain_with_mark_gone_removes_the_agent_for_good(
    client: V1Client, framework: Framework, agent: daemons.Daemon
) -> None:
    await run_task(framework, "doomed", "sleep 600", grace=1)
    agent_id = (await agent_entry(client))["agent_info"]["id"]
    call = {"type": "DRAIN_AGENT", "drain_agent": {"agent_id": agent_id, "mark_gone": True}}
    assert (await client.post("/api/v1", call)).status == 200
    gone = await framework.acknowledged("doomed", "TASK_GONE_BY_OPERATOR")
    assert gone["reason"] == "REASON_AGENT_DRAINING"

    async def removed() -> bool:
        return not (await client.operator({"type": "GET_AGENTS"}))["get_agents"].get("agents")

    await until(removed, 15, "agent removed")
    # the master told the agent to shut down; marking it gone again changes nothing
    assert agent.process is not None
    daemons.wait_until(lambda: agent.process.poll() is not None, 15, message="agent exited")
    call = {"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": agent_id}}
    assert (await client.post("/api/v1", call)).status == 200


@pytest.mark.parametrize(
    ("call", "status", "message"),
    [
        ({"type": "DRAIN_AGENT"}, 400, "Expecting 'drain_agent' to be present"),
        ({"type": "DRAIN_AGENT", "drain_agent": {}}, 400, "drain_agent.agent_id"),
        (
            {"type": "DRAIN_AGENT", "drain_agent": {"agent_id": {"value": "no-such-agent"}}},
            404,
            "Unknown agent no-such-agent",
        ),
        (
            {"type": "DEACTIVATE_AGENT", "deactivate_agent": {"agent_id": {"value": "nope"}}},
            404,
            "Unknown agent nope",
        ),
        (
            {"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": "nope"}}},
            404,
            "Unknown agent nope",
        ),
    ],
)
async def test_bad_agent_calls_are_refused_naming_the_problem(
    client: V1Client, call: dict[str, Any], status: int, message: str
) -> None:
    reply = await client.post("/api/v1", call)
    assert reply.status == status, reply
    assert message in reply.body


async def test_reactivating_a_draining_agent_is_refused_and_the_drain_goes_on(
    client: V1Client, framework: Framework
) -> None:
    await run_task(framework, "slow", "trap '' TERM; sleep 600", grace=600)
    agent_id = (await agent_entry(client))["agent_info"]["id"]
    call = {"type": "DRAIN_AGENT", "drain_agent": {"agent_id": agent_id}}
    assert (await client.post("/api/v1", call)).status == 200
    await framework.acknowledged("slow", "TASK_KILLING")
    reactivate = {"type": "REACTIVATE_AGENT", "reactivate_agent": {"agent_id": agent_id}}
    reply = await client.post("/api/v1", reactivate)
    assert reply.status == 400
    assert "still draining" in reply.body
    assert (await agent_entry(client))["drain_info"]["state"] == "DRAINING"
    negative = {
        "type": "DRAIN_AGENT",
        "drain_agent": {"agent_id": agent_id, "max_grace_period": {"nanoseconds": -1}},
    }
    assert (await client.post("/api/v1", negative)).status == 400


async def test_deactivation_survives_a_master_restart(tmp_path: Path) -> None:
    master = daemons.master(tmp_path / "master").start()
    try:
        agent = daemons.agent(
            tmp_path / "agent", master.address, "--resources=cpus:1;mem:256"
        ).start()
        try:
            daemons.wait_until(lambda: daemons.registered_agents(master), 30, message="agent")
            async with V1Client(master.url) as client:
                agent_id = (await agent_entry(client))["agent_info"]["id"]
                call = {"type": "DEACTIVATE_AGENT", "deactivate_agent": {"agent_id": agent_id}}
                assert (await client.post("/api/v1", call)).status == 200
            master.stop()
            master.start()
            daemons.wait_until(lambda: daemons.registered_agents(master), 60, message="back")
            async with V1Client(master.url) as client:
                assert (await agent_entry(client))["deactivated"] is True
        finally:
            agent.stop()
    finally:
        master.stop()
