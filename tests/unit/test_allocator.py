"""The hierarchical DRF allocator: fairness, reservations, filters, suppression and the
invariant that resources are never offered twice nor oversubscribed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from mesos_runtime.master.allocator import Allocation, Allocator
from mesos_runtime.wire.resources import Reservation, Resources

AGENT = "cpus:4;mem:4096;disk:10000;ports:[31000-31999]"


class FakeClock:
    """A clock the test moves by hand (the allocator takes any callable)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cluster(agents: int = 4, resources: str = AGENT, **kwargs: object) -> Allocator:
    allocator = Allocator(seed=7, **kwargs)  # type: ignore[arg-type]
    for i in range(agents):
        allocator.add_agent(f"agent-{i}", Resources.parse(resources))
    return allocator


def per_framework(allocations: list[Allocation]) -> Counter[str]:
    return Counter(a.framework_id for a in allocations)


def assert_consistent(allocator: Allocator, agent_ids: list[str]) -> None:
    for agent_id in agent_ids:
        used = Resources()
        for held in allocator.allocated(agent_id).values():
            assert held.allocation_roles(), "allocated resources carry allocation_info"
            used = used + held.unallocated()
        assert allocator.available(agent_id) + used == allocator.total(agent_id)


# --- fairness --------------------------------------------------------------------------------


def test_two_frameworks_in_one_role_share_agents_equally() -> None:
    allocator = cluster(agents=10)
    allocator.add_framework("f1", ["web"])
    allocator.add_framework("f2", ["web"])
    assert per_framework(allocator.allocate()) == {"f1": 5, "f2": 5}


def test_two_roles_share_agents_equally() -> None:
    allocator = cluster(agents=10)
    allocator.add_framework("f1", ["a"])
    allocator.add_framework("f2", ["b"])
    allocations = allocator.allocate()
    assert per_framework(allocations) == {"f1": 5, "f2": 5}
    assert allocator.role_shares() == {"a": 0.5, "b": 0.5}


def test_role_weight_gives_a_proportional_share() -> None:
    allocator = cluster(agents=30, role_weights={"heavy": 2.0})
    allocator.add_framework("f1", ["heavy"])
    allocator.add_framework("f2", ["light"])
    counts = per_framework(allocator.allocate())
    assert counts["f1"] == 20
    assert counts["f2"] == 10


def test_lowest_share_role_is_offered_first() -> None:
    allocator = cluster(agents=4)
    allocator.add_framework("big", ["a"])
    allocator.allocate(["agent-0", "agent-1"])  # "big" takes both
    allocator.add_framework("small", ["b"])
    allocations = allocator.allocate(["agent-2", "agent-3"])
    assert per_framework(allocations) == {"small": 2}


def test_each_allocation_carries_everything_available_tagged_with_the_role() -> None:
    allocator = cluster(agents=1)
    allocator.add_framework("f1", ["web"])
    [allocation] = allocator.allocate()
    assert allocation == Allocation("f1", "agent-0", "web", Resources.parse(AGENT).allocate("web"))
    assert hash(allocation) == hash(Allocation("f1", "agent-0", "web", allocation.resources))
    assert not allocator.available("agent-0")
    assert allocator.allocate() == []  # never offered twice


def test_framework_with_two_roles_is_considered_under_each() -> None:
    allocator = cluster(agents=2)
    allocator.add_framework("multi", ["a", "b"])
    allocations = allocator.allocate()
    assert sorted(a.role for a in allocations) == ["a", "b"]


# --- reservations ----------------------------------------------------------------------------


def test_reserved_resources_go_only_to_their_role_in_the_same_cycle() -> None:
    allocator = cluster(agents=1, resources="cpus:2;mem:1024;cpus(db):4;mem(db):2048")
    allocator.add_framework("web", ["analytics"])  # sorts before "db" at equal shares
    allocator.add_framework("db", ["db"])
    allocations = {a.framework_id: a.resources for a in allocator.allocate()}
    assert allocations["web"] == Resources.parse("cpus:2;mem:1024").allocate("analytics")
    assert allocations["db"] == Resources.parse("cpus(db):4;mem(db):2048").allocate("db")
    assert not allocator.available("agent-0")


def test_role_offered_first_gets_its_reservation_and_the_unreserved_resources() -> None:
    allocator = cluster(agents=1, resources="cpus:2;mem:1024;cpus(db):4;mem(db):2048")
    allocator.add_framework("db", ["db"])
    allocator.add_framework("web", ["web"])
    [allocation] = allocator.allocate()
    assert allocation.framework_id == "db"
    assert allocation.resources.cpus == 6


