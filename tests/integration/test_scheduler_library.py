"""The scheduler library against a real master and agent on loopback: subscribe, launch,
auto-acknowledge, re-subscribe after a cut stream, framework failover, 307 redirects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from mesos_runtime.scheduler import (
    CallError,
    Framework,
    SchedulerClient,
    command_task,
    run,
)
from mesos_runtime.wire.mesos import FrameworkInfo, Offer, TaskState, TaskStatus
from mesos_runtime.wire.scheduler import EventType, Subscribed
from tests.harness import daemons, zookeeper

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[daemons.Daemon]:
    """One master with one agent, shared by the tests of this module."""
    root: Path = tmp_path_factory.mktemp("scheduler-library")
    master = daemons.master(root / "master")
    agent = daemons.agent(root / "agent", master.address, "--resources=cpus:4;mem:4096;disk:4096")
    with daemons.running(master, agent):
        daemons.wait_until(lambda: daemons.registered_agents(master), 30, message="agent")
        yield master


def info(name: str, **extra: Any) -> FrameworkInfo:
    return FrameworkInfo(user="root", name=name, **extra)


def master_state(master: daemons.Daemon) -> dict[str, Any]:
    return daemons.http_json(master.url + "/master/state")


async def eventually(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll `condition` (a blocking check, run off the event loop) until it holds."""
    return await asyncio.to_thread(daemons.wait_until, condition, timeout)


class Launcher(Framework):
    """Launches `command` once per task id on the first offers that fit, records updates."""

    def __init__(self, commands: dict[str, str]) -> None:
        super().__init__()
        self.pending = dict(commands)
        self.states: dict[str, list[TaskState]] = {task_id: [] for task_id in commands}
        self.subscriptions: list[str] = []
        self.statuses: list[TaskStatus] = []
        self.stop_when_terminal = True

    async def subscribed(self, client: SchedulerClient, subscribed: Subscribed) -> None:
        self.subscriptions.append(subscribed.framework_id.value)

    async def offers(self, client: SchedulerClient, offers: list[Offer]) -> None:
        for offer in offers:
            tasks = [
                command_task(offer, command, task_id=task_id, cpus=0.1, mem=32)
                for task_id, command in self.pending.items()
            ]
            self.pending.clear()
            if tasks:
                await client.launch([offer.id], tasks)
            else:
                await client.decline([offer.id], 30)

    async def update(self, client: SchedulerClient, status: TaskStatus) -> None:
        self.statuses.append(status)
        self.states.setdefault(status.task_id.value, []).append(status.state)
        if self.stop_when_terminal and all(s and s[-1].is_terminal for s in self.states.values()):
            self.stop()


async def test_subscribe_yields_subscribed_then_offers_of_the_agent(cluster) -> None:
    async with SchedulerClient(cluster.address, info("offers")) as client:
        events = []
        async with asyncio.timeout(60):
            async for event in client.subscribe():
                events.append(event)
                if event.type is EventType.OFFERS:
                    break
        subscribed = events[0].subscribed
        assert events[0].type is EventType.SUBSCRIBED and subscribed is not None
        assert client.framework_id == subscribed.framework_id
        assert client.stream_id and client.heartbeat_interval
        offer = events[-1].offers.offers[0]
        assert offer.hostname == "127.0.0.1"
        assert {r.name for r in offer.resources} >= {"cpus", "mem"}


async def test_launched_task_finishes_and_its_updates_are_acknowledged(cluster) -> None:
    framework = Launcher({"hello-1": "echo hello"})
    async with SchedulerClient(cluster.address, info("launch")) as client:
        async with asyncio.timeout(90):
            await run(client, framework)
        framework_id = client.framework_id.value
    assert framework.states["hello-1"][-1] is TaskState.TASK_FINISHED
    assert TaskState.TASK_RUNNING in framework.states["hello-1"]

    def completed() -> bool:
        # the master keeps a terminal task active until its update is acknowledged
        for fw in master_state(cluster)["frameworks"] + master_state(cluster).get(
            "completed_frameworks", []
        ):
            if fw["id"] == framework_id:
                return any(t["id"] == "hello-1" for t in fw.get("completed_tasks", []))
        return False

    await eventually(completed)


async def test_run_resubscribes_with_the_same_framework_id_after_the_stream_is_cut(
    cluster,
) -> None:
    class CutOnce(Framework):
        def __init__(self) -> None:
            super().__init__()
            self.ids: list[str] = []
            self.lost: list[Exception] = []
            self.registered: list[dict[str, Any]] = []

        async def subscribed(self, client: SchedulerClient, subscribed: Subscribed) -> None:
            self.ids.append(subscribed.framework_id.value)
            if len(self.ids) == 1:
                client.disconnect()  # as if the connection dropped
                return
            state = await asyncio.to_thread(master_state, cluster)
            self.registered = [f for f in state["frameworks"] if f["id"] == self.ids[0]]
            await client.teardown()
            self.stop()

        async def disconnected(self, client: SchedulerClient, reason: Exception) -> None:
            self.lost.append(reason)

    framework = CutOnce()
    async with SchedulerClient(cluster.address, info("cut", failover_timeout=60)) as client:
        async with asyncio.timeout(60):
            await run(client, framework)
    assert len(framework.ids) == 2 and framework.ids[0] == framework.ids[1]
    assert framework.lost
    assert len(framework.registered) == 1 and framework.registered[0]["active"]


