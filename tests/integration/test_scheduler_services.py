"""The scheduler library as the base of service schedulers, against a real master and
agent: a restarted scheduler adopts its running tasks, RESERVE → CREATE → LAUNCH and
DESTROY → UNRESERVE, SUPPRESS/REVIVE (demand changes that cross on the wire end with
the master doing what the newest demand says), UPDATE_FRAMEWORK, a failing hook."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mesos_runtime.scheduler import (
    DEFAULT_FAILOVER_TIMEOUT,
    Framework,
    OfferDemand,
    ResourceRequest,
    SchedulerClient,
    SchedulerState,
    TaskTracker,
    command_task,
    framework_info,
    open_ha,
    plan_reservation,
    reserved_for,
    run,
    unreserve_operations,
)
from mesos_runtime.scheduler import calls as scheduler_calls
from mesos_runtime.scheduler.offers import OfferMatch, match_offer
from mesos_runtime.scheduler.reservations import ReservePlan, volume_request
from mesos_runtime.wire.mesos import Offer, TaskState, TaskStatus
from mesos_runtime.wire.resources import Resources
from mesos_runtime.wire.scheduler import Subscribed
from tests.harness import daemons

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[daemons.Daemon]:
    root: Path = tmp_path_factory.mktemp("scheduler-services")
    master = daemons.master(root / "master")
    agent = daemons.agent(
        root / "agent",
        master.address,
        "--resources=cpus:4;mem:4096;disk:4096;ports:[31000-31099]",
    )
    with daemons.running(master, agent):
        daemons.wait_until(lambda: daemons.registered_agents(master), 30, message="agent")
        yield master


def state_of(master: daemons.Daemon) -> dict[str, Any]:
    return daemons.http_json(master.url + "/master/state")


def framework_json(master: daemons.Daemon, framework_id: str) -> dict[str, Any] | None:
    return next((f for f in state_of(master)["frameworks"] if f["id"] == framework_id), None)


class Service(Framework):
    """A minimal service scheduler on the library: `count` long tasks, stored and adopted."""

    def __init__(self, state: SchedulerState, tracker: TaskTracker, count: int) -> None:
        super().__init__()
        self.state = state
        self.tracker = tracker
        self.count = count
        self.launched: list[str] = []
        self.subscribed_as: list[str] = []
        self.running = asyncio.Event()

    async def subscribed(self, client: SchedulerClient, subscribed: Subscribed) -> None:
        self.subscribed_as.append(subscribed.framework_id.value)
        await self.state.set_framework_id(subscribed.framework_id)
        self.tracker.adopt(client, interval=0.5)

    async def offers(self, client: SchedulerClient, offers: list[Offer]) -> None:
        for offer in offers:
            missing = self.count - len(self.tracker.records)
            tasks = []
            for i in range(missing):
                task = command_task(
                    offer, "sleep 300", task_id=f"svc-{len(self.launched) + i}", mem=16
                )
                await self.tracker.launched(task, offer)
                tasks.append(task)
            if tasks:
                self.launched += [t.task_id.value for t in tasks]
                await client.launch([offer.id], tasks)
            else:
                await client.decline([offer.id], 60)

    async def update(self, client: SchedulerClient, status: TaskStatus) -> None:
        await self.tracker.update(status)
        records = self.tracker.records.values()
        if len(records) == self.count and all(
            r.status is not None and r.status.state is TaskState.TASK_RUNNING for r in records
        ):
            self.running.set()


async def start_service(cluster: daemons.Daemon, location: str, count: int):
    ha = await open_ha(location, "svc-instance")
    await ha.election.elected()
    state = SchedulerState(ha.store)
    tracker = TaskTracker(state)
    await tracker.load()
    info = framework_info("adopting-service", failover_timeout=120)
    info = info.replace(id=await state.framework_id())
    client = SchedulerClient(cluster.address, info)
    service = Service(state, tracker, count)
    runner = asyncio.create_task(run(client, service))
    return ha, client, service, runner


async def stop_service(ha, client, runner) -> None:
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await client.close()
    await ha.close()


async def test_a_restarted_scheduler_resubscribes_as_itself_and_adopts_its_running_tasks(
    cluster: daemons.Daemon, tmp_path: Path
) -> None:
    location = str(tmp_path / "state")
    ha, client, service, runner = await start_service(cluster, location, count=2)
    try:
        async with asyncio.timeout(60):
            await service.running.wait()
        first_id = service.subscribed_as[0]
    finally:
        await stop_service(ha, client, runner)

    # a new process would start here: same state directory, nothing else carried over
    ha, client, service, runner = await start_service(cluster, location, count=2)
    try:
        async with asyncio.timeout(60):
            await service.running.wait()
        assert service.subscribed_as == [first_id]
        assert service.launched == []  # adopted, not relaunched
        assert sorted(service.tracker.records) == ["svc-0", "svc-1"]
        fw = framework_json(cluster, first_id)
        assert fw is not None and len(fw["tasks"]) == 2
        assert fw["failover_timeout"] == 120
        await client.teardown()
    finally:
        await stop_service(ha, client, runner)


def test_service_frameworks_default_to_a_week_of_failover() -> None:
    info = framework_info("svc")
    assert info.failover_timeout == DEFAULT_FAILOVER_TIMEOUT == 604800
    assert info.checkpoint is True


class Reserving(Framework):
    """RESERVE → CREATE → LAUNCH on the first offer; after the task, DESTROY → UNRESERVE."""

    def __init__(self) -> None:
        super().__init__()
        self.request = ResourceRequest(
            cpus=0.5, mem=64, volumes=(volume_request("pod-0", "data", 50),)
        )
        self.phase = "reserve"
        self.seen_reserved: list[Resources] = []
        self.task_resources: Resources | None = None
        self.states: list[TaskState] = []
        self.done = asyncio.Event()

    async def offers(self, client: SchedulerClient, offers: list[Offer]) -> None:
        for offer in offers:
            held = reserved_for(offer, "pod-0")
            if self.phase == "reserve":
                plan = plan_reservation(self.request, offer, "pod-0", role="db", principal="ops")
                assert isinstance(plan, ReservePlan), plan
                task = command_task(
                    offer, "test -d . && sleep 300", task_id="pod-0", resources=plan.resources
                )
                self.task_resources = plan.resources
                self.phase = "running"
                await client.accept(
                    [offer.id],
                    [*plan.operations, scheduler_calls.launch_operation([task])],
                    filters=0,
                )
            elif self.phase == "relaunch" and held:
                self.seen_reserved.append(held)
                again = match_offer(
                    ResourceRequest(
                        cpus=0.5, mem=64, reservation_id="pod-0", volumes=self.request.volumes
                    ),
                    offer,
                )
                assert isinstance(again, OfferMatch), again
                self.phase = "unreserve"
                await client.accept([offer.id], unreserve_operations(offer, "pod-0"), filters=0)
            elif self.phase == "unreserve" and not held:
                self.seen_reserved.append(held)
                self.done.set()
                await client.decline([offer.id], 60)
            else:
                await client.decline([offer.id], 0)

    async def update(self, client: SchedulerClient, status: TaskStatus) -> None:
        self.states.append(status.state)
        if status.state is TaskState.TASK_RUNNING:
            await client.kill(status.task_id, status.agent_id)
        elif status.state.is_terminal:
            self.phase = "relaunch"
            await client.revive()


async def test_reserve_create_launch_then_destroy_unreserve_returns_the_resources(
    cluster: daemons.Daemon,
) -> None:
    framework = Reserving()
    info = framework_info("reserving", roles=["db"], principal="ops", failover_timeout=0)
    async with SchedulerClient(cluster.address, info) as client:
        runner = asyncio.create_task(run(client, framework))
        try:
            async with asyncio.timeout(60):
                await framework.done.wait()
        finally:
            framework.stop()
            await runner
    assert TaskState.TASK_RUNNING in framework.states
    assert framework.states[-1] is TaskState.TASK_KILLED
    offered_back = framework.seen_reserved[0]
    assert framework.task_resources is not None
    assert offered_back == framework.task_resources  # the reservation and its volume, intact
    assert [k.disk.persistence_id for k, _ in offered_back if k.disk] == ["pod-0#data"]
    assert framework.seen_reserved[-1] == Resources()  # unreserved: offered as plain resources


class Counting(Framework):
    def __init__(self) -> None:
        super().__init__()
        self.offer_events = 0
        self.got_offer = asyncio.Event()

    async def offers(self, client: SchedulerClient, offers: list[Offer]) -> None:
        self.offer_events += 1
        self.got_offer.set()
        await client.decline([o.id for o in offers], 0.2)


async def test_a_suppressed_scheduler_gets_no_offers_until_it_revives(
    cluster: daemons.Daemon,
) -> None:
    framework = Counting()
    demand = OfferDemand()
    async with SchedulerClient(cluster.address, framework_info("quiet")) as client:
        runner = asyncio.create_task(run(client, framework, teardown=True))
        try:
            async with asyncio.timeout(30):
                await framework.got_offer.wait()
            await demand.update(client, wanted=False)
            await asyncio.sleep(0.3)  # let an offer already in flight arrive
            before = framework.offer_events
            # declined with a 0.2 s filter: unsuppressed, it would be offered again at once
            await asyncio.sleep(1.5)
            assert framework.offer_events == before
            assert demand.suppressed
            framework.got_offer.clear()
            await demand.update(client, wanted=True)
            async with asyncio.timeout(30):
                await framework.got_offer.wait()
        finally:
            framework.stop()
            await runner


async def test_work_that_appears_while_a_suppress_is_on_its_way_is_offered(
    cluster: daemons.Daemon,
) -> None:
    framework = Counting()
    demand = OfferDemand()
    async with SchedulerClient(cluster.address, framework_info("crossing")) as client:
        runner = asyncio.create_task(run(client, framework, teardown=True))
        try:
            async with asyncio.timeout(30):
                await framework.got_offer.wait()
            framework.got_offer.clear()
            # nothing to do, then (before the SUPPRESS has landed) something to do
            await asyncio.gather(
                demand.update(client, wanted=False), demand.update(client, wanted=True)
            )
            async with asyncio.timeout(30):
                await framework.got_offer.wait()
            assert not demand.suppressed
        finally:
            framework.stop()
            await runner


async def test_a_revive_put_off_by_its_rate_limit_is_not_sent_once_the_work_is_gone(
    cluster: daemons.Daemon,
) -> None:
    framework = Counting()
    demand = OfferDemand(min_revive_interval=0.5)
    async with SchedulerClient(cluster.address, framework_info("put-off")) as client:
        runner = asyncio.create_task(run(client, framework, teardown=True))
        try:
            async with asyncio.timeout(30):
                await framework.got_offer.wait()
            await demand.update(client, wanted=True, new_work=True)  # revives now
            await demand.update(client, wanted=False)  # suppresses
            await demand.update(client, wanted=True, new_work=True)  # put off: revived too recently
            await demand.update(client, wanted=False)  # the work went before it was due
            await asyncio.sleep(0.3)  # let an offer already in flight arrive
            before = framework.offer_events
            # past the put-off revive's time; declined with a 0.2 s filter, an unsuppressed
            # framework would be offered again at once
            await asyncio.sleep(1.5)
            assert framework.offer_events == before
            assert demand.suppressed
        finally:
            framework.stop()
            await runner


async def test_update_framework_changes_what_the_master_shows(cluster: daemons.Daemon) -> None:
    framework = Counting()
    async with SchedulerClient(cluster.address, framework_info("before")) as client:
        runner = asyncio.create_task(run(client, framework, teardown=True))
        try:
            async with asyncio.timeout(30):
                await framework.got_offer.wait()
            assert client.framework_id is not None
            framework_id = client.framework_id.value
            updated = framework_info("after", webui_url="http://127.0.0.1:9/ui")
            await client.update_framework(updated)
            fw = await asyncio.to_thread(
                daemons.wait_until,
                lambda: (f := framework_json(cluster, framework_id)) and f["name"] == "after" and f,
                30,
            )
            assert fw["webui_url"] == "http://127.0.0.1:9/ui"
            assert client.framework_info.name == "after"
            assert client.framework_info.id is not None
        finally:
            framework.stop()
            await runner


class FailsOnce(Framework):
    """Its `subscribed` hook and its first RUNNING update raise."""

    def __init__(self) -> None:
        super().__init__()
        self.launched = False
        self.states: list[TaskState] = []

    async def subscribed(self, client: SchedulerClient, subscribed: Subscribed) -> None:
        raise RuntimeError("subscribed hook bug")

    async def offers(self, client: SchedulerClient, offers: list[Offer]) -> None:
        if self.launched:
            await client.decline([o.id for o in offers], 60)
            return
        self.launched = True
        await client.launch([offers[0].id], [command_task(offers[0], "sleep 0.2", task_id="f1")])

    async def update(self, client: SchedulerClient, status: TaskStatus) -> None:
        self.states.append(status.state)
        if (
            self.states.count(TaskState.TASK_RUNNING) == 1
            and status.state is TaskState.TASK_RUNNING
        ):
            raise RuntimeError("update hook bug")
        if status.state.is_terminal:
            self.stop()


async def test_a_failing_hook_is_logged_and_the_framework_goes_on(
    cluster: daemons.Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    framework = FailsOnce()
    async with SchedulerClient(cluster.address, framework_info("flaky")) as client:
        async with asyncio.timeout(60):
            await run(client, framework, teardown=True)
    # the failed RUNNING was not acknowledged, so the agent sent it again
    assert framework.states.count(TaskState.TASK_RUNNING) == 2
    assert framework.states[-1] is TaskState.TASK_FINISHED
    hooks = [r.getMessage() for r in caplog.records if "hook failed" in r.getMessage()]
    assert any("subscribed" in m for m in hooks) and any("update" in m for m in hooks)
