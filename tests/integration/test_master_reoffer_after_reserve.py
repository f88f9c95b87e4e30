"""An ACCEPT with only RESERVE and CREATE (no LAUNCH): the converted resources go back to
the allocator as the framework's reserved resources and are offered to it again once the
ACCEPT's refuse filter (refuse_seconds, 5 s by default) expires, as in Mesos. A real
master and a real agent process; the framework speaks the v1 scheduler API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from mesos_runtime.wire.mesos import Resource
from mesos_runtime.wire.resources import Resources
from tests.harness import daemons
from tests.harness.v1_client import Framework, V1Client, framework_info, scalar

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[daemons.Daemon]:
    m = daemons.master(tmp_path_factory.mktemp("master"), "--heartbeat_interval=1secs").start()
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory, master: daemons.Daemon) -> Iterator[None]:
    a = daemons.agent(
        tmp_path_factory.mktemp("agent"),
        master.address,
        "--resources=cpus:16;mem:16384;disk:10000;ports:[31000-31099]",
    ).start()
    try:
        daemons.wait_until(lambda: daemons.registered_agents(master), 30, message="registered")
        yield
    finally:
        a.stop()


@pytest.fixture
def role() -> str:
    """A role of its own per test: what an earlier test reserved is not offered to it."""
    return f"db-{uuid.uuid4().hex[:6]}"


@pytest.fixture
async def framework(client: V1Client, agent: None, role: str) -> AsyncIterator[Framework]:
    fw = await client.subscribe(framework_info(f"reserver-{role}", role=role))
    try:
        yield fw
    finally:
        await fw.call("TEARDOWN")


def resources_of(offer: dict[str, Any]) -> Resources:
    return Resources.from_wire(Resource.from_json(r) for r in offer["resources"]).unallocated()


def reservation(role: str) -> list[dict[str, Any]]:
    return [{"type": "DYNAMIC", "role": role, "principal": "ops"}]


def volume(role: str, persistence_id: str) -> dict[str, Any]:
    return {
        **scalar("disk", 100, role),
        "reservations": reservation(role),
        "disk": {
            "persistence": {"id": persistence_id, "principal": "ops"},
            "volume": {"container_path": "data", "mode": "RW"},
        },
    }


async def reserve_and_create(
    framework: Framework, role: str, offer: dict[str, Any], filters: dict[str, Any] | None
) -> str:
    """ACCEPT `offer` with RESERVE (cpus, mem, disk) + CREATE (a volume) and no LAUNCH."""
    persistence_id = f"vol-{uuid.uuid4().hex[:8]}"
    reserved = [
        {**scalar(name, value, role), "reservations": reservation(role)}
        for name, value in (("cpus", 1), ("mem", 256), ("disk", 100))
    ]
    accept: dict[str, Any] = {
        "offer_ids": [offer["id"]],
        "operations": [
            {"type": "RESERVE", "reserve": {"resources": reserved}},
            {"type": "CREATE", "create": {"volumes": [volume(role, persistence_id)]}},
        ],
    }
    if filters is not None:
        accept["filters"] = filters
    reply = await framework.call("ACCEPT", accept=accept)
    assert reply.status == 202, reply.text
    return persistence_id


async def offer_with_volume_offer(
    framework: Framework, persistence_id: str, timeout: float
) -> dict[str, Any]:
    """The next offer that carries the volume (others are declined with no filter)."""
    while True:
        for offer in await framework.offers(timeout=timeout):
            ids = {r.get("disk", {}).get("persistence", {}).get("id") for r in offer["resources"]}
            if persistence_id in ids:
                return offer
            await framework.decline(offer, refuse_seconds=0)


async def offer_with_volume(framework: Framework, persistence_id: str, timeout: float) -> Resources:
    return resources_of(await offer_with_volume_offer(framework, persistence_id, timeout))


@pytest.mark.parametrize(
    ("filters", "within"),
    [({"refuse_seconds": 0.5}, 10.0), (None, 15.0), ({"refuse_seconds": 0}, 10.0)],
    ids=["refuse-0.5s", "default-filter", "no-filter"],
)
async def test_reserved_resources_are_offered_again_after_reserve_and_create(
    framework: Framework, role: str, filters: dict[str, Any] | None, within: float
) -> None:
    (offer,) = await framework.offers()
    persistence_id = await reserve_and_create(framework, role, offer, filters)
    again = await offer_with_volume(framework, persistence_id, timeout=within)
    assert again.reserved(role).cpus == 1.0
    assert again.reserved(role).mem == 256.0
    assert again.reserved(role).disk == 100.0


async def test_reserve_only_accepts_in_a_row_are_each_offered_again(
    framework: Framework, role: str
) -> None:
    """The intermittent case looked for: each round ACCEPTs the re-offer (reserved and
    unreserved resources together) with RESERVE + CREATE again; every round's volume
    must come back, with all the earlier ones."""
    offer = (await framework.offers())[0]
    volumes: list[str] = []
    for _ in range(5):
        volumes.append(await reserve_and_create(framework, role, offer, {"refuse_seconds": 0.5}))
        offer = await offer_with_volume_offer(framework, volumes[-1], timeout=10.0)
        ids = {r.get("disk", {}).get("persistence", {}).get("id") for r in offer["resources"]}
        assert set(volumes) <= ids
    assert resources_of(offer).reserved(role).cpus == 5.0
