"""Agent draining and deactivation, with Mesos' semantics (`master.proto`, maintenance.md):
DEACTIVATE_AGENT stops offers, REACTIVATE_AGENT resumes them, DRAIN_AGENT deactivates and
kills every task (grace bounded by `max_grace_period`) until all ended and were
acknowledged (DRAINED; with `mark_gone` the agent is then gone), MARK_AGENT_GONE removes an
agent for good. The state is in the registry, so it survives a failover.
"""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING, Any

from mesos_runtime.wire.agent_channel import (
    AgentEvent,
    AgentEventType,
    AgentShutdown,
    KillTask,
)
from mesos_runtime.wire.mesos import (
    AgentID,
    DurationInfo,
    FrameworkID,
    KillPolicy,
    StatusReason,
    TaskState,
    TaskStatus,
)
from mesos_runtime.wire.record import Record, record, required

if TYPE_CHECKING:
    from .master import Master
    from .registry import RegistryDocument
    from .state import Agent

log = logging.getLogger("mesos.master.drain")

# the states a draining agent's task passes through on its way out (Mesos marks them)
_KILL_STATES = (TaskState.TASK_KILLING, TaskState.TASK_KILLED)


class DrainState(enum.Enum):
    UNKNOWN = "UNKNOWN"
    DRAINING = "DRAINING"
    DRAINED = "DRAINED"


@record
class DrainConfig(Record):
    max_grace_period: DurationInfo | None = None
    mark_gone: bool | None = None


@record
class DrainInfo(Record):
    state: DrainState = required()
    config: DrainConfig = required()


@record
class AgentDrainEntry(Record):
    """The registry's record of one deactivated (and perhaps draining) agent."""

    id: AgentID = required()
    deactivated: bool | None = None
    drain_info: DrainInfo | None = None


# --- the operator calls (mesos/v1/master/master.proto) --------------------------------


@record
class DrainAgent(Record):
    agent_id: AgentID = required()
    max_grace_period: DurationInfo | None = None
    mark_gone: bool | None = None


@record
class AgentCall(Record):
    """DEACTIVATE_AGENT, REACTIVATE_AGENT and MARK_AGENT_GONE all name one agent."""

    agent_id: AgentID = required()