def test_reservation_to_a_role_is_allocatable_to_its_child_roles() -> None:
    allocator = cluster(agents=1, resources="cpus(a):4;mem(a):2048")
    allocator.add_framework("other", ["b"])
    allocator.add_framework("child", ["a/b"])
    [allocation] = allocator.allocate()
    assert allocation.framework_id == "child"
    assert allocation.resources.cpus == 4


def test_reservation_is_not_offered_to_other_roles() -> None:
    allocator = cluster(agents=1, resources="cpus(a):4;mem(a):2048")
    allocator.add_framework("other", ["b"])
    assert allocator.allocate() == []
    assert allocator.available("agent-0") == Resources.parse("cpus(a):4;mem(a):2048")


def test_update_allocation_reserves_allocated_resources() -> None:
    allocator = cluster(agents=1)
    allocator.add_framework("f1", ["db"])
    [offer] = allocator.allocate()
    consumed = Resources.parse("cpus:1;mem:512").allocate("db")
    converted = Resources.parse("cpus:1;mem:512").push_reservation(
        Reservation("DYNAMIC", "db", "ops")
    )
    allocator.update_allocation("agent-0", "f1", consumed, converted)
    assert allocator.total("agent-0").reserved("db").cpus == 1
    assert allocator.total("agent-0").unreserved().cpus == 3
    held = allocator.allocated("agent-0")["f1"]
    assert held.reserved("db").allocation_roles() == {"db"}
    allocator.recover("agent-0", "f1", held)
    assert allocator.available("agent-0") == allocator.total("agent-0")
    allocator.add_framework("f2", ["web"])
    allocator.suppress("f1")
    [web] = allocator.allocate()
    assert web.framework_id == "f2"
    assert web.resources.cpus == 3  # the reservation stays with role db
    assert_consistent(allocator, ["agent-0"])
    assert offer.resources.cpus == 4


def test_update_allocation_rejects_resources_the_framework_does_not_hold() -> None:
    allocator = cluster(agents=1)
    allocator.add_framework("f1", ["db"])
    allocator.allocate()
    with pytest.raises(ValueError, match="not part of"):
        allocator.update_allocation(
            "agent-0", "f1", Resources.parse("cpus:99"), Resources.parse("cpus(db):99")
        )


# --- suppression, filters, activity ----------------------------------------------------------


def test_suppressed_framework_gets_nothing_until_revived() -> None:
    allocator = cluster(agents=2)
    allocator.add_framework("f1", ["web"], suppressed_roles=["web"])
    assert allocator.allocate() == []
    allocator.revive("f1")
    assert per_framework(allocator.allocate()) == {"f1": 2}


def test_suppress_leaves_resources_to_other_frameworks() -> None:
    allocator = cluster(agents=2)
    allocator.add_framework("f1", ["web"])
    allocator.add_framework("f2", ["web"])
    allocator.suppress("f1")
    assert per_framework(allocator.allocate()) == {"f2": 2}


def test_declined_resources_are_filtered_until_the_filter_expires() -> None:
    clock = FakeClock()
    allocator = cluster(agents=1, clock=clock)
    allocator.add_framework("f1", ["web"])
    [offer] = allocator.allocate()
    allocator.recover("agent-0", "f1", offer.resources, refuse_seconds=5)
    assert allocator.allocate() == []
    clock.now += 4.9
    assert allocator.allocate() == []
    clock.now += 0.2
    assert per_framework(allocator.allocate()) == {"f1": 1}


def test_filter_refuses_only_what_was_declined() -> None:
    clock = FakeClock()
    allocator = cluster(agents=1, clock=clock)
    allocator.add_framework("f1", ["web"])
    [offer] = allocator.allocate()
    part = Resources.parse("cpus:1;mem:1024").allocate("web")
    allocator.recover("agent-0", "f1", part, refuse_seconds=60)
    assert allocator.allocate() == []  # cpus:1;mem:1024 is inside what was refused
    allocator.recover("agent-0", "f1", offer.resources - part)  # more than was refused
    [again] = allocator.allocate()
    assert again.resources == offer.resources


def test_filter_of_one_framework_does_not_affect_another() -> None:
    clock = FakeClock()
    allocator = cluster(agents=1, clock=clock)
    allocator.add_framework("f1", ["web"])
    [offer] = allocator.allocate()
    allocator.add_framework("f2", ["web"])
    allocator.recover("agent-0", "f1", offer.resources, refuse_seconds=60)
    assert per_framework(allocator.allocate()) == {"f2": 1}


