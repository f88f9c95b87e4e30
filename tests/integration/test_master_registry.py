"""The standalone registry across a master restart: admitted agents re-register with their
running tasks, frameworks re-subscribe with their ids within their failover timeout and
reconcile, and a framework whose failover timeout passes while nobody re-subscribes is
removed."""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import daemons
from tests.harness.v1_client import V1Client, framework_info, task_info

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[daemons.Daemon, daemons.Daemon]]:
    master = daemons.master(
        tmp_path / "master", "--heartbeat_interval=500ms", "--allocation_interval=100ms"
    )
    agent = daemons.agent(
        tmp_path / "agent", master.address, "--resources=cpus:2;mem:1024;disk:1000"
    )
    with daemons.running(master, agent):
        daemons.wait_until(lambda: daemons.registered_agents(master), 30, message="agent")
        yield master, agent


async def test_agents_and_frameworks_come_back_after_a_master_restart(
    cluster: tuple[daemons.Daemon, daemons.Daemon],
) -> None:
    master, _agent = cluster
    info = framework_info("durable", user=getpass.getuser(), failover_timeout=300)
    async with V1Client(master.url) as client:
        framework = await client.subscribe(info)
        (offer,) = await framework.offers()
        await framework.launch(offer, task_info("survivor", offer, "sleep 300"))
        await framework.acknowledged("survivor", "TASK_RUNNING")
        agent_id = offer["agent_id"]["value"]

    registry = json.loads((master.work_dir / "registry.json").read_text())
    assert [a["id"]["value"] for a in registry["agents"]] == [agent_id]
    assert [f["framework_info"]["id"]["value"] for f in registry["frameworks"]] == [framework.id]

    master.restart()
    async with V1Client(master.url) as client:
        again = await client.subscribe({**info, "id": {"value": framework.id}})
        assert again.id == framework.id
        while agent_id not in [s["id"] for s in await _slaves(client)]:
            await asyncio.sleep(0.1)
        await again.call("RECONCILE", reconcile={"tasks": [{"task_id": {"value": "survivor"}}]})
        # (the agent may also resend its RUNNING update: delivery is at least once)
        answer = await again.stream.next(
            lambda e: (
                e["type"] == "UPDATE"
                and e["update"]["status"].get("reason") == "REASON_RECONCILIATION"
            )
        )
        assert answer["update"]["status"]["state"] == "TASK_RUNNING"
        assert answer["update"]["status"]["task_id"] == {"value": "survivor"}
        await again.call("KILL", kill={"task_id": {"value": "survivor"}})
        await again.acknowledged("survivor", "TASK_KILLED")
        await again.call("TEARDOWN")


async def _slaves(client: V1Client) -> list[dict]:
    return (await client.get_json("/master/state"))["slaves"]


async def test_framework_not_back_within_its_failover_timeout_is_removed(
    cluster: tuple[daemons.Daemon, daemons.Daemon],
) -> None:
    master, _agent = cluster
    info = framework_info("brief", user=getpass.getuser(), failover_timeout=1)
    async with V1Client(master.url) as client:
        framework = await client.subscribe(info)
    master.restart()
    async with V1Client(master.url) as client:
        while framework.id not in [
            f["id"] for f in (await client.get_json("/master/state"))["completed_frameworks"]
        ]:
            await asyncio.sleep(0.1)
        stream = await client.open_stream(
            "/api/v1/scheduler",
            {
                "type": "SUBSCRIBE",
                "subscribe": {"framework_info": {**info, "id": {"value": framework.id}}},
            },
        )
        error = await stream.next("ERROR")
        assert error["error"]["message"] == "Framework has been removed"
    registry = json.loads((master.work_dir / "registry.json").read_text())
    assert registry.get("frameworks", []) == []


async def test_admitted_agent_not_back_within_reregister_timeout_becomes_unreachable(
    tmp_path: Path,
) -> None:
    from tests.integration.test_agent_tasks import kill_leftover_tasks

    flags = ("--heartbeat_interval=500ms", "--allocation_interval=100ms")
    master = daemons.master(tmp_path / "master", *flags)
    agent = daemons.agent(
        tmp_path / "agent", master.address, "--resources=cpus:2;mem:1024;disk:1000"
    )
    aware = framework_info(
        "aware",
        user=getpass.getuser(),
        failover_timeout=300,
        capabilities=[{"type": "PARTITION_AWARE"}],
    )
    try:
        with daemons.running(master, agent):
            daemons.wait_until(lambda: daemons.registered_agents(master), 30, message="agent")
            async with V1Client(master.url) as client:
                framework = await client.subscribe(aware)
                (offer,) = await framework.offers()
                await framework.launch(offer, task_info("stranded", offer, "sleep 300"))
                await framework.acknowledged("stranded", "TASK_RUNNING")
            agent_id = offer["agent_id"]["value"]
            agent.kill()  # the agent's host goes away while the master restarts
            master.stop()
        # a new master process on the same registry, with a short re-registration window
        again = daemons.master(
            tmp_path / "master", *flags, "--agent_reregister_timeout=1secs", port=master.port
        )
        with daemons.running(again):
            async with V1Client(again.url) as client:
                back = await client.subscribe({**aware, "id": {"value": framework.id}})

                async def unreachable_slaves() -> int:
                    return (await client.get_json("/master/state"))["unreachable_slaves"]

                async with asyncio.timeout(30):  # the window is 1s; allow for a loaded box
                    while await unreachable_slaves() != 1:
                        await asyncio.sleep(0.1)
                registry = json.loads((again.work_dir / "registry.json").read_text())
                assert [u["id"]["value"] for u in registry["unreachable"]] == [agent_id]
                ask = {"task_id": {"value": "stranded"}, "agent_id": {"value": agent_id}}
                await back.call("RECONCILE", reconcile={"tasks": [ask]})
                assert (await back.update("stranded"))["state"] == "TASK_UNREACHABLE"
    finally:
        kill_leftover_tasks(tmp_path / "agent")
