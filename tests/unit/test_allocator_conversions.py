"""The allocator after RESERVE/UNRESERVE on offered resources, driven at random (seeded):
declines and reserve-only ACCEPTs with refuse filters of 0, 0.5, 1, 5 s on two agents of
one shape, three frameworks in two roles. Once every offer is back and every filter has
expired, one cycle offers each agent whole, the converted resources included."""

from __future__ import annotations

import random

import pytest

from mesos_runtime.master.allocator import Allocator
from mesos_runtime.wire.resources import Resources

ROLES = {"f1": "db", "f2": "web", "f3": "db"}
AGENTS = ("a1", "a2")  # equal totals: they share the allocator's cached offers


def _convert(allocator: Allocator, agent: str, fw: str, held: Resources, kind: str) -> Resources:
    role = ROLES[fw]
    if kind == "reserve" and held.unreserved().cpus >= 1 and held.unreserved().mem >= 32:
        consumed = Resources.parse("cpus:1;mem:32").allocate(role)
        converted = Resources.parse(f"cpus({role}):1;mem({role}):32").allocate(role)
    elif kind == "unreserve" and held.unallocated().reserved(role):
        consumed = held.unallocated().reserved(role).allocate(role)
        converted = consumed.unallocated().pop_reservation().allocate(role)
    else:
        return held
    allocator.update_allocation(agent, fw, consumed, converted)
    return held - consumed + converted


@pytest.mark.parametrize("seed", range(40))
def test_converted_resources_are_offered_again_once_filters_expire(seed: int) -> None:
    rng = random.Random(seed)
    now = [0.0]
    allocator = Allocator(clock=lambda: now[0], seed=seed)
    for agent in AGENTS:
        allocator.add_agent(agent, Resources.parse("cpus:4;mem:4096;disk:1000"))
    for fw, role in ROLES.items():
        allocator.add_framework(fw, [role])
    offers = []
    for _ in range(200):
        now[0] += rng.choice([0.0, 0.1, 0.5, 1.0, 3.0])
        offers += allocator.allocate(None if rng.random() < 0.5 else [rng.choice(AGENTS)])
        if not offers:
            continue
        offer = offers.pop(rng.randrange(len(offers)))
        kind = rng.choice(["decline", "reserve", "unreserve"])
        held = _convert(allocator, offer.agent_id, offer.framework_id, offer.resources, kind)
        refuse = rng.choice([0.0, 0.5, 1.0, 5.0])
        allocator.recover(offer.agent_id, offer.framework_id, held, refuse_seconds=refuse)
        offers += allocator.allocate([offer.agent_id])  # the master's request_allocation
    for offer in offers:
        allocator.recover(offer.agent_id, offer.framework_id, offer.resources)
    now[0] += 10.0  # past every filter
    offered = {agent: Resources() for agent in AGENTS}
    for allocation in allocator.allocate(None):
        offered[allocation.agent_id] += allocation.resources.unallocated()
    for agent in AGENTS:
        # no task holds anything: the whole agent, reservations and all, is offered
        assert offered[agent] == allocator.total(agent), f"{agent}: {offered[agent]}"