def test_revive_clears_filters() -> None:
    clock = FakeClock()
    allocator = cluster(agents=1, clock=clock)
    allocator.add_framework("f1", ["web"])
    [offer] = allocator.allocate()
    allocator.recover("agent-0", "f1", offer.resources, refuse_seconds=3600)
    assert allocator.allocate() == []
    allocator.revive("f1")
    assert per_framework(allocator.allocate()) == {"f1": 1}


def test_deactivated_framework_gets_nothing_and_keeps_its_allocations() -> None:
    allocator = cluster(agents=2)
    allocator.add_framework("f1", ["web"])
    allocator.allocate(["agent-0"])
    allocator.deactivate_framework("f1")
    assert allocator.allocate() == []
    assert "f1" in allocator.allocated("agent-0")
    allocator.activate_framework("f1")
    assert [a.agent_id for a in allocator.allocate()] == ["agent-1"]


def test_deactivated_agent_is_not_offered() -> None:
    allocator = cluster(agents=2)
    allocator.add_framework("f1", ["web"])
    allocator.deactivate_agent("agent-0")
    assert [a.agent_id for a in allocator.allocate()] == ["agent-1"]
    allocator.activate_agent("agent-0")
    assert [a.agent_id for a in allocator.allocate()] == ["agent-0"]


def test_removed_framework_returns_its_resources() -> None:
    allocator = cluster(agents=2)
    allocator.add_framework("f1", ["web"])
    allocator.allocate()
    allocator.remove_framework("f1")
    assert allocator.available("agent-0") == allocator.total("agent-0")
    assert allocator.allocated("agent-0") == {}
    allocator.add_framework("f2", ["web"])
    assert per_framework(allocator.allocate()) == {"f2": 2}


def test_decline_under_one_role_does_not_filter_the_other_role() -> None:
    clock = FakeClock()
    allocator = cluster(agents=1, clock=clock)
    allocator.add_framework("multi", ["a", "b"])
    [offer] = allocator.allocate()
    allocator.recover("agent-0", "multi", offer.resources, refuse_seconds=3600)
    [again] = allocator.allocate()
    assert again.role != offer.role


def test_set_weight_changes_who_is_offered_first() -> None:
    allocator = cluster(agents=4)
    allocator.add_framework("f1", ["a"])
    allocator.add_framework("f2", ["b"])
    allocator.allocate(["agent-0", "agent-1"])  # one each: equal shares
    allocator.set_weight("b", 3.0)
    [allocation] = allocator.allocate(["agent-2"])
    assert allocation.framework_id == "f2"
    assert allocator.role_shares()["b"] == pytest.approx(0.5 / 3)


def test_crumbs_are_not_offered() -> None:
    allocator = cluster(agents=1, resources="cpus:0.005;mem:16;disk:100")
    allocator.add_framework("f1", ["web"])
    assert allocator.allocate() == []


def test_small_but_usable_remainder_is_offered() -> None:
    allocator = cluster(agents=1, resources="cpus:0.5;mem:16")
    allocator.add_framework("f1", ["web"])
    assert per_framework(allocator.allocate()) == {"f1": 1}


def test_agent_re_registering_with_running_tasks_offers_only_the_rest() -> None:
    allocator = Allocator(seed=1)
    allocator.add_framework("f1", ["web"])
    used = Resources.parse("cpus:1;mem:1024")
    allocator.add_agent("agent-0", Resources.parse(AGENT), allocated={"f1": used})
    assert allocator.allocated("agent-0") == {"f1": used.allocate("web")}
    [offer] = allocator.allocate()
    assert offer.resources.cpus == 3
    allocator.recover("agent-0", "f1", used)  # a finished task, without allocation_info
    assert allocator.available("agent-0") == used
    assert_consistent(allocator, ["agent-0"])


def test_recovered_agents_are_allocated_in_one_batch() -> None:
    allocator = cluster(agents=3)
    allocator.add_framework("f1", ["web"])
    allocator.allocate()
    for agent_id in ("agent-0", "agent-2"):
        allocator.recover(agent_id, "f1", allocator.allocated(agent_id)["f1"])
    allocations = allocator.allocate(["agent-0", "agent-2"])
    assert sorted(a.agent_id for a in allocations) == ["agent-0", "agent-2"]


def test_removed_agent_leaves_the_shares() -> None:
    allocator = cluster(agents=2)
    allocator.add_framework("f1", ["web"])
    allocator.allocate(["agent-0"])
    assert allocator.role_shares() == {"web": 0.5}
    allocator.remove_agent("agent-0")
    assert allocator.role_shares() == {"web": 0.0}
    assert allocator.allocated("agent-0") == {}


