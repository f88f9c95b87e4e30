"""`OfferDemand`, what the service scheduler suppresses and revives offers with, against a
real master and agent: demand changes that cross on the wire end with the master doing
what the newest demand says."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesos_runtime.scheduler import (
    Framework,
    OfferDemand,
    SchedulerClient,
    framework_info,
    run,
)
from mesos_runtime.wire.mesos import Offer
from tests.harness import daemons

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[daemons.Daemon]:
    root: Path = tmp_path_factory.mktemp("offer-demand")
    master = daemons.master(root / "master")
    agent = daemons.agent(
        root / "agent", master.address, "--resources=cpus:1;mem:512;disk:512;ports:[21000-21009]"
    )
    with daemons.running(master, agent):
        daemons.wait_until(lambda: daemons.registered_agents(master), 30, message="agent")
        yield master


class Counting(Framework):
    """Declines every offer with a short filter, counting them."""

    def __init__(self) -> None:
        super().__init__()
        self.offer_events = 0
        self.got_offer = asyncio.Event()

    async def offers(self, client: SchedulerClient, offers: list[Offer]) -> None:
        self.offer_events += 1
        self.got_offer.set()
        await client.decline([o.id for o in offers], 0.2)


async def test_work_that_appears_while_a_suppress_is_on_its_way_is_offered(
    master: daemons.Daemon,
) -> None:
    framework = Counting()
    demand = OfferDemand()
    async with SchedulerClient(master.address, framework_info("crossing")) as client:
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
    master: daemons.Daemon,
) -> None:
    framework = Counting()
    demand = OfferDemand(min_revive_interval=0.5)
    async with SchedulerClient(master.address, framework_info("put-off")) as client:
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