async def test_failed_over_scheduler_finds_its_running_task_and_can_kill_it(cluster) -> None:
    first = Launcher({"sleeper": "sleep 300"})
    first.stop_when_terminal = False
    async with SchedulerClient(cluster.address, info("failover", failover_timeout=120)) as a:
        runner = asyncio.create_task(run(a, first))
        await eventually(lambda: TaskState.TASK_RUNNING in first.states["sleeper"], 60)
        first.stop()
        await runner
        framework_id = a.framework_id
    # a new scheduler process takes over the framework by its id
    second = Launcher({})
    second.states["sleeper"] = []
    async with SchedulerClient(
        cluster.address, info("failover", failover_timeout=120, id=framework_id)
    ) as b:
        runner = asyncio.create_task(run(b, second, teardown=True))
        await eventually(lambda: second.subscriptions, 30)
        assert second.subscriptions == [framework_id.value]
        await b.reconcile([("sleeper", None)])
        await eventually(lambda: TaskState.TASK_RUNNING in second.states["sleeper"], 30)
        await b.kill("sleeper")
        await eventually(lambda: TaskState.TASK_KILLED in second.states["sleeper"], 60)
        second.stop()
        await runner
    gone = [f for f in master_state(cluster)["frameworks"] if f["id"] == framework_id.value]
    assert gone == []


@pytest.fixture
async def redirector(cluster) -> AsyncIterator[str]:
    """A stand-in for a non-leading master: answers SUBSCRIBE with Mesos' 307 to the real
    leader and every other call with 400, so calls that reach it are caught."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("type") == "SUBSCRIBE":
            return web.Response(
                status=307, headers={"Location": f"//{cluster.address}/api/v1/scheduler"}
            )
        return web.Response(status=400, text="call sent to the non-leading master")

    app = web.Application()
    app.router.add_post("/api/v1/scheduler", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"127.0.0.1:{port}"
    await runner.cleanup()


async def test_subscribe_through_a_non_leading_master_reaches_the_leader(
    cluster, redirector
) -> None:
    async with SchedulerClient(f"http://{redirector}", info("redirected")) as client:
        async with asyncio.timeout(60):
            async for event in client.subscribe():
                assert event.type is EventType.SUBSCRIBED
                # calls follow the stream to the leader (the stand-in would answer 400)
                await client.suppress()
                await client.teardown()
                break
    assert client.leader_url == cluster.url


async def test_calls_refused_by_the_master_raise_call_error(cluster) -> None:
    async with SchedulerClient(cluster.address, info("refused")) as client:
        with pytest.raises(CallError) as refused:
            await client.revive()  # never subscribed: the master refuses
    assert refused.value.status in (400, 403)


@pytest.mark.zookeeper
async def test_run_follows_the_leader_through_zookeeper_across_a_master_failover(
    tmp_path: Path, zk_quorum: zookeeper.QuorumHandle
) -> None:
    """Two masters on a real ZooKeeper quorum: the client subscribes via `zk://` (and via the
    standby, which redirects), and when the leader is SIGKILLed, `run()` re-subscribes to the
    new leader with the same framework id."""
    url = zk_quorum.zk_url("/mesos-scheduler-library")
    masters = [
        daemons.master(tmp_path / f"m{i}", f"--zk={url}", "--zk_session_timeout=4secs")
        for i in (1, 2)
    ]
    with daemons.running(*masters):

        class Follower(Framework):
            def __init__(self) -> None:
                super().__init__()
                self.subscriptions: list[tuple[str, int]] = []

            async def subscribed(self, client: SchedulerClient, sub: Subscribed) -> None:
                port = sub.master_info.port if sub.master_info else 0
                self.subscriptions.append((sub.framework_id.value, port))
                if len(self.subscriptions) == 2:
                    self.stop()

        framework = Follower()
        info_ = info("zk-follower", failover_timeout=300)
        async with SchedulerClient(url, info_, heartbeat_grace=2.0) as client:
            runner = asyncio.create_task(run(client, framework, teardown=True))
            await eventually(lambda: framework.subscriptions, 60)
            first_id, first_port = framework.subscriptions[0]
            leader = next(m for m in masters if m.port == first_port)
            standby = next(m for m in masters if m is not leader)
            # a real non-leading master answers 307: the client lands on the leader
            async with SchedulerClient(standby.address, info("via-standby")) as other:
                async for event in other.subscribe():
                    assert event.type is EventType.SUBSCRIBED
                    break
                assert other.leader_url == leader.url
            leader.kill()
            async with asyncio.timeout(120):
                await runner
        (again_id, again_port) = framework.subscriptions[1]
        assert again_id == first_id
        assert again_port != first_port and again_port in {m.port for m in masters}
