"""Persistent volumes on a real agent: RESERVE + CREATE + LAUNCH gives the task its volume
directory linked into the sandbox; the data survives the task's end and the agent's
restart; DESTROY removes the directory; a container path leaving the sandbox is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesos_runtime.scheduler import (
    Framework,
    ResourceRequest,
    SchedulerClient,
    command_task,
    framework_info,
    plan_reservation,
    run,
)
from mesos_runtime.scheduler import calls as scheduler_calls
from mesos_runtime.scheduler.offers import OfferMatch, VolumeRequest, match_offer
from mesos_runtime.scheduler.reservations import ReservePlan, unreserve_operations
from mesos_runtime.wire.mesos import Offer, OfferID, TaskState, TaskStatus
from tests.harness import daemons

pytestmark = pytest.mark.integration

ROLE = "store"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[daemons.Daemon, ...]]:
    root: Path = tmp_path_factory.mktemp("volumes")
    master = daemons.master(root / "master", "--agent_reregister_timeout=30secs")
    agent = daemons.agent(root / "agent", master.address, "--resources=cpus:2;mem:512;disk:512")
    with daemons.running(master, agent):
        daemons.wait_until(lambda: daemons.registered_agents(master), 30, message="agent")
        yield master, agent


class Driver(Framework):
    """Hands offers and status updates to the test, which decides every move."""

    def __init__(self) -> None:
        super().__init__()
        self.offer_queue: asyncio.Queue[Offer] = asyncio.Queue()
        self.statuses: asyncio.Queue[TaskStatus] = asyncio.Queue()
        self.rescinded: set[str] = set()

    async def rescind(self, client: SchedulerClient, offer_id: OfferID) -> None:
        self.rescinded.add(offer_id.value)

    async def offers(self, client: SchedulerClient, offers: list[Offer]) -> None:
        for offer in offers:
            await self.offer_queue.put(offer)

    async def update(self, client: SchedulerClient, status: TaskStatus) -> None:
        await self.statuses.put(status)

    async def next_offer(self, client: SchedulerClient, reserved: bool) -> Offer:
        """The next offer that holds (or, `reserved=False`, doesn't need) our reservation."""
        while True:
            offer = await self.offer_queue.get()
            if offer.id.value in self.rescinded:
                continue
            has = any(r.reservations for r in offer.resources)
            if has or not reserved:
                return offer
            await client.decline([offer.id], 0)

    async def until(self, task_id: str, *states: TaskState) -> TaskStatus:
        while True:
            status = await self.statuses.get()
            if status.task_id.value == task_id and status.state in states:
                return status


VOLUME = VolumeRequest("vol-1", "data", 16)
REQUEST = ResourceRequest(cpus=0.1, mem=32, volumes=(VOLUME,))
AGAIN = ResourceRequest(cpus=0.1, mem=32, reservation_id="r1", volumes=(VOLUME,))


async def test_a_volume_outlives_its_task_and_the_agent_and_destroy_removes_it(
    cluster: tuple[daemons.Daemon, ...],
) -> None:
    master, agent = cluster
    volume_dir = agent.work_dir / "volumes" / "roles" / ROLE / "vol-1"
    driver = Driver()
    info = framework_info("volumes", roles=[ROLE], failover_timeout=300)
    async with SchedulerClient(master.address, info) as client:
        runner = asyncio.create_task(run(client, driver))
        try:
            async with asyncio.timeout(90):
                offer = await driver.next_offer(client, reserved=False)
                plan = plan_reservation(REQUEST, offer, "r1", role=ROLE)
                assert isinstance(plan, ReservePlan), plan
                first = command_task(
                    offer,
                    "test -L data && echo one >> data/log",
                    task_id="first",
                    resources=plan.resources,
                )
                await client.accept(
                    [offer.id], [*plan.operations, scheduler_calls.launch_operation([first])], 0
                )
                done = await driver.until("first", TaskState.TASK_FINISHED, TaskState.TASK_FAILED)
                assert done.state is TaskState.TASK_FINISHED, done.message
                assert (volume_dir / "log").read_text() == "one\n"

                agent.restart()  # SIGKILL and start again: recovers its checkpointed resources
                await daemons.eventually(
                    lambda: daemons.registered_agents(master)[0]["active"], 30, message="back"
                )
                while not driver.offer_queue.empty():  # offers made before the restart
                    stale = driver.offer_queue.get_nowait()
                    await client.decline([stale.id], 0)
                assert (volume_dir / "log").read_text() == "one\n"
                offer = await driver.next_offer(client, reserved=True)
                matched = match_offer(AGAIN, offer)
                assert isinstance(matched, OfferMatch), matched
                second = command_task(
                    offer,
                    "echo two >> data/log && grep -q one data/log",
                    task_id="second",
                    resources=matched.resources,
                )
                await client.launch([offer.id], [second], 0)
                done = await driver.until("second", TaskState.TASK_FINISHED, TaskState.TASK_FAILED)
                assert done.state is TaskState.TASK_FINISHED, done.message
                assert (volume_dir / "log").read_text() == "one\ntwo\n"

                offer = await driver.next_offer(client, reserved=True)
                await client.accept([offer.id], unreserve_operations(offer, "r1"), 0)
                await daemons.eventually(
                    lambda: not volume_dir.exists(), 30, message="volume removed"
                )
        finally:
            driver.stop()
            await runner


async def test_a_volume_path_leaving_the_sandbox_fails_the_task_naming_the_path(
    cluster: tuple[daemons.Daemon, ...],
) -> None:
    master, agent = cluster
    driver = Driver()
    info = framework_info("escaping", roles=[ROLE], failover_timeout=0)
    escaping = ResourceRequest(cpus=0.1, mem=32, volumes=(VolumeRequest("vol-x", "../x", 8),))
    async with SchedulerClient(master.address, info) as client:
        runner = asyncio.create_task(run(client, driver, teardown=True))
        try:
            async with asyncio.timeout(60):
                offer = await driver.next_offer(client, reserved=False)
                plan = plan_reservation(escaping, offer, "rx", role=ROLE)
                assert isinstance(plan, ReservePlan), plan
                task = command_task(offer, "true", task_id="escape", resources=plan.resources)
                await client.accept(
                    [offer.id], [*plan.operations, scheduler_calls.launch_operation([task])], 0
                )
                status = await driver.until(
                    "escape", TaskState.TASK_FAILED, TaskState.TASK_ERROR, TaskState.TASK_FINISHED
                )
                assert status.state is not TaskState.TASK_FINISHED
                assert "'../x'" in (status.message or ""), status.message
                assert not (agent.work_dir / "x").exists()
        finally:
            driver.stop()
            await runner
