"""The hierarchical DRF allocator: which framework is offered which agent's resources.

It owns every agent's total, available and per-framework allocated resources, the
weighted dominant shares of roles and frameworks, and offer filters. It is pure: the
master tells it what happened and asks it for allocations.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from mesos_runtime.wire.resources import Key, Resources

from .drf import (
    ShareOrder,
    Vector,
    add_fast,
    add_into,
    dominant_share,
    inverse,
    is_zero,
    share,
    vector,
    vectors_by_role,
    zero,
)

_EMPTY = Resources()

# A quiet agent is re-checked against at most this many newly eligible frameworks;
# beyond that a full pass over every framework is as cheap.
_MAX_RECHECK = 32


@dataclass(frozen=True, slots=True)
class Allocation:
    """Resources of one agent allocated to one framework under one of its roles."""

    framework_id: str
    agent_id: str
    role: str
    resources: Resources  # carries allocation_info role (Resources.allocate(role))


def _allocation_maker() -> Callable[[str, str, str, Resources], Allocation]:
    """Build Allocations through their slots: the frozen dataclass __init__ (one
    object.__setattr__ per field) costs twice as much, once per agent per cycle."""
    new = Allocation.__new__
    set_framework = Allocation.framework_id.__set__  # type: ignore[attr-defined,misc]
    set_agent = Allocation.agent_id.__set__  # type: ignore[attr-defined,misc]
    set_role = Allocation.role.__set__  # type: ignore[attr-defined,misc]
    set_resources = Allocation.resources.__set__  # type: ignore[attr-defined,misc]

    def make(framework_id: str, agent_id: str, role: str, resources: Resources) -> Allocation:
        allocation = new(Allocation)
        set_framework(allocation, framework_id)
        set_agent(allocation, agent_id)
        set_role(allocation, role)
        set_resources(allocation, resources)
        return allocation

    return make


_new_allocation = _allocation_maker()


# --- internal records ----------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Framework:
    id: str
    roles: set[str]
    suppressed: set[str]
    active: bool
    alloc: dict[str, Vector] = field(default_factory=dict)  # role -> quantities held
    filtered_agents: set[str] = field(default_factory=set)  # agents it has filters on


@dataclass(slots=True, eq=False)
class _Role:
    name: str
    weight: float
    alloc: Vector = field(default_factory=zero)
    frameworks: ShareOrder[_Framework] = field(default_factory=ShareOrder)  # subscribed


@dataclass(slots=True, eq=False)
class _Offer:
    """What an agent's current available resources would give one role: cached per agent
    and role until the available resources change, so a cycle does no arithmetic twice."""

    role: str
    offerable: Resources  # unallocated
    vec: Vector
    allocatable: bool  # not crumbs
    tagged_cache: Resources | None = None

    def tagged(self) -> Resources:
        """What is offered: `offerable` carrying the role's allocation_info."""
        if self.tagged_cache is None:
            self.tagged_cache = self.offerable.allocate(self.role)
        return self.tagged_cache


@dataclass(slots=True, eq=False)
class _Filter:
    role: str | None  # None: refuses for every role of the framework
    refused: Resources  # unallocated
    expires: float
    covers: Resources | None = None  # last offerable found inside `refused` (identity cache)


@dataclass(slots=True, eq=False)
class _Shape:
    """Agents with equal totals share one: the same total object and the offers an idle
    agent of that shape makes to each role, computed once for all of them."""

    total: Resources
    offers: dict[str, _Offer] = field(default_factory=dict)
    agents: int = 0


@dataclass(slots=True, eq=False)
class _Agent:
    id: str
    shape: _Shape
    total: Resources  # shape.total
    available: Resources
    allocated: dict[str, Resources] = field(default_factory=dict)  # framework -> tagged
    active: bool = True
    # Offers of an idle agent (available is total) live in its shape and survive a
    # recover-everything; those of a partly used agent last until `available` changes.
    busy_offers: dict[str, _Offer] = field(default_factory=dict)
    busy_for: Resources | None = None
    # (available, epoch, until): the last cycle could allocate nothing more here; while
    # none of these changed, no later cycle can either.
    quiet: tuple[Resources, int, float] | None = None

    def offer(self, role: str, min_cpus: float, min_mem: float) -> _Offer:
        available = self.available
        if available is self.total:
            cache = self.shape.offers
        else:
            if self.busy_for is not available:
                self.busy_offers = {}
                self.busy_for = available
            cache = self.busy_offers
        offer = cache.get(role)
        if offer is None:
            offerable = _allocatable_to(available, role)
            vec = vector(offerable)
            allocatable = (vec[0] > 0.0 and vec[0] >= min_cpus) or (
                vec[1] > 0.0 and vec[1] >= min_mem
            )
            offer = cache[role] = _Offer(role, offerable, vec, allocatable)
        return offer