class DrainRefused(Exception):
    """A call that cannot apply: `status` is its HTTP status, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Drainer:
    """Deactivation and drain state of the master's agents, and the rules that move it."""

    def __init__(self, master: Master) -> None:
        self.master = master
        self.entries: dict[str, AgentDrainEntry] = {}

    # --- views --------------------------------------------------------------------------

    def recover(self, document: RegistryDocument) -> None:
        self.entries = {e.id.value: e for e in document.drain}

    def is_deactivated(self, agent_id: str) -> bool:
        """Deactivated by an operator, or draining (no offers either way)."""
        return agent_id in self.entries

    def drain_info(self, agent_id: str) -> DrainInfo | None:
        entry = self.entries.get(agent_id)
        return entry.drain_info if entry else None

    def agent_json(self, agent_id: str) -> dict[str, Any]:
        """The fields GET_AGENTS and /master/state add for an agent."""
        out: dict[str, Any] = {}
        entry = self.entries.get(agent_id)
        if entry is not None:
            out["deactivated"] = True
            if entry.drain_info is not None:
                out["drain_info"] = entry.drain_info.to_json()
        return out

    def _known(self, agent_id: str) -> bool:
        m = self.master
        return agent_id in m.agents or agent_id in m.recovered_agents or agent_id in m.unreachable

    def _check_known(self, agent_id: str) -> None:
        if self.master.registry.is_gone(agent_id):
            raise DrainRefused(400, f"Agent {agent_id} is gone")
        if not self._known(agent_id):
            raise DrainRefused(404, f"Unknown agent {agent_id}")

    # --- the calls ----------------------------------------------------------------------

    async def deactivate(self, agent_id: str) -> None:
        self._check_known(agent_id)
        entry = self.entries.get(agent_id) or AgentDrainEntry(id=AgentID(value=agent_id))
        await self._store(entry.replace(deactivated=True))
        self._deactivate(agent_id)

    async def reactivate(self, agent_id: str) -> None:
        self._check_known(agent_id)
        entry = self.entries.get(agent_id)
        if entry is None:
            return  # active already: nothing to do, as in Mesos
        if entry.drain_info is not None and entry.drain_info.state is DrainState.DRAINING:
            raise DrainRefused(400, f"Agent {agent_id} is still draining")
        await self._store(None, agent_id)
        agent = self.master.agents.get(agent_id)
        if agent is not None and self.master.agent_may_be_active(agent):
            agent.active = True
            self.master.allocator.activate_agent(agent_id)
            self.master.request_allocation(agent_id)
        log.info("Agent %s reactivated", agent_id)

    async def drain(self, call: DrainAgent) -> None:
        agent_id = call.agent_id.value
        self._check_known(agent_id)
        grace = call.max_grace_period
        if grace is not None and grace.nanoseconds < 0:
            raise DrainRefused(400, "'max_grace_period' must not be negative")
        old = self.entries.get(agent_id)
        if old is not None and old.drain_info and old.drain_info.state is DrainState.DRAINED:
            return  # drained already
        info = DrainInfo(
            state=DrainState.DRAINING,
            config=DrainConfig(max_grace_period=grace, mark_gone=bool(call.mark_gone)),
        )
        await self._store(AgentDrainEntry(id=call.agent_id, deactivated=True, drain_info=info))
        self._deactivate(agent_id)
        log.info("Draining agent %s (max_grace_period %s)", agent_id, grace)
        agent = self.master.agents.get(agent_id)
        if agent is not None:
            self._kill_tasks(agent)
            self.task_changed(agent)
        # an unreachable or not yet re-registered agent is drained when it comes back

    async def mark_gone(self, agent_id: str) -> None:
        """Remove the agent for good: its tasks become TASK_GONE_BY_OPERATOR, and it is
        shut down if it ever comes back (idempotent, as in Mesos)."""
        m = self.master
        if m.registry.is_gone(agent_id):
            return
        if not self._known(agent_id):
            raise DrainRefused(404, f"Unknown agent {agent_id}")
        await m.registry.remove_agent(agent_id)
        if agent_id in self.entries:
            await self._store(None, agent_id)
        log.warning("Agent %s marked gone by the operator", agent_id)
        m.recovered_agents.pop(agent_id, None)
        agent = m.agents.get(agent_id)
        if agent is not None:
            agent.send(
                AgentEvent(
                    type=AgentEventType.SHUTDOWN,
                    shutdown=AgentShutdown(message="The agent was marked gone by the operator"),
                )
            )
            m.remove_agent_gone(agent)
        elif agent_id in m.unreachable:
            m.unreachable_gone(agent_id, by_operator=True)
        m.counters["master/slave_removals"] += 1

    # --- hooks from the master ----------------------------------------------------------

    def agent_registered(self, agent: Agent) -> None:
        """A deactivated agent stays so; a draining one has its tasks killed (again)."""
        info = self.drain_info(agent.id)
        if info is not None and info.state is DrainState.DRAINING:
            self._kill_tasks(agent)
            self.task_changed(agent)

    def annotate(self, agent: Agent, status: TaskStatus) -> TaskStatus:
        """As Mesos' agent does while draining: the kill's updates say why, and with
        `mark_gone` a killed task is TASK_GONE_BY_OPERATOR."""
        info = self.drain_info(agent.id)
        if info is None or info.state is not DrainState.DRAINING:
            return status
        if status.state not in _KILL_STATES:
            return status
        state = status.state
        if state is TaskState.TASK_KILLED and info.config.mark_gone:
            state = TaskState.TASK_GONE_BY_OPERATOR
        return status.replace(state=state, reason=StatusReason.REASON_AGENT_DRAINING)

    def task_changed(self, agent: Agent) -> None:
        """DRAINED once every task ended and its terminal update was acknowledged."""
        entry = self.entries.get(agent.id)
        if entry is None or entry.drain_info is None:
            return
        if entry.drain_info.state is not DrainState.DRAINING or agent.tasks:
            return
        drained = entry.replace(drain_info=entry.drain_info.replace(state=DrainState.DRAINED))
        self.entries[agent.id] = drained  # at once: a second check must not spawn twice
        log.info("Agent %s is drained", agent.id)
        self.master._spawn(self._drained(drained))

    async def _drained(self, entry: AgentDrainEntry) -> None:
        await self._store(entry)
        if entry.drain_info is not None and entry.drain_info.config.mark_gone:
            await self.mark_gone(entry.id.value)

    # --- helpers ------------------------------------------------------------------------

    def _deactivate(self, agent_id: str) -> None:
        agent = self.master.agents.get(agent_id)
        if agent is not None and agent.active:
            agent.active = False
            self.master.allocator.deactivate_agent(agent_id)
            for offer_id in list(agent.offers):
                self.master.rescind_offer(offer_id)
            log.info("Agent %s deactivated", agent_id)

    def _kill_tasks(self, agent: Agent) -> None:
        info = self.drain_info(agent.id)
        bound = info.config.max_grace_period if info else None
        for (framework_id, _task_id), task in agent.tasks.items():
            if task.state.is_terminal:
                continue
            policy = task.info.kill_policy
            grace = policy.grace_period if policy else None
            if bound is not None and grace is not None and grace.nanoseconds > bound.nanoseconds:
                grace = bound
            agent.send(
                AgentEvent(
                    type=AgentEventType.KILL_TASK,
                    kill_task=KillTask(
                        framework_id=FrameworkID(value=framework_id),
                        task_id=task.info.task_id,
                        kill_policy=KillPolicy(grace_period=grace) if grace else None,
                    ),
                )
            )

    async def _store(self, entry: AgentDrainEntry | None, agent_id: str | None = None) -> None:
        """Write the agent's entry (None: remove it) to the registry, then keep it."""
        key = entry.id.value if entry is not None else agent_id
        assert key is not None

        def change(document: RegistryDocument) -> None:
            document.drain = [e for e in document.drain if e.id.value != key]
            if entry is not None:
                document.drain.append(entry)

        await self.master.registry.apply(change)
        if entry is None:
            self.entries.pop(key, None)
        else:
            self.entries[key] = entry
