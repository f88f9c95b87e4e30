"""The v1 scheduler API end to end with a real master and a real agent, spoken raw:
tasks run, finish, fail and are killed; task groups; reconciliation; ACCEPT of a stale
offer; decline filters; suppress/revive; reservations; and no resources offered twice."""

from __future__ import annotations

import getpass
from collections.abc import AsyncIterator, Iterator

import pytest

from mesos_runtime.wire.mesos import Resource
from mesos_runtime.wire.resources import Resources
from tests.harness import daemons
from tests.harness.v1_client import Framework, V1Client, framework_info, scalar, task_info

pytestmark = pytest.mark.integration

AGENT_RESOURCES = "cpus:4;mem:4096;disk:10000;ports:[31000-31999]"
TERMINAL = frozenset(
    {
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_ERROR",
        "TASK_LOST",
        "TASK_DROPPED",
        "TASK_GONE",
    }
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[daemons.Daemon]:
    root = tmp_path_factory.mktemp("cluster")
    master = daemons.master(
        root / "master", "--heartbeat_interval=500ms", "--allocation_interval=100ms"
    )
    agent = daemons.agent(root / "agent", master.address, f"--resources={AGENT_RESOURCES}")
    with daemons.running(master, agent):
        daemons.wait_until(lambda: daemons.registered_agents(master), 30, message="agent")
        yield master


@pytest.fixture
async def client(cluster: daemons.Daemon) -> AsyncIterator[V1Client]:
    async with V1Client(cluster.url) as c:
        yield c


def info(name: str, **extra: object) -> dict:
    return framework_info(name, **{"user": getpass.getuser(), **extra})


def offered(*offers: dict) -> Resources:
    return Resources.from_wire(
        Resource.from_json(r) for offer in offers for r in offer["resources"]
    ).unallocated()


async def whole_offer(framework: Framework) -> dict:
    """An offer of the whole agent (earlier tests' resources may still be coming back)."""
    while True:
        (offer,) = await framework.offers()
        if offered(offer).cpus == 4.0:
            return offer
        await framework.decline(offer, refuse_seconds=0)


async def follow(
    framework: Framework, task_id: str, until: set[str] | frozenset[str] = TERMINAL
) -> list[str]:
    """Acknowledge every update of `task_id` until one in `until`; the states seen."""
    states: list[str] = []
    while not states or states[-1] not in until:
        status = await framework.update(task_id, timeout=60)
        states.append(status["state"])
        if "uuid" in status:
            assert (await framework.acknowledge(status)).status == 202
    return states


async def test_task_runs_to_finished_with_acknowledged_updates(client: V1Client) -> None:
    framework = await client.subscribe(info("finish"))
    offer = await whole_offer(framework)
    await framework.launch(offer, task_info("finish-1", offer, "echo hello"))
    states = await follow(framework, "finish-1")
    assert states[-1] == "TASK_FINISHED"
    assert "TASK_RUNNING" in states
    state = await client.get_json("/master/state")
    (fw,) = [f for f in state["frameworks"] if f["id"] == framework.id]
    assert [t["state"] for t in fw["completed_tasks"]] == ["TASK_FINISHED"]
    await framework.call("TEARDOWN")


async def test_failing_task_ends_task_failed(client: V1Client) -> None:
    framework = await client.subscribe(info("fail"))
    offer = await whole_offer(framework)
    await framework.launch(offer, task_info("fail-1", offer, "exit 3"))
    assert (await follow(framework, "fail-1"))[-1] == "TASK_FAILED"
    await framework.call("TEARDOWN")


async def test_killed_task_ends_task_killed(client: V1Client) -> None:
    framework = await client.subscribe(info("kill"))
    offer = await whole_offer(framework)
    await framework.launch(offer, task_info("kill-1", offer, "sleep 300"))
    await follow(framework, "kill-1", {"TASK_RUNNING"})
    assert (await framework.call("KILL", kill={"task_id": {"value": "kill-1"}})).status == 202
    assert (await follow(framework, "kill-1"))[-1] == "TASK_KILLED"
    await framework.call("TEARDOWN")


async def test_task_group_runs_every_task(client: V1Client) -> None:
    framework = await client.subscribe(info("group"))
    offer = await whole_offer(framework)
    executor = {
        "executor_id": {"value": "group-exec"},
        "type": "DEFAULT",
        "resources": [scalar("cpus", 0.1), scalar("mem", 32)],
    }
    tasks = [task_info(f"group-{i}", offer, f"echo {i}") for i in range(2)]
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
    for i in range(2):
        assert (await follow(framework, f"group-{i}"))[-1] == "TASK_FINISHED"
    await framework.call("TEARDOWN")


async def test_reconciliation_answers_for_running_and_unknown_tasks(client: V1Client) -> None:
    framework = await client.subscribe(info("reconcile"))
    offer = await whole_offer(framework)
    await framework.launch(offer, task_info("rec-1", offer, "sleep 300"))
    await follow(framework, "rec-1", {"TASK_RUNNING"})
    await framework.call(
        "RECONCILE",
        reconcile={"tasks": [{"task_id": {"value": "rec-1"}}, {"task_id": {"value": "nope"}}]},
    )
    explicit = await framework.update("rec-1", "TASK_RUNNING")
    assert explicit["reason"] == "REASON_RECONCILIATION"
    assert "uuid" not in explicit
    assert (await framework.update("nope"))["state"] == "TASK_LOST"
    await framework.call("RECONCILE", reconcile={})
    implicit = await framework.update("rec-1", "TASK_RUNNING")
    assert implicit["reason"] == "REASON_RECONCILIATION"
    await framework.call("TEARDOWN")


@pytest.mark.parametrize(
    ("capabilities", "expected"),
    [([], "TASK_LOST"), ([{"type": "PARTITION_AWARE"}], "TASK_DROPPED")],
)
async def test_accepting_a_declined_offer_drops_the_tasks(
    client: V1Client, capabilities: list, expected: str
) -> None:
    framework = await client.subscribe(info("stale", capabilities=capabilities))
    offer = await whole_offer(framework)
    await framework.decline(offer, refuse_seconds=0)
    await framework.launch(offer, task_info("stale-1", offer, "true"))
    status = await framework.update("stale-1")
    assert status["state"] == expected
    assert status["reason"] == "REASON_INVALID_OFFERS"
    await framework.call("TEARDOWN")


async def test_declined_resources_wait_for_revive(client: V1Client) -> None:
    framework = await client.subscribe(info("decline"))
    offer = await whole_offer(framework)
    await framework.decline(offer, refuse_seconds=3600)
    before = len(framework.stream.of_type("OFFERS"))
    for _ in range(3):  # many allocation cycles
        await framework.stream.next("HEARTBEAT", timeout=10)
    assert len(framework.stream.of_type("OFFERS")) == before
    await framework.call("REVIVE")
    assert offered(await whole_offer(framework)) == offered(offer)
    await framework.call("TEARDOWN")


async def test_suppress_stops_offers_until_revive(client: V1Client) -> None:
    framework = await client.subscribe(info("suppress"))
    offer = await whole_offer(framework)
    await framework.call("SUPPRESS")
    await framework.decline(offer, refuse_seconds=0)
    before = len(framework.stream.of_type("OFFERS"))
    for _ in range(3):
        await framework.stream.next("HEARTBEAT", timeout=10)
    assert len(framework.stream.of_type("OFFERS")) == before
    await framework.call("REVIVE")
    await whole_offer(framework)
    await framework.call("TEARDOWN")


async def test_reserve_then_unreserve_round_trip(client: V1Client) -> None:
    framework = await client.subscribe(info("reserve", role="db"))
    offer = await whole_offer(framework)
    reservation = [{"type": "DYNAMIC", "role": "db", "principal": "ops"}]
    reserve = [{**scalar("cpus", 1, "db"), "reservations": reservation}]
    await framework.call(
        "ACCEPT",
        accept={
            "offer_ids": [offer["id"]],
            "operations": [{"type": "RESERVE", "reserve": {"resources": reserve}}],
            "filters": {"refuse_seconds": 0},
        },
    )
    reserved_offer = await whole_offer(framework)
    assert offered(reserved_offer).reserved("db").cpus == 1.0
    back = [r for r in reserved_offer["resources"] if r.get("reservations")]
    await framework.call(
        "ACCEPT",
        accept={
            "offer_ids": [reserved_offer["id"]],
            "operations": [{"type": "UNRESERVE", "unreserve": {"resources": back}}],
            "filters": {"refuse_seconds": 0},
        },
    )
    final = await whole_offer(framework)
    assert offered(final).reserved() == Resources()
    await framework.call("TEARDOWN")


async def test_two_frameworks_never_hold_the_same_resources(client: V1Client) -> None:
    first = await client.subscribe(info("first"))
    offer = await whole_offer(first)
    second = await client.subscribe(info("second"))
    # the first keeps 1 cpu busy and returns the rest: only the rest reaches the second
    await first.launch(offer, task_info("hold", offer, "sleep 300", cpus=1, mem=128))
    await follow(first, "hold", {"TASK_RUNNING"})
    (other,) = await second.offers()
    assert offered(other).cpus == 3.0
    assert offered(other).mem == 4096 - 128
    await first.call("TEARDOWN")
    await second.call("TEARDOWN")