# --- the allocator ---------------------------------------------------------------------------


class Allocator:
    """Mesos' hierarchical allocator: roles by weighted dominant share, then frameworks
    within a role by theirs; each agent's available resources go to the first eligible
    framework, and what is reserved to other roles goes on to those roles."""

    def __init__(
        self,
        *,
        role_weights: Mapping[str, float] | None = None,
        min_allocatable_cpus: float = 0.01,
        min_allocatable_mem: float = 32.0,
        clock: Callable[[], float] = time.monotonic,
        seed: int | None = None,
    ) -> None:
        self._weights: dict[str, float] = {}
        for role, weight in (role_weights or {}).items():
            self._weights[role] = _checked_weight(role, weight)
        self._min_cpus = min_allocatable_cpus
        self._min_mem = min_allocatable_mem
        self._clock = clock
        self._rng = random.Random(seed)
        self._agents: dict[str, _Agent] = {}
        self._frameworks: dict[str, _Framework] = {}
        self._roles: dict[str, _Role] = {}
        self._role_order: ShareOrder[_Role] = ShareOrder()
        self._cluster: Vector = zero()  # DRF denominator: sum of agents' totals
        self._inverse: Vector = zero()  # 1/self._cluster, for four-product shares
        self._shapes: dict[Resources, _Shape] = {}
        self._cluster_total: Resources | None = None  # lazily summed for introspection
        self._stale = False  # totals changed: every share must be recomputed
        # Offer filters indexed by agent, then framework; expiry in a heap.
        self._filters: dict[str, dict[str, list[_Filter]]] = {}
        self._expiry: list[tuple[float, int, str, str, _Filter]] = []
        self._filter_seq = 0
        # Frameworks that may have become eligible for more than before (subscribed,
        # activated, revived), in order. An agent left quiet at epoch e is re-checked
        # only against those logged since e; the log is cut when it grows long, and an
        # agent quiet since before the cut is checked in full.
        self._eligible_log: list[_Framework] = []
        self._log_base = 0

    # --- frameworks ------------------------------------------------------------------------

    def add_framework(
        self,
        framework_id: str,
        roles: Iterable[str],
        suppressed_roles: Iterable[str] = (),
        active: bool = True,
    ) -> None:
        fw = self._frameworks.get(framework_id)
        if fw is None:
            fw = self._frameworks[framework_id] = _Framework(framework_id, set(), set(), active)
        fw.active = active
        self.update_framework(framework_id, roles, suppressed_roles)

    def update_framework(
        self, framework_id: str, roles: Iterable[str], suppressed_roles: Iterable[str] = ()
    ) -> None:
        fw = self._frameworks.get(framework_id)
        if fw is None:
            self.add_framework(framework_id, roles, suppressed_roles)
            return
        new_roles = set(roles)
        for role in fw.roles - new_roles:
            self._roles[role].frameworks.discard(framework_id)
            self._maybe_drop_role(role)
        fw.roles, old_roles = new_roles, fw.roles
        for role in new_roles - old_roles:
            self._role(role)
            self._reposition(fw, role)
        fw.suppressed = set(suppressed_roles) & new_roles
        self._became_eligible(fw)

    def activate_framework(self, framework_id: str) -> None:
        fw = self._frameworks.get(framework_id)
        if fw is not None:
            fw.active = True
            self._became_eligible(fw)

    def deactivate_framework(self, framework_id: str) -> None:
        fw = self._frameworks.get(framework_id)
        if fw is not None:
            fw.active = False

    def remove_framework(self, framework_id: str) -> None:
        fw = self._frameworks.get(framework_id)
        if fw is None:
            return
        # A scan, not an index: removal is rare and an index would cost every grant.
        for agent in self._agents.values():
            held = agent.allocated.get(framework_id)
            if held is not None:
                self._release(agent, fw, held, held)
        for agent_id in fw.filtered_agents:
            by_framework = self._filters.get(agent_id)
            if by_framework is not None:
                by_framework.pop(framework_id, None)
                if not by_framework:
                    del self._filters[agent_id]
        for role in fw.roles:
            self._roles[role].frameworks.discard(framework_id)
        del self._frameworks[framework_id]
        for role in fw.roles | set(fw.alloc):
            self._maybe_drop_role(role)

    # --- agents ----------------------------------------------------------------------------

    def add_agent(
        self,
        agent_id: str,
        total: Resources,
        allocated: Mapping[str, Resources] | None = None,
    ) -> None:
        """A registered agent; `allocated` is what each framework's running tasks and
        executors use (re-registration), with or without allocation_info. A framework
        not known yet is accounted for anyway, inactive, until add_framework."""
        if agent_id in self._agents:
            self.remove_agent(agent_id)  # re-added: start from what it reports now
        shape = self._shape_of(_unallocated(total))
        total = shape.total
        agent = self._agents[agent_id] = _Agent(agent_id, shape, total, total)
        used = _EMPTY
        for framework_id, resources in (allocated or {}).items():
            if not resources:
                continue
            fw = self._frameworks.get(framework_id)
            if fw is None:
                # Its tasks run but it has not re-subscribed yet: account for them anyway.
                fw = self._frameworks[framework_id] = _Framework(framework_id, set(), set(), False)
            tagged = self._tag(fw, resources)
            held = agent.allocated.get(framework_id)
            agent.allocated[framework_id] = tagged if held is None else held + tagged
            used = used + _unallocated(tagged)
            for role, vec in vectors_by_role(tagged).items():
                self._charge(fw, role or "*", vec, 1.0)
        if agent.allocated:
            agent.available = total - used or _EMPTY
        add_into(self._cluster, vector(total))
        self._totals_changed()

    def activate_agent(self, agent_id: str) -> None:
        agent = self._agents.get(agent_id)
        if agent is not None:
            agent.active = True

    def deactivate_agent(self, agent_id: str) -> None:
        agent = self._agents.get(agent_id)
        if agent is not None:
            agent.active = False

    def remove_agent(self, agent_id: str) -> None:
        agent = self._agents.pop(agent_id, None)
        if agent is None:
            return
        for framework_id, held in agent.allocated.items():
            fw = self._frameworks[framework_id]
            for role, vec in vectors_by_role(held).items():
                self._charge(fw, role or "*", vec, -1.0)
        for framework_id in self._filters.pop(agent_id, {}):
            self._frameworks[framework_id].filtered_agents.discard(agent_id)
        add_into(self._cluster, vector(agent.total), -1.0)
        self._set_shape(agent, None)
        self._totals_changed()

    # --- resources flowing back and changing shape ------------------------------------------

    def recover(
        self,
        agent_id: str,
        framework_id: str,
        resources: Resources,
        refuse_seconds: float | None = None,
    ) -> None:
        """Resources back from a framework (declined, rescinded, a task finished) and,
        with refuse_seconds > 0, an offer filter for them on that agent. What the
        framework does not hold is ignored (the filter is installed all the same)."""
        agent = self._agents.get(agent_id)
        fw = self._frameworks.get(framework_id)
        if agent is None or fw is None:
            return
        held = agent.allocated.get(framework_id)
        if held is not None and resources:
            part = held if resources is held else _held_part(held, resources)
            if part:
                self._release(agent, fw, held, part)
        if refuse_seconds is not None and refuse_seconds > 0 and resources:
            roles = resources.allocation_roles()
            role = next(iter(roles)) if len(roles) == 1 else None
            # A declined idle-agent offer is the shape's cached object: refuse exactly
            # that offer's resources, so the filter is later matched by identity.
            offer = agent.shape.offers.get(role) if role is not None else None
            if offer is not None and offer.tagged_cache is resources:
                refused = offer.offerable
            else:
                refused = _unallocated(resources)
            self._add_filter(agent_id, fw, role, refused, refuse_seconds)

    def update_allocation(
        self, agent_id: str, framework_id: str, consumed: Resources, converted: Resources
    ) -> None:
        """RESERVE/UNRESERVE/CREATE/DESTROY on allocated resources: `consumed` (held by
        the framework; ValueError otherwise) becomes `converted`, in the agent's total too.
        Untagged `converted` takes the allocation role of `consumed`."""
        agent = self._agents.get(agent_id)
        fw = self._frameworks.get(framework_id)
        held = agent.allocated.get(framework_id) if agent is not None else None
        if agent is None or fw is None or held is None:
            raise ValueError(f"framework {framework_id} holds nothing on agent {agent_id}")
        part = _held_part(held, consumed)
        if _unallocated(part) != _unallocated(consumed):
            raise ValueError(
                f"{consumed} is not part of what framework {framework_id} holds on "
                f"agent {agent_id} ({held})"
            )
        roles = part.allocation_roles()
        if converted.allocation_roles() or len(roles) != 1:
            converted = self._tag(fw, converted)
        else:
            converted = _unallocated(converted).allocate(next(iter(roles)))
        remaining = held - part
        agent.allocated[framework_id] = remaining + converted if remaining else converted
        self._set_shape(agent, agent.total - _unallocated(part) + _unallocated(converted))
        for role, vec in vectors_by_role(part).items():
            self._charge(fw, role or "*", vec, -1.0)
        for role, vec in vectors_by_role(converted).items():
            self._charge(fw, role or "*", vec, 1.0)
        before, after = vector(part), vector(converted)
        if before != after:
            add_into(self._cluster, before, -1.0)
            add_into(self._cluster, after)
            self._totals_changed()
        self._cluster_total = None

    def suppress(self, framework_id: str, roles: Iterable[str] | None = None) -> None:
        fw = self._frameworks.get(framework_id)
        if fw is not None:
            fw.suppressed |= fw.roles if roles is None else set(roles) & fw.roles

    def revive(self, framework_id: str, roles: Iterable[str] | None = None) -> None:
        fw = self._frameworks.get(framework_id)
        if fw is None:
            return
        which = None if roles is None else set(roles)
        fw.suppressed -= fw.roles if which is None else which
        for agent_id in list(fw.filtered_agents):
            by_framework = self._filters[agent_id]
            kept = [
                f
                for f in by_framework[framework_id]
                if which is not None and f.role is not None and f.role not in which
            ]
            if kept:
                by_framework[framework_id] = kept
                continue
            del by_framework[framework_id]
            if not by_framework:
                del self._filters[agent_id]
            fw.filtered_agents.discard(agent_id)
        self._became_eligible(fw)

    def set_weight(self, role: str, weight: float) -> None:
        self._weights[role] = _checked_weight(role, weight)
        node = self._roles.get(role)
        if node is not None:
            node.weight = self._weights[role]
            self._role_order.set(role, share(node.alloc, self._inverse) / node.weight, node)

    # --- cycles ----------------------------------------------------------------------------

    def allocate(self, agent_ids: Iterable[str] | None = None) -> list[Allocation]:
        """One cycle over `agent_ids` (None: every agent) in random order. What is
        returned is recorded as allocated."""
        now = self._clock()
        self._expire_filters(now)
        if self._stale:
            self._rebuild_orders()
        if agent_ids is None:
            order = list(self._agents.values())
        else:
            order = [self._agents[a] for a in dict.fromkeys(agent_ids) if a in self._agents]
        self._rng.shuffle(order)  # no agent is always first in line
        out: list[Allocation] = []
        epoch, base, log = self._epoch, self._log_base, self._eligible_log
        # Newcomers by the epoch agents went quiet at; valid until the next grant moves
        # a share (keyed by how many allocations the cycle has made so far).
        newcomers: dict[int, tuple[int, dict[str, list[tuple[float, str, _Framework]]]]] = {}
        for agent in order:
            available = agent.available
            if available is _EMPTY or not agent.active:
                continue
            quiet = agent.quiet
            if quiet is not None and quiet[0] is available and now < quiet[2]:
                since = quiet[1]
                if since == epoch:
                    continue  # nothing offerable here has changed since it went quiet
                if since >= base and epoch - since <= _MAX_RECHECK:
                    cached = newcomers.get(since)
                    if cached is None or cached[0] != len(out):
                        cached = newcomers[since] = (len(out), self._newcomers(log[since - base :]))
                    self._allocate_agent(agent, now, out, cached[1], quiet[2])
                    continue
            self._allocate_agent(agent, now, out)
        return out

    def _allocate_agent(
        self,
        agent: _Agent,
        now: float,
        out: list[Allocation],
        only: dict[str, list[tuple[float, str, _Framework]]] | None = None,
        blocked_until: float = math.inf,
    ) -> None:
        """Offer one agent's available resources, roles and frameworks in share order
        (`only`: just these frameworks per role, the others being known to want none).

        The hot path of a cycle: cached offers, no resource arithmetic for an idle agent.
        Shares are repositioned once the agent is done, so the orders are not changed
        while iterated (an agent goes to a role at most once anyway).
        """
        filters = self._filters.get(agent.id) if self._filters else None
        granted: list[tuple[_Framework, _Role, Vector]] | None = None
        available = agent.available
        for _, role, node in self._role_order.entries:
            if only is None:
                entries = node.frameworks.entries
            else:
                found = only.get(role)
                if found is None:
                    continue
                entries = found
            offer: _Offer | None = None
            for _, framework_id, fw in entries:
                if not fw.active or role in fw.suppressed:
                    continue
                if offer is None:
                    if available is agent.total:
                        offer = agent.shape.offers.get(role)
                    if offer is None:
                        offer = agent.offer(role, self._min_cpus, self._min_mem)
                    if not offer.allocatable:
                        break
                if filters is not None:
                    mine = filters.get(framework_id)
                    if mine:
                        # Inlined common case: the first filter refuses this very offer.
                        flt = mine[0]
                        if (
                            (flt.refused is offer.offerable or flt.covers is offer.offerable)
                            and now < flt.expires
                            and (flt.role is None or flt.role == role)
                        ):
                            until: float | None = flt.expires
                        else:
                            until = _refused_until(mine, role, offer.offerable, now)
                        if until is not None:
                            blocked_until = min(blocked_until, until)
                            continue
                tagged = offer.tagged_cache
                if tagged is None:
                    tagged = offer.tagged()
                held = agent.allocated.get(framework_id)
                agent.allocated[framework_id] = tagged if held is None else held + tagged
                offerable = offer.offerable
                available = _EMPTY if offerable is available else available - offerable or _EMPTY
                agent.available = available
                out.append(_new_allocation(framework_id, agent.id, role, tagged))
                if available is _EMPTY and granted is None:
                    # The usual case: one framework takes the whole agent and both loops
                    # end here, so the orders may be changed right away.
                    self._account(fw, node, offer.vec)
                else:
                    granted = granted or []
                    granted.append((fw, node, offer.vec))
                break
            if available is _EMPTY:
                break
        for fw, node, vec in granted or ():
            self._account(fw, node, vec)
        if available is not _EMPTY:
            # Whatever is left, nobody checked can take: until a filter that refused
            # it expires or a framework becomes eligible for more, skip this agent.
            agent.quiet = (available, self._epoch, blocked_until)

    def _newcomers(
        self, logged: list[_Framework]
    ) -> dict[str, list[tuple[float, str, _Framework]]]:
        """Per role, the logged frameworks still registered, in share order."""
        only: dict[str, list[tuple[float, str, _Framework]]] = {}
        seen: set[str] = set()
        for fw in logged:
            if fw.id in seen or self._frameworks.get(fw.id) is not fw:
                continue
            seen.add(fw.id)
            for role in fw.roles:
                entry = (self._roles[role].frameworks.share(fw.id), fw.id, fw)
                only.setdefault(role, []).append(entry)
        for entries in only.values():
            entries.sort()
        return only

    @property
    def _epoch(self) -> int:
        return self._log_base + len(self._eligible_log)

    def _became_eligible(self, fw: _Framework) -> None:
        if len(self._eligible_log) >= max(_MAX_RECHECK, len(self._frameworks)):
            self._log_base += len(self._eligible_log)
            self._eligible_log = []
        self._eligible_log.append(fw)

    def _account(self, fw: _Framework, node: _Role, vec: Vector) -> None:
        """Charge a grant and reposition that framework and role (drf.add_fast and
        drf.share inlined: this runs once per agent per cycle)."""
        inv = self._inverse
        c, m, d, g = vec
        mine = fw.alloc.get(node.name)
        if mine is None:
            mine = fw.alloc[node.name] = zero()
        mine[0] += c
        mine[1] += m
        mine[2] += d
        mine[3] += g
        ours = node.alloc
        ours[0] += c
        ours[1] += m
        ours[2] += d
        ours[3] += g
        node.frameworks.set(
            fw.id,
            max(mine[0] * inv[0], mine[1] * inv[1], mine[2] * inv[2], mine[3] * inv[3]),
            fw,
        )
        self._role_order.set(
            node.name,
            max(ours[0] * inv[0], ours[1] * inv[1], ours[2] * inv[2], ours[3] * inv[3])
            / node.weight,
            node,
        )

    # --- introspection ---------------------------------------------------------------------

    def total(self, agent_id: str | None = None) -> Resources:
        if agent_id is not None:
            agent = self._agents.get(agent_id)
            return agent.total if agent is not None else _EMPTY
        if self._cluster_total is None:
            total = _EMPTY
            for agent in self._agents.values():
                total = total + agent.total
            self._cluster_total = total
        return self._cluster_total

    def available(self, agent_id: str) -> Resources:
        agent = self._agents.get(agent_id)
        return agent.available if agent is not None else _EMPTY

    def allocated(self, agent_id: str) -> dict[str, Resources]:
        agent = self._agents.get(agent_id)
        return dict(agent.allocated) if agent is not None else {}

    def role_shares(self) -> dict[str, float]:
        if self._stale:
            self._rebuild_orders()
        return {role: self._role_order.share(role) for role in self._role_order}

    def framework_shares(self) -> dict[str, float]:
        out = {}
        for framework_id, fw in self._frameworks.items():
            held = zero()
            for vec in fw.alloc.values():
                add_into(held, vec)
            out[framework_id] = dominant_share(held, self._cluster)
        return out

    # --- bookkeeping -----------------------------------------------------------------------

    def _shape_of(self, total: Resources) -> _Shape:
        # An empty Resources is always _EMPTY, so "nothing available" is an identity test.
        total = total or _EMPTY
        shape = self._shapes.get(total)
        if shape is None:
            shape = self._shapes[total] = _Shape(total)
        shape.agents += 1
        return shape

    def _set_shape(self, agent: _Agent, total: Resources | None) -> None:
        """Move `agent` to the shape of `total` (None: the agent is gone)."""
        old = agent.shape
        old.agents -= 1
        if not old.agents:
            del self._shapes[old.total]
        if total is not None:
            agent.shape = self._shape_of(total)
            agent.total = agent.shape.total

    def _role(self, name: str) -> _Role:
        node = self._roles.get(name)
        if node is None:
            node = self._roles[name] = _Role(name, self._weights.get(name, 1.0))
            self._role_order.set(name, 0.0, node)
        return node

    def _maybe_drop_role(self, name: str) -> None:
        node = self._roles.get(name)
        if node is not None and not node.frameworks and is_zero(node.alloc):
            del self._roles[name]
            self._role_order.discard(name)

    def _charge(self, fw: _Framework, role: str, vec: Vector, sign: float) -> None:
        """Add (or with sign -1 take back) quantities held by `fw` under `role`."""
        held = fw.alloc.get(role)
        if held is None:
            held = fw.alloc[role] = zero()
        node = self._roles.get(role) or self._role(role)
        if sign > 0:
            add_fast(held, vec)
            add_fast(node.alloc, vec)
        else:
            add_into(held, vec, sign)
            add_into(node.alloc, vec, sign)
        self._reposition(fw, role)
        if sign < 0 and is_zero(held) and role not in fw.roles:
            del fw.alloc[role]
            self._maybe_drop_role(role)

    def _reposition(self, fw: _Framework, role: str) -> None:
        node = self._roles[role]
        inv = self._inverse
        if role in fw.roles:
            node.frameworks.set(fw.id, share(fw.alloc.get(role) or zero(), inv), fw)
        self._role_order.set(role, share(node.alloc, inv) / node.weight, node)

    def _totals_changed(self) -> None:
        self._inverse = inverse(self._cluster)
        self._stale = True
        self._cluster_total = None

    def _rebuild_orders(self) -> None:
        inv = self._inverse
        self._role_order.rebuild(lambda node: share(node.alloc, inv) / node.weight)
        for name, node in self._roles.items():
            node.frameworks.rebuild(_share_in(name, inv))
        self._stale = False

    def _release(self, agent: _Agent, fw: _Framework, held: Resources, part: Resources) -> None:
        """Return `part` (tagged, inside `held`) of what `fw` holds on `agent` to the pool."""
        remaining = _EMPTY if part is held else held - part
        if remaining:
            agent.allocated[fw.id] = remaining
        else:
            del agent.allocated[fw.id]
        # An agent nobody uses offers its total again: the same object keeps idle offers.
        agent.available = agent.available + _unallocated(part) if agent.allocated else agent.total
        for role, vec in vectors_by_role(part).items():
            self._charge(fw, role or "*", vec, -1.0)

    def _used(self, agent: _Agent) -> Resources:
        used = _EMPTY
        for held in agent.allocated.values():
            used = used + _unallocated(held)
        return used

    def _tag(self, fw: _Framework, resources: Resources) -> Resources:
        """Give untagged resources an allocation role: the framework's role they are
        allocatable to, else their reservation role, else "*"."""
        roles = sorted(fw.roles)

        def role_for(key: Key) -> str:
            if key.allocation_role is not None:
                return key.allocation_role
            for role in roles:
                if not key.reservations or _is_ancestor_or_self(key.role, role):
                    return role
            return key.role

        out = resources.filter(lambda k: k.allocation_role is not None)
        untagged = resources.filter(lambda k: k.allocation_role is None)
        for role in {role_for(key) for key, _ in untagged}:
            out = out + untagged.filter(_keys_of(role_for, role)).allocate(role)
        return out

    def _add_filter(
        self, agent_id: str, fw: _Framework, role: str | None, refused: Resources, seconds: float
    ) -> None:
        expires = self._clock() + seconds
        flt = _Filter(role, refused, expires)
        self._filters.setdefault(agent_id, {}).setdefault(fw.id, []).append(flt)
        fw.filtered_agents.add(agent_id)
        self._filter_seq += 1
        heapq.heappush(self._expiry, (expires, self._filter_seq, agent_id, fw.id, flt))

    def _expire_filters(self, now: float) -> None:
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            _, _, agent_id, framework_id, flt = heapq.heappop(expiry)
            by_framework = self._filters.get(agent_id)
            mine = by_framework.get(framework_id) if by_framework is not None else None
            if mine is None or flt not in mine:
                continue  # already cleared by revive or a removal
            # No epoch bump: an agent this filter kept quiet is re-checked from its
            # `quiet` deadline, the earliest expiry among the filters that blocked it.
            mine.remove(flt)
            if not mine and by_framework is not None:
                del by_framework[framework_id]
                self._frameworks[framework_id].filtered_agents.discard(agent_id)
                if not by_framework:
                    del self._filters[agent_id]