# --- property: random operation sequences keep the invariants --------------------------------

ROLES = ["a", "b", "a/x"]
AGENT_SHAPES = [
    "cpus:4;mem:4096;disk:1000;ports:[31000-31009]",
    "cpus:2;mem:1024;cpus(a):2;mem(a):1024;ports(a):[100-104]",
    "cpus:1;mem:64;gpus:1;disk(b):500",
    "cpus:0.005;mem:8",
]


@dataclass
class ModelFilter:
    agent_id: str
    framework_id: str
    role: str | None
    refused: Resources
    expires: float


@settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
class AllocatorMachine(RuleBasedStateMachine):
    """Drives the allocator through random operations, like a master would, against a
    model of what each framework holds, may be offered and has declined."""

    @initialize(seed=st.integers(0, 1000))
    def start(self, seed: int) -> None:
        self.clock = FakeClock()
        self.allocator = Allocator(seed=seed, clock=self.clock, role_weights={"b": 2.0})
        self.agents: dict[str, bool] = {}  # agent -> active
        self.frameworks: dict[str, list[str]] = {}  # framework -> roles
        self.inactive: set[str] = set()
        self.suppressed: set[str] = set()
        self.filters: list[ModelFilter] = []
        self.counter = 0
        self.offered: dict[tuple[str, str], Resources] = {}  # (agent, framework) -> held

    def _new(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    @rule(shape=st.sampled_from(AGENT_SHAPES))
    def add_agent(self, shape: str) -> None:
        agent_id = self._new("agent")
        self.allocator.add_agent(agent_id, Resources.parse(shape))
        self.agents[agent_id] = True

    @precondition(lambda self: self.agents)
    @rule(data=st.data())
    def remove_agent(self, data: st.DataObject) -> None:
        agent_id = data.draw(st.sampled_from(sorted(self.agents)))
        self.allocator.remove_agent(agent_id)
        del self.agents[agent_id]
        self.offered = {k: v for k, v in self.offered.items() if k[0] != agent_id}
        self.filters = [f for f in self.filters if f.agent_id != agent_id]

    @precondition(lambda self: self.agents)
    @rule(data=st.data())
    def toggle_agent(self, data: st.DataObject) -> None:
        agent_id = data.draw(st.sampled_from(sorted(self.agents)))
        if self.agents[agent_id]:
            self.allocator.deactivate_agent(agent_id)
        else:
            self.allocator.activate_agent(agent_id)
        self.agents[agent_id] = not self.agents[agent_id]

    @rule(
        roles=st.lists(st.sampled_from(ROLES), min_size=1, max_size=2, unique=True),
        active=st.booleans(),
    )
    def add_framework(self, roles: list[str], active: bool) -> None:
        framework_id = self._new("framework")
        self.allocator.add_framework(framework_id, roles, active=active)
        self.frameworks[framework_id] = roles
        if not active:
            self.inactive.add(framework_id)

    @precondition(lambda self: self.frameworks)
    @rule(data=st.data())
    def remove_framework(self, data: st.DataObject) -> None:
        framework_id = data.draw(st.sampled_from(sorted(self.frameworks)))
        self.allocator.remove_framework(framework_id)
        del self.frameworks[framework_id]
        self.offered = {k: v for k, v in self.offered.items() if k[1] != framework_id}
        self.filters = [f for f in self.filters if f.framework_id != framework_id]

    @precondition(lambda self: self.frameworks)
    @rule(data=st.data(), action=st.sampled_from(["suppress", "revive", "deactivate", "activate"]))
    def change_framework(self, data: st.DataObject, action: str) -> None:
        framework_id = data.draw(st.sampled_from(sorted(self.frameworks)))
        if action == "suppress":
            self.allocator.suppress(framework_id)
            self.suppressed.add(framework_id)
        elif action == "revive":
            self.allocator.revive(framework_id)
            self.suppressed.discard(framework_id)
            self.filters = [f for f in self.filters if f.framework_id != framework_id]
        elif action == "deactivate":
            self.allocator.deactivate_framework(framework_id)
            self.inactive.add(framework_id)
        else:
            self.allocator.activate_framework(framework_id)
            self.inactive.discard(framework_id)

    @rule(all_agents=st.booleans())
    def allocate(self, all_agents: bool) -> None:
        before = {a: self.allocator.available(a) for a in self.agents}
        targets = None if all_agents else sorted(self.agents)[::2]
        allocations = self.allocator.allocate(targets)
        given: dict[str, Resources] = {}
        for allocation in allocations:
            assert self.agents[allocation.agent_id], "an inactive agent was offered"
            assert allocation.framework_id not in self.inactive | self.suppressed
            assert allocation.resources.allocation_roles() == {allocation.role}
            plain = allocation.resources.unallocated()
            assert plain.cpus >= 0.01 or plain.mem >= 32, "crumbs were offered"
            assert (
                self._refusing(allocation.agent_id, allocation.framework_id, allocation.role, plain)
                is None
            ), "offered through a filter"
            offered_on_agent = given.get(allocation.agent_id, Resources())
            # nothing offered twice, and only what was available before the cycle
            assert before[allocation.agent_id].contains(offered_on_agent + plain)
            given[allocation.agent_id] = offered_on_agent + plain
            key = (allocation.agent_id, allocation.framework_id)
            self.offered[key] = self.offered.get(key, Resources()) + allocation.resources
        for agent_id, plain in given.items():
            assert self.allocator.available(agent_id) == before[agent_id] - plain
        if all_agents:
            self._nothing_offerable_left()

    def _refusing(
        self, agent_id: str, framework_id: str, role: str, offerable: Resources
    ) -> ModelFilter | None:
        for f in self.filters:
            if (
                f.agent_id == agent_id
                and f.framework_id == framework_id
                and f.role in (None, role)
                and f.expires > self.clock.now
                and f.refused.contains(offerable)
            ):
                return f
        return None

    def _nothing_offerable_left(self) -> None:
        """After a full cycle no eligible framework could still be offered anything."""
        for agent_id, active in self.agents.items():
            if not active:
                continue
            available = self.allocator.available(agent_id)
            for framework_id, roles in self.frameworks.items():
                if framework_id in self.inactive | self.suppressed:
                    continue
                for role in roles:
                    offerable = available.allocatable_to(role)
                    if offerable.cpus < 0.01 and offerable.mem < 32:
                        continue
                    assert self._refusing(agent_id, framework_id, role, offerable), (
                        f"{offerable} on {agent_id} left unoffered to {framework_id} ({role})"
                    )

    @precondition(lambda self: self.offered)
    @rule(
        data=st.data(),
        whole=st.booleans(),
        refuse=st.sampled_from([None, 0.0, 5.0, 3600.0]),
    )
    def recover(self, data: st.DataObject, whole: bool, refuse: float | None) -> None:
        key = data.draw(st.sampled_from(sorted(self.offered)))
        held = self.offered[key]
        part = held if whole else held - held.filter(lambda k: k.name != "cpus")
        self.allocator.recover(key[0], key[1], part, refuse_seconds=refuse)
        if refuse and part:
            roles = part.allocation_roles()
            role = next(iter(roles)) if len(roles) == 1 else None
            self.filters.append(
                ModelFilter(key[0], key[1], role, part.unallocated(), self.clock.now + refuse)
            )
        left = held - part
        if left:
            self.offered[key] = left
        else:
            del self.offered[key]

    @precondition(lambda self: self.offered)
    @rule(data=st.data())
    def reserve(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.offered)))
        held = self.offered[key]
        role = sorted(held.allocation_roles())[0]
        consumed = held.filter(
            lambda k: k.allocation_role == role and not k.reservations and k.name == "cpus"
        )
        if not consumed:
            return
        converted = (
            consumed.unallocated()
            .push_reservation(Reservation("DYNAMIC", role, "ops"))
            .allocate(role)
        )
        self.allocator.update_allocation(key[0], key[1], consumed, converted)
        self.offered[key] = held - consumed + converted

    @rule(seconds=st.sampled_from([1.0, 10.0, 7200.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.now += seconds

    @invariant()
    def available_plus_allocated_is_total(self) -> None:
        if not hasattr(self, "allocator"):
            return
        assert_consistent(self.allocator, list(self.agents))
        for agent_id in self.agents:
            held = self.allocator.allocated(agent_id)
            assert held == {f: r for (a, f), r in self.offered.items() if a == agent_id and r}, (
                "the allocator's allocations are exactly what it handed out, minus recovered"
            )

    @invariant()
    def shares_stay_between_zero_and_one(self) -> None:
        if not hasattr(self, "allocator"):
            return
        for share in self.allocator.framework_shares().values():
            assert 0.0 <= share <= 1.0 + 1e-9


TestAllocatorOperations = AllocatorMachine.TestCase
