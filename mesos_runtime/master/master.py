"""The master: every scheduler, agent and operator action as a method that changes the
in-memory state (state.py), keeps the allocator and the registry in step, and queues the
events that result. The HTTP modules only translate wire calls into these methods.

The calls live by idea, each part built on the one before: core.py (state, ids, events),
offers.py (allocation runs, offers, ACCEPT with the planner in launch.py), machines.py
(maintenance), frameworks.py (scheduler calls), agents.py (agent lifecycle and calls);
`Master` adds recovery from the registry and the background loops.
"""

from __future__ import annotations

import asyncio
import logging

from mesos_runtime.wire.mesos import AgentInfo

from .agents import AgentCalls, AgentRefused
from .core import ip_to_uint32
from .state import Framework, UnreachableAgentState
from .statuses import now

log = logging.getLogger("mesos.master")


class Master(AgentCalls):
    """One master process's view of the cluster (it acts only while leading)."""

    async def recover(self) -> None:
        """Load the registry: frameworks may re-subscribe, admitted agents re-register."""
        doc = await self.registry.recover()
        loop = asyncio.get_running_loop()
        for entry in doc.frameworks:
            info = entry.framework_info
            framework = Framework(
                info=info, registered_time=entry.registered_time, active=False, recovered=True
            )
            framework.unregistered_time = now()
            self.frameworks[framework.id] = framework
            self.allocator.add_framework(framework.id, framework.roles, (), active=False)
            framework.failover_timer = loop.call_later(
                info.failover_timeout or 0.0, self._failover_timeout, framework.id
            )
        for agent_info in doc.agents:
            if agent_info.id is not None:
                self.recovered_agents[agent_info.id.value] = agent_info
        for unreachable in doc.unreachable:
            known = [a for a in doc.agents if a.id == unreachable.id]
            since = unreachable.timestamp.nanoseconds / 1e9
            self.unreachable[unreachable.id.value] = UnreachableAgentState(
                info=known[0] if known else AgentInfo(hostname="", id=unreachable.id),
                timestamp=since,
            )
            self._schedule_gone(unreachable.id.value, since)
        if doc.schedules:
            self.schedule = doc.schedules[0]
        self.machines = {m.id: m.mode for m in doc.machines}
        self.drain.recover(doc)
        if self.recovered_agents:
            self._timers.append(
                loop.call_later(self.flags.agent_reregister_timeout, self._reregister_timeout)
            )
        log.info(
            "Recovered registry: %d frameworks, %d admitted agents, %d unreachable agents",
            len(doc.frameworks),
            len(self.recovered_agents),
            len(self.unreachable),
        )

    def start(self) -> None:
        self.elected_time = now()
        self._tasks.append(asyncio.create_task(self._allocation_loop()))
        self._tasks.append(asyncio.create_task(self._ping_loop()))


__all__ = ["AgentRefused", "Master", "ip_to_uint32"]