# --- helpers -------------------------------------------------------------------------------


def _checked_weight(role: str, weight: float) -> float:
    if not weight > 0:
        raise ValueError(f"weight of role {role!r} must be positive, got {weight}")
    return float(weight)


def _is_ancestor_or_self(ancestor: str, role: str) -> bool:
    return ancestor == role or role.startswith(ancestor + "/")


def _allocatable_to(available: Resources, role: str) -> Resources:
    """`available.allocatable_to(role)`, returning `available` itself when all of it is."""
    items = list(available)
    kept = {
        key: value
        for key, value in items
        if not key.reservations or _is_ancestor_or_self(key.reservations[-1].role, role)
    }
    return available if len(kept) == len(items) else Resources(kept)


def _unallocated(resources: Resources) -> Resources:
    return resources.unallocated() if resources.allocation_roles() else resources


def _intersect(have: Resources, want: Resources) -> Resources:
    return have - (have - want)


def _held_part(held: Resources, resources: Resources) -> Resources:
    """The part of `held` (tagged) that `resources` names. Untagged resources are matched
    against each allocation role `held` has; what is not held is ignored."""
    if held.contains(resources):
        return resources
    part = _intersect(held, resources.filter(lambda k: k.allocation_role is not None))
    untagged = resources.filter(lambda k: k.allocation_role is None)
    rest = held - part
    for role in sorted(rest.allocation_roles()):
        if not untagged:
            break
        piece = _intersect(rest, untagged.allocate(role))
        if piece:
            part = part + piece
            untagged = untagged - piece.unallocated()
    return part


def _refused_until(
    filters: list[_Filter], role: str, offerable: Resources, now: float
) -> float | None:
    """When the first filter refusing `offerable` for `role` expires, or None."""
    for flt in filters:
        if flt.expires <= now or (flt.role is not None and flt.role != role):
            continue
        if flt.covers is offerable or flt.refused is offerable:
            return flt.expires
        if flt.refused.contains(offerable):
            flt.covers = offerable
            return flt.expires
    return None


def _share_in(role: str, inverse: Vector) -> Callable[[_Framework], float]:
    """A framework's dominant share in `role` (a closure: one per role, built per rebuild)."""
    return lambda fw: share(fw.alloc.get(role) or zero(), inverse)


def _keys_of(role_for: Callable[[Key], str], role: str) -> Callable[[Key], bool]:
    return lambda key: role_for(key) == role
