"""Offers, launches and status updates through the master, with the agent's side of the
channel spoken raw (tests/harness/v1_client.AgentChannel) so each step is observable:
registration, offers, launch → RUN_TASK, updates and acknowledgements, invalid tasks,
decline filters, suppress/revive, reservations, task groups, messages and rescinds."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mesos_runtime.wire.resources import Resources
from tests.harness import daemons
from tests.harness.v1_client import (
    AgentChannel,
    Framework,
    V1Client,
    b64,
    framework_info,
    scalar,
    task_info,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[daemons.Daemon]:
    m = daemons.master(
        tmp_path_factory.mktemp("master"),
        "--heartbeat_interval=500ms",
        "--allocation_interval=100ms",
    ).start()
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture
async def agent(client: V1Client) -> AsyncIterator[AgentChannel]:
    channel = await AgentChannel.register(client, hostname=f"host-{uuid.uuid4().hex[:6]}")
    try:
        yield channel
    finally:
        await channel.call("UNREGISTER")
        await channel.close()


def offered(offers: list[dict]) -> Resources:
    from mesos_runtime.wire.mesos import Resource

    return Resources.from_wire(
        Resource.from_json(r) for offer in offers for r in offer["resources"]
    ).unallocated()


async def offer_on(framework: Framework, agent: AgentChannel) -> dict:
    """The next offer of `agent`'s resources (other agents' offers are declined)."""
    while True:
        for offer in await framework.offers():
            if offer["agent_id"]["value"] == agent.id:
                return offer
            await framework.decline(offer, refuse_seconds=3600)


async def no_offer_for(framework: Framework, heartbeats: int = 3) -> None:
    """Several heartbeats (many allocation cycles) pass with no OFFERS event."""
    before = len(framework.stream.of_type("OFFERS"))
    for _ in range(heartbeats):
        await framework.stream.next("HEARTBEAT", timeout=10)
    assert len(framework.stream.of_type("OFFERS")) == before


async def test_registered_agent_appears_in_state_and_its_resources_are_offered(
    client: V1Client, agent: AgentChannel
) -> None:
    state = await client.get_json("/master/state")
    (slave,) = [s for s in state["slaves"] if s["id"] == agent.id]
    assert slave["pid"] == "slave(1)@127.0.0.1:5051"
    assert slave["resources"]["ports"] == "[31000-31099]"
    assert slave["resources"]["cpus"] == 2.0
    assert slave["active"] is True
    framework = await client.subscribe(framework_info("offers"))
    offer = await offer_on(framework, agent)
    assert offer["framework_id"]["value"] == framework.id
    assert offer["url"] == {
        "scheme": "http",
        "address": {"hostname": slave["hostname"], "ip": "127.0.0.1", "port": 5051},
        "path": "/slave(1)",
    }
    assert offer["allocation_info"] == {"role": "*"}
    assert all(r["allocation_info"] == {"role": "*"} for r in offer["resources"])
    assert offered([offer]) == Resources.parse("cpus:2;mem:1024;disk:1000;ports:[31000-31099]")


async def test_launch_runs_on_the_agent_and_updates_flow_with_acknowledgements(
    client: V1Client, agent: AgentChannel
) -> None:
    framework = await client.subscribe(framework_info("launch"))
    offer = await offer_on(framework, agent)
    assert (await framework.launch(offer, task_info("t1", offer, "sleep 1"))).status == 202
    run = (await agent.stream.next("RUN_TASK"))["run_task"]
    assert run["task"]["task_id"]["value"] == "t1"
    assert run["framework_info"]["id"]["value"] == framework.id

    running_uuid = uuid.uuid4().bytes
    await agent.update(framework.id, "t1", "TASK_RUNNING", running_uuid)
    status = await framework.update("t1", "TASK_RUNNING")
    assert status["uuid"] == b64(running_uuid)
    assert status["agent_id"]["value"] == agent.id
    assert (await framework.acknowledge(status)).status == 202
    ack = (await agent.stream.next("ACKNOWLEDGE"))["acknowledge"]
    assert ack["uuid"] == b64(running_uuid)
    assert ack["task_id"]["value"] == "t1"

    state = await client.get_json("/master/state")
    (fw,) = [f for f in state["frameworks"] if f["id"] == framework.id]
    assert [(t["id"], t["state"]) for t in fw["tasks"]] == [("t1", "TASK_RUNNING")]
    assert fw["used_resources"]["cpus"] == 0.1

    await agent.update(framework.id, "t1", "TASK_FINISHED", uuid.uuid4().bytes)
    status = await framework.update("t1", "TASK_FINISHED")
    await framework.acknowledge(status)
    await agent.stream.next("ACKNOWLEDGE")
    # the task's resources come back: the whole agent is offered again
    while offered([await offer_on(framework, agent)]).cpus != 2.0:
        pass
    state = await client.get_json("/master/state")
    (fw,) = [f for f in state["frameworks"] if f["id"] == framework.id]
    assert [t["state"] for t in fw["completed_tasks"]] == ["TASK_FINISHED"]
    assert fw["tasks"] == []


async def test_invalid_tasks_fail_with_task_error_and_their_resources_return(
    client: V1Client, agent: AgentChannel
) -> None:
    framework = await client.subscribe(framework_info("invalid"))
    offer = await offer_on(framework, agent)
    too_big = task_info("big", offer, "true", cpus=64)
    no_command = {**task_info("bare", offer, "true")}
    del no_command["command"]
    good = task_info("good", offer, "true")
    duplicate = task_info("good", offer, "true")
    await framework.launch(
        offer, too_big, no_command, good, duplicate, filters={"refuse_seconds": 0}
    )
    for task_id, needle in [("big", "more resources"), ("bare", "CommandInfo")]:
        status = await framework.update(task_id, "TASK_ERROR")
        assert status["reason"] == "REASON_TASK_INVALID"
        assert needle in status["message"]
    duplicate_status = await framework.update("good", "TASK_ERROR")
    assert "duplicate" in duplicate_status["message"]
    runs = [(await agent.stream.next("RUN_TASK"))["run_task"]["task"]["task_id"]["value"]]
    assert runs == ["good"]
    # what the valid task did not use is offered again
    reoffer = await offer_on(framework, agent)
    assert offered([reoffer]).cpus == pytest.approx(1.9)


async def test_declined_offer_is_not_reoffered_until_revive(
    client: V1Client, agent: AgentChannel
) -> None:
    framework = await client.subscribe(framework_info("decline"))
    offer = await offer_on(framework, agent)
    assert (await framework.decline(offer, refuse_seconds=3600)).status == 202
    await no_offer_for(framework)
    assert (await framework.call("REVIVE")).status == 202
    again = await offer_on(framework, agent)
    assert offered([again]) == offered([offer])


async def test_declined_offer_returns_when_its_filter_expires(
    client: V1Client, agent: AgentChannel
) -> None:
    framework = await client.subscribe(framework_info("filter-expiry"))
    offer = await offer_on(framework, agent)
    await framework.decline(offer, refuse_seconds=1)
    again = await offer_on(framework, agent)
    assert offered([again]) == offered([offer])


async def test_suppressed_framework_gets_no_offers_until_it_revives(
    client: V1Client, agent: AgentChannel
) -> None:
    framework = await client.subscribe(framework_info("suppress"))
    offer = await offer_on(framework, agent)
    assert (await framework.call("SUPPRESS")).status == 202
    await framework.decline(offer, refuse_seconds=0)
    await no_offer_for(framework)
    await framework.call("REVIVE")
    await offer_on(framework, agent)


async def test_subscribing_suppressed_gets_no_offers(client: V1Client, agent: AgentChannel) -> None:
    framework = await client.subscribe(framework_info("suppressed"), suppressed_roles=["*"])
    await no_offer_for(framework)
    await framework.call("REVIVE")
    await offer_on(framework, agent)


async def test_two_frameworks_are_never_offered_the_same_resources(
    client: V1Client, agent: AgentChannel
) -> None:
    first = await client.subscribe(framework_info("first"))
    offer = await offer_on(first, agent)
    second = await client.subscribe(framework_info("second"))
    assert all(o["agent_id"]["value"] != agent.id for o in second.stream.of_type("OFFERS"))
    await first.decline(offer, refuse_seconds=3600)
    other = await offer_on(second, agent)
    assert offered([other]) == offered([offer])
    state = await client.get_json("/master/state")
    (slave,) = [s for s in state["slaves"] if s["id"] == agent.id]
    assert slave["offered_resources"]["cpus"] == 2.0


async def test_agent_leaving_rescinds_its_offers(client: V1Client) -> None:
    leaving = await AgentChannel.register(client, hostname="leaving")
    framework = await client.subscribe(framework_info("rescind"))
    offer = await offer_on(framework, leaving)
    await leaving.close()
    rescind = await framework.stream.next("RESCIND")
    assert rescind["rescind"]["offer_id"] == offer["id"]


async def test_reconciliation_reports_latest_states_without_uuid(
    client: V1Client, agent: AgentChannel
) -> None:
    framework = await client.subscribe(framework_info("reconcile"))
    offer = await offer_on(framework, agent)
    await framework.launch(offer, task_info("r1", offer, "sleep 100"))
    await agent.stream.next("RUN_TASK")
    await agent.update(framework.id, "r1", "TASK_RUNNING", uuid.uuid4().bytes)
    await framework.update("r1", "TASK_RUNNING")

    await framework.call("RECONCILE", reconcile={"tasks": [{"task_id": {"value": "r1"}}]})
    explicit = await framework.update("r1", "TASK_RUNNING")
    assert explicit["reason"] == "REASON_RECONCILIATION"
    assert "uuid" not in explicit
    await framework.call("RECONCILE", reconcile={"tasks": []})
    implicit = await framework.update("r1", "TASK_RUNNING")
    assert implicit["reason"] == "REASON_RECONCILIATION"

    assert (await framework.call("KILL", kill={"task_id": {"value": "r1"}})).status == 202
    kill = (await agent.stream.next("KILL_TASK"))["kill_task"]
    assert kill["task_id"]["value"] == "r1"
    assert kill["framework_id"]["value"] == framework.id


async def test_launch_group_sends_the_task_group_with_a_default_executor(
    client: V1Client, agent: AgentChannel
) -> None:
    framework = await client.subscribe(framework_info("group"))
    offer = await offer_on(framework, agent)
    executor = {
        "executor_id": {"value": "group-executor"},
        "type": "DEFAULT",
        "resources": [scalar("cpus", 0.1), scalar("mem", 32)],
    }
    tasks = [task_info(f"g{i}", offer, "sleep 1") for i in range(2)]
    await framework.call(
        "ACCEPT",
        accept={
            "offer_ids": [offer["id"]],
            "operations": [
                {
                    "type": "LAUNCH_GROUP",
                    "launch_group": {"executor": executor, "task_group": {"tasks": tasks}},
                }
            ],
        },
    )
    group = (await agent.stream.next("RUN_TASK_GROUP"))["run_task_group"]
    assert [t["task_id"]["value"] for t in group["task_group"]["tasks"]] == ["g0", "g1"]
    assert group["executor"]["framework_id"]["value"] == framework.id
    state = await client.get_json("/master/state")
    (fw,) = [f for f in state["frameworks"] if f["id"] == framework.id]
    assert sorted(t["id"] for t in fw["tasks"]) == ["g0", "g1"]
    assert fw["used_resources"]["cpus"] == pytest.approx(0.3)

    await agent.call(
        "EXECUTOR_EXITED",
        executor_exited={
            "framework_id": {"value": framework.id},
            "executor_id": {"value": "group-executor"},
            "status": 0,
        },
    )
    failure = (await framework.stream.next("FAILURE"))["failure"]
    assert failure["executor_id"]["value"] == "group-executor"
    assert failure["agent_id"]["value"] == agent.id


async def test_messages_pass_between_framework_and_executor(
    client: V1Client, agent: AgentChannel
) -> None:
    framework = await client.subscribe(framework_info("messages"))
    await framework.call(
        "MESSAGE",
        message={
            "agent_id": {"value": agent.id},
            "executor_id": {"value": "e1"},
            "data": b64(b"to executor"),
        },
    )
    to_executor = (await agent.stream.next("MESSAGE"))["message"]
    assert to_executor["data"] == b64(b"to executor")
    await agent.call(
        "MESSAGE",
        message={
            "framework_id": {"value": framework.id},
            "executor_id": {"value": "e1"},
            "data": b64(b"to framework"),
        },
    )
    to_framework = (await framework.stream.next("MESSAGE"))["message"]
    assert to_framework["data"] == b64(b"to framework")
    assert to_framework["agent_id"]["value"] == agent.id


async def test_reserve_and_unreserve_round_trip(client: V1Client, agent: AgentChannel) -> None:
    framework = await client.subscribe(framework_info("reserver", role="db"))
    offer = await offer_on(framework, agent)
    reservation = [{"type": "DYNAMIC", "role": "db", "principal": "ops"}]
    reserved = [
        {**scalar("cpus", 1, "db"), "reservations": reservation},
        {**scalar("mem", 256, "db"), "reservations": reservation},
    ]
    await framework.call(
        "ACCEPT",
        accept={
            "offer_ids": [offer["id"]],
            "operations": [{"type": "RESERVE", "reserve": {"resources": reserved}}],
            "filters": {"refuse_seconds": 0},
        },
    )
    checkpoint = (await agent.stream.next("CHECKPOINT_RESOURCES"))["checkpoint_resources"]
    assert {r["name"] for r in checkpoint["resources"]} == {"cpus", "mem"}
    reoffer = await offer_on(framework, agent)
    got = offered([reoffer])
    assert got.reserved("db").cpus == 1.0
    assert got.reserved("db").mem == 256.0
    assert got.unreserved().cpus == 1.0
    state = await client.get_json("/master/state")
    (slave,) = [s for s in state["slaves"] if s["id"] == agent.id]
    assert slave["reserved_resources"]["db"]["cpus"] == 1.0

    back = [r for r in reoffer["resources"] if r.get("reservations")]
    await framework.call(
        "ACCEPT",
        accept={
            "offer_ids": [reoffer["id"]],
            "operations": [{"type": "UNRESERVE", "unreserve": {"resources": back}}],
            "filters": {"refuse_seconds": 0},
        },
    )
    checkpoint = (await agent.stream.next("CHECKPOINT_RESOURCES"))["checkpoint_resources"]
    assert checkpoint.get("resources", []) == []
    final = offered([await offer_on(framework, agent)])
    assert final.reserved() == Resources()
    assert final.cpus == 2.0


async def test_persistent_volume_create_and_destroy(client: V1Client, agent: AgentChannel) -> None:
    framework = await client.subscribe(framework_info("volumes", role="db"))
    offer = await offer_on(framework, agent)
    reservation = [{"type": "DYNAMIC", "role": "db", "principal": "ops"}]
    disk = {**scalar("disk", 100, "db"), "reservations": reservation}
    volume = {
        **disk,
        "disk": {
            "persistence": {"id": "vol-1", "principal": "ops"},
            "volume": {"container_path": "data", "mode": "RW"},
        },
    }
    await framework.call(
        "ACCEPT",
        accept={
            "offer_ids": [offer["id"]],
            "operations": [
                {"type": "RESERVE", "reserve": {"resources": [disk]}},
                {"type": "CREATE", "create": {"volumes": [volume]}},
            ],
            "filters": {"refuse_seconds": 0},
        },
    )
    await agent.stream.next("CHECKPOINT_RESOURCES")
    created = (await agent.stream.next("CHECKPOINT_RESOURCES"))["checkpoint_resources"]
    assert created["resources"][0]["disk"]["persistence"]["id"] == "vol-1"
    reoffer = await offer_on(framework, agent)
    volumes = [r for r in reoffer["resources"] if "disk" in r and r["name"] == "disk"]
    assert [v["disk"]["persistence"]["id"] for v in volumes] == ["vol-1"]
    await framework.call(
        "ACCEPT",
        accept={
            "offer_ids": [reoffer["id"]],
            "operations": [
                {"type": "DESTROY", "destroy": {"volumes": volumes}},
                {"type": "UNRESERVE", "unreserve": {"resources": [disk]}},
            ],
            "filters": {"refuse_seconds": 0},
        },
    )
    await agent.stream.next("CHECKPOINT_RESOURCES")
    final = (await agent.stream.next("CHECKPOINT_RESOURCES"))["checkpoint_resources"]
    assert final.get("resources", []) == []


async def test_tasks_a_reconnecting_agent_does_not_report_are_lost(client: V1Client) -> None:
    agent = await AgentChannel.register(client, hostname="forgetful")
    framework = await client.subscribe(framework_info("forgotten"))
    offer = await offer_on(framework, agent)
    await framework.launch(offer, task_info("vanished", offer, "sleep 100"))
    await agent.stream.next("RUN_TASK")
    await agent.close()
    again = await AgentChannel.register(client, hostname="forgetful", agent_id=agent.id)
    try:
        status = await framework.update("vanished", "TASK_LOST")
        assert status["message"] == "Task is unknown to the agent"
    finally:
        await again.call("UNREGISTER")
        await again.close()


async def test_unanswered_offers_are_rescinded_after_offer_timeout(tmp_path: Path) -> None:
    m = daemons.master(tmp_path / "master", "--offer_timeout=300ms").start()
    try:
        async with V1Client(m.url) as c:
            agent = await AgentChannel.register(c)
            framework = await c.subscribe(framework_info("slow"))
            (offer,) = await framework.offers()
            rescind = await framework.stream.next("RESCIND")
            assert rescind["rescind"]["offer_id"] == offer["id"]
            await agent.close()
    finally:
        m.stop()
