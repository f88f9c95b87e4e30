"""Agent lifecycle: (re-)registration and the report it brings, pings, disconnection,
unreachable and gone agents, and what agents send (status updates, messages, executor
exits).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets

from mesos_runtime.wire.agent_channel import (
    CHANNEL_VERSION,
    SESSION_VERSION,
    AcknowledgeUpdate,
    AgentEvent,
    AgentEventType,
    AgentMessage,
    AgentSubscribe,
    AgentUpdate,
    ExecutorExited,
    Registered,
    ShutdownFramework,
)
from mesos_runtime.wire.mesos import (
    AgentID,
    FrameworkID,
    FrameworkInfo,
    StatusReason,
    TaskInfo,
    TaskState,
)
from mesos_runtime.wire.record import WireError
from mesos_runtime.wire.resources import Key, Resources
from mesos_runtime.wire.scheduler import (
    Event,
    EventMessage,
    EventType,
    Failure,
)

from .frameworks import FrameworkCalls
from .state import (
    MAX_STATUSES_KEPT,
    Agent,
    EventStream,
    Framework,
    TrackedExecutor,
    TrackedTask,
    UnreachableAgentState,
)
from .statuses import GONE_BY_OPERATOR, now, state_counter, time_info
from .validation import (
    with_allocation,
)
from .views import agent_json

log = logging.getLogger("mesos.master")


class AgentRefused(Exception):
    """An agent that may not (re-)register: it was removed for good."""


class AgentCalls(FrameworkCalls):
    """What agents do, and what happens to them (on FrameworkCalls)."""

    async def agent_subscribe(
        self, call: AgentSubscribe, stream: EventStream, ip: str, principal: str | None = None
    ) -> Agent:
        """Register a new agent or re-register a known one, rebuilding what it runs;
        `principal` is who it authenticated as (bound to its id in the registry)."""
        info = call.agent_info
        if info.id is not None and self.registry.is_gone(info.id.value):
            raise AgentRefused(f"Agent {info.id.value} was removed; it must start afresh")
        reregistering = info.id is not None
        agent_id = info.id.value if info.id else self._new_agent_id()
        info = info.replace(id=AgentID(value=agent_id))
        static = Resources.from_wire(info.resources)
        checkpointed = Resources.from_wire(call.checkpointed_resources).unallocated()
        total = _apply_checkpointed(static, checkpointed)
        await self.registry.admit_agent(info, principal)

        old = self.agents.get(agent_id)
        was_unreachable = self.unreachable.pop(agent_id, None) is not None
        if (timer := self._gone_timers.pop(agent_id, None)) is not None:
            timer.cancel()
        self.recovered_agents.pop(agent_id, None)
        timestamp = now()
        known_before: list[TrackedTask] = []
        pending_kills = old.pending_kills if old is not None else {}
        if old is not None:
            # the same agent again (reconnected): start from its fresh report
            if old.stream is not None and old.stream is not stream:
                old.stream.close()
            known_before = [t for t in old.tasks.values() if not t.state.is_terminal]
            self._forget_agent(old)
        agent = Agent(
            info=info,
            ip=ip,
            registered_time=old.registered_time if old else timestamp,
            reregistered_time=timestamp if reregistering else None,
            stream=stream,
            total=total,
            checkpointed=checkpointed,
            version=call.runtime_version,
            principal=principal,
        )
        if min(call.version or 1, CHANNEL_VERSION) >= SESSION_VERSION:
            agent.session = secrets.token_urlsafe(24)
        agent.active = self.agent_may_be_active(agent)
        self.agents[agent_id] = agent
        allocated = self._adopt_agent_report(agent, call, was_unreachable)
        self._lost_in_transit(agent, known_before)
        self.allocator.add_agent(agent_id, total, allocated)
        if not agent.active:
            self.allocator.deactivate_agent(agent_id)
        stream.send(
            AgentEvent(
                type=AgentEventType.REGISTERED,
                registered=Registered(
                    agent_id=AgentID(value=agent_id),
                    master_info=self.info,
                    ping_interval_seconds=float(self.flags.agent_ping_timeout),
                    version=CHANNEL_VERSION,
                    session=agent.session,
                ),
            )
        )
        for key, kill in pending_kills.items():
            task = agent.tasks.get(key)
            if task is not None and not task.state.is_terminal:
                agent.send(AgentEvent(type=AgentEventType.KILL_TASK, kill_task=kill))
        log.info(
            "Agent %s at %s (%s) %s with %s",
            agent_id,
            agent.pid,
            info.hostname,
            "re-registered" if reregistering else "registered",
            total,
        )
        self.drain.agent_registered(agent)
        self.publish(
            lambda: {"type": "AGENT_ADDED", "agent_added": {"agent": agent_json(self, agent)}}
        )
        self.request_allocation(agent_id)
        return agent

    def _adopt_agent_report(
        self, agent: Agent, call: AgentSubscribe, was_unreachable: bool
    ) -> dict[str, Resources]:
        """Rebuild frameworks, executors and tasks from what a re-registering agent runs."""
        infos = {f.id.value: f for f in call.frameworks if f.id is not None}
        allocated: dict[str, Resources] = collections.defaultdict(Resources)
        shutdown: set[str] = set()
        for task in call.tasks:
            fid = task.framework_id.value
            framework = self.frameworks.get(fid)
            if fid in self._removed_framework_ids or (
                was_unreachable and framework is not None and not framework.partition_aware
            ):
                # Mesos: tasks of removed frameworks, and of frameworks that were told their
                # tasks were LOST while the agent was unreachable, are shut down
                shutdown.add(fid)
                continue
            if framework is None:
                info = infos.get(fid) or FrameworkInfo(user="", name="", id=task.framework_id)
                framework = Framework(
                    info=info, registered_time=now(), active=False, recovered=True
                )
                self.frameworks[fid] = framework
                self.allocator.add_framework(fid, framework.roles, (), active=False)
                log.info("Framework %s recovered from agent %s's report", fid, agent.id)
            role = framework.roles[0] if framework.roles else "*"
            try:
                resources = with_allocation(task.resources, role)
            except WireError:
                resources = Resources()
            info_task = TaskInfo(
                name=task.name,
                task_id=task.task_id,
                agent_id=AgentID(value=agent.id),
                resources=task.resources,
                labels=task.labels,
                discovery=task.discovery,
                container=task.container,
                health_check=task.health_check,
                kill_policy=task.kill_policy,
            )
            tracked = TrackedTask(
                info=info_task,
                framework_id=fid,
                agent_id=agent.id,
                resources=resources,
                state=task.state,
                executor_id=task.executor_id.value if task.executor_id else None,
                status=task.statuses[-1] if task.statuses else None,
                statuses=list(task.statuses[-MAX_STATUSES_KEPT:]),
                user=task.user,
            )
            framework.add_task(tracked)
            agent.add_task(tracked)
            if not task.state.is_terminal:
                allocated[fid] = allocated[fid] + resources
            else:
                tracked.resources_recovered = True
        for executor in call.executors:
            if executor.framework_id is None:
                continue
            efid = executor.framework_id.value
            framework = self.frameworks.get(efid)
            if framework is None or efid in shutdown:
                continue
            role = framework.roles[0] if framework.roles else "*"
            try:
                resources = with_allocation(executor.resources, role)
            except WireError:
                resources = Resources()
            agent.executors[(efid, executor.executor_id.value)] = TrackedExecutor(
                info=executor, framework_id=efid, agent_id=agent.id, resources=resources
            )
            allocated[efid] = allocated[efid] + resources
        for fid in shutdown:
            agent.send(
                AgentEvent(
                    type=AgentEventType.SHUTDOWN_FRAMEWORK,
                    shutdown_framework=ShutdownFramework(framework_id=FrameworkID(value=fid)),
                )
            )
        return dict(allocated)

    def _lost_in_transit(self, agent: Agent, known_before: list[TrackedTask]) -> None:
        """Tasks the master launched that the re-registering agent does not report never
        reached it: TASK_DROPPED (PARTITION_AWARE) or TASK_LOST, as Mesos reconciles them."""
        for task in known_before:
            framework = self.frameworks.get(task.framework_id)
            if framework is None or (task.framework_id, task.id) in agent.tasks:
                continue
            state = TaskState.TASK_DROPPED if framework.partition_aware else TaskState.TASK_LOST
            status = self._master_status(
                task.id,
                state,
                StatusReason.REASON_RECONCILIATION,
                "Task is unknown to the agent",
                agent_id=agent.id,
            )
            task.update(status)
            framework.complete_task(task)
            self.counters[state_counter(state)] += 1
            log.info(
                "Task %s of framework %s is unknown to agent %s: %s",
                task.id,
                framework.id,
                agent.id,
                state.value,
            )
            self._send_update(framework, status)

    def _forget_agent(self, agent: Agent) -> None:
        """Drop an agent's offers and allocations before re-adding it from its report."""
        for offer_id in list(agent.offers):
            self.rescind_offer(offer_id)
        for task in list(agent.tasks.values()):
            framework = self.frameworks.get(task.framework_id)
            if framework is not None:
                framework.forget_task(task.id)
        self.allocator.remove_agent(agent.id)
        del self.agents[agent.id]

    def agent_disconnected(self, agent: Agent, stream: EventStream) -> None:
        """The agent's channel dropped: no offers until it reconnects or is unreachable."""
        stream.close()
        if agent.stream is not stream or self.agents.get(agent.id) is not agent:
            return
        agent.stream = None
        log.info("Agent %s at %s disconnected", agent.id, agent.pid)
        self.allocator.deactivate_agent(agent.id)
        for offer_id in list(agent.offers):
            self.rescind_offer(offer_id)

    def agent_principal(self, agent_id: str) -> str | None:
        """Who an agent id belongs to: the principal that registered it (None: nobody)."""
        agent = self.agents.get(agent_id)
        if agent is not None and agent.principal is not None:
            return agent.principal
        return self.registry.agent_principal(agent_id)

    def agent_pong(self, agent: Agent) -> None:
        agent.ponged = True
        agent.missed_pings = 0

    async def _ping_loop(self) -> None:
        interval = float(self.flags.agent_ping_timeout)
        while True:
            await asyncio.sleep(interval)
            for agent in list(self.agents.values()):
                try:
                    self._ping(agent)
                except Exception:
                    # one agent's failure must not stop the pings (and so the health
                    # checks) of every other agent
                    log.exception("Pinging agent %s failed", agent.id)

    def _ping(self, agent: Agent) -> None:
        if agent.ponged and agent.connected:
            agent.missed_pings = 0
        else:
            agent.missed_pings += 1
        if agent.missed_pings >= self.flags.max_agent_ping_timeouts:
            log.warning("Agent %s missed %d pings", agent.id, agent.missed_pings)
            self._spawn(self.mark_unreachable(agent))
            return
        agent.ponged = False
        agent.send(AgentEvent(type=AgentEventType.PING))

    async def mark_unreachable(self, agent: Agent) -> None:
        if self.agents.get(agent.id) is not agent:
            return
        timestamp = now()
        await self.registry.mark_unreachable(agent.id, timestamp)
        if self.agents.get(agent.id) is not agent:
            return
        log.warning("Agent %s at %s is unreachable", agent.id, agent.pid)
        self.unreachable[agent.id] = UnreachableAgentState(info=agent.info, timestamp=timestamp)
        self._schedule_gone(agent.id, timestamp)
        self._remove_agent(agent, unreachable=True)
        self.counters["master/slave_unreachable_completed"] += 1

    async def agent_unregister(self, agent: Agent) -> None:
        await self.registry.remove_agent(agent.id)
        if self.agents.get(agent.id) is not agent:
            return
        log.info("Agent %s at %s unregistered", agent.id, agent.pid)
        if agent.stream is not None:
            agent.stream.close()
        self._remove_agent(agent, unreachable=False)
        self.counters["master/slave_removals"] += 1

    def remove_agent_gone(self, agent: Agent) -> None:
        """An agent the operator marked gone (drain.py): its tasks are GONE_BY_OPERATOR."""
        self._remove_agent(agent, unreachable=False, by_operator=True)

    def _remove_agent(self, agent: Agent, *, unreachable: bool, by_operator: bool = False) -> None:
        """Take an agent out: rescind its offers, its tasks become UNREACHABLE/LOST/GONE."""
        for offer_id in list(agent.offers):
            self.rescind_offer(offer_id)
        for (fid, _tid), task in list(agent.tasks.items()):
            framework = self.frameworks.get(fid)
            if framework is None:
                continue
            if task.state.is_terminal:
                framework.complete_task(task)
                continue
            if unreachable and framework.partition_aware:
                state, message = TaskState.TASK_UNREACHABLE, "Agent is unreachable"
                framework.task_unreachable(task)
            elif framework.partition_aware:
                state, message = TaskState.TASK_GONE, "Agent was removed"
                if by_operator:
                    state, message = TaskState.TASK_GONE_BY_OPERATOR, GONE_BY_OPERATOR
                framework.complete_task(task)
            else:
                state = TaskState.TASK_LOST
                message = "Agent is unreachable" if unreachable else "Agent was removed"
                framework.complete_task(task)
            status = self._master_status(
                task.id,
                state,
                StatusReason.REASON_AGENT_REMOVED_BY_OPERATOR
                if by_operator
                else StatusReason.REASON_AGENT_REMOVED,
                message,
                agent_id=agent.id,
                executor_id=task.executor_id,
            )
            if unreachable:
                status = status.replace(unreachable_time=time_info(now()))
            task.update(status)
            self.counters[state_counter(state)] += 1
            self._send_update(framework, status)
            log.info("Task %s of framework %s is %s", task.id, fid, state.value)
            self._publish_task_updated(fid, status)
        self.allocator.remove_agent(agent.id)
        agent.tasks.clear()
        agent.executors.clear()
        if agent.stream is not None:
            agent.stream.close()
            agent.stream = None
        del self.agents[agent.id]
        self.publish(
            lambda: {"type": "AGENT_REMOVED", "agent_removed": {"agent_id": {"value": agent.id}}}
        )

    def _reregister_timeout(self) -> None:
        for agent_id, info in list(self.recovered_agents.items()):
            if agent_id not in self.agents:
                log.warning(
                    "Agent %s did not re-register within --agent_reregister_timeout", agent_id
                )
                self.recovered_agents.pop(agent_id)
                timestamp = now()
                self.unreachable[agent_id] = UnreachableAgentState(info=info, timestamp=timestamp)
                self._schedule_gone(agent_id, timestamp)
                self.counters["master/slave_unreachable_completed"] += 1
                self._spawn(self.registry.mark_unreachable(agent_id, timestamp))

    def _schedule_gone(self, agent_id: str, unreachable_since: float) -> None:
        """An unreachable agent is gone once it has been unreachable for
        --registry_max_agent_age (Mesos garbage-collects it from the registry then)."""
        delay = max(0.0, unreachable_since + float(self.flags.registry_max_agent_age) - now())
        loop = asyncio.get_running_loop()
        if (old := self._gone_timers.pop(agent_id, None)) is not None:
            old.cancel()
        self._gone_timers[agent_id] = loop.call_later(
            delay, lambda: self._spawn(self.agent_gone(agent_id))
        )

    async def agent_gone(self, agent_id: str) -> None:
        """An agent unreachable for too long is removed for good: recorded as gone (it is
        refused if it comes back), its unreachable tasks become TASK_GONE."""
        self._gone_timers.pop(agent_id, None)
        if agent_id not in self.unreachable:
            return  # it came back meanwhile
        await self.registry.remove_agent(agent_id)
        if agent_id not in self.unreachable:
            return
        log.warning("Agent %s was unreachable for --registry_max_agent_age: gone", agent_id)
        self.counters["master/slave_removals"] += 1
        self.unreachable_gone(agent_id, by_operator=False)

    def unreachable_gone(self, agent_id: str, *, by_operator: bool) -> None:
        """An unreachable agent is gone (registry already written): its unreachable tasks
        become TASK_GONE (TASK_GONE_BY_OPERATOR when the operator said so)."""
        self.unreachable.pop(agent_id, None)
        if (timer := self._gone_timers.pop(agent_id, None)) is not None:
            timer.cancel()
        state = TaskState.TASK_GONE_BY_OPERATOR if by_operator else TaskState.TASK_GONE
        for framework in self.frameworks.values():
            for task in [t for t in framework.unreachable_tasks.values() if t.agent_id == agent_id]:
                status = self._master_status(
                    task.id,
                    state,
                    StatusReason.REASON_AGENT_REMOVED_BY_OPERATOR
                    if by_operator
                    else StatusReason.REASON_AGENT_REMOVED,
                    GONE_BY_OPERATOR
                    if by_operator
                    else "Agent was unreachable for too long and is gone",
                    agent_id=agent_id,
                    executor_id=task.executor_id,
                )
                task.update(status)
                framework.complete_task(task)
                self.counters[state_counter(state)] += 1
                self._send_update(framework, status)
                self._publish_task_updated(framework.id, status)

    def agent_update(self, agent: Agent, call: AgentUpdate) -> None:
        """A status update from the agent: record it, forward it to the framework."""
        fid = call.framework_id.value
        status = call.status
        if status.agent_id is None or status.agent_id.value != agent.id or status.timestamp is None:
            # an agent speaks for itself only: its updates carry its own id
            status = status.replace(
                agent_id=AgentID(value=agent.id),
                timestamp=now() if status.timestamp is None else status.timestamp,
            )
        status = self.drain.annotate(agent, status)
        self.counters["master/messages_status_update"] += 1
        framework = self.frameworks.get(fid)
        if framework is None:
            if fid in self._removed_framework_ids and status.uuid is not None:
                # nobody will acknowledge it: release the agent from retrying
                agent.send(
                    AgentEvent(
                        type=AgentEventType.ACKNOWLEDGE,
                        acknowledge=AcknowledgeUpdate(
                            framework_id=call.framework_id,
                            task_id=status.task_id,
                            uuid=status.uuid,
                        ),
                    )
                )
            return
        task = agent.tasks.get((fid, status.task_id.value))
        if task is not None:
            previous = task.state
            task.update(status)
            if previous is not status.state:
                self.counters[state_counter(status.state)] += 1
                # how a task ended is worth a line; the steps on the way (STARTING,
                # RUNNING) would be most of the master's log under load
                log.log(
                    logging.INFO if status.state.is_terminal else logging.DEBUG,
                    "Task %s of framework %s is %s",
                    task.id,
                    fid,
                    status.state.value,
                )
            if status.state.is_terminal and not task.resources_recovered:
                task.resources_recovered = True
                self.allocator.recover(agent.id, fid, task.resources)
                self.request_allocation(agent.id)
            if status.uuid is None and status.state.is_terminal:
                self._complete_task(framework, agent, task)
        self._publish_task_updated(fid, status)
        self._send_update(framework, status)
        self.drain.task_changed(agent)

    def agent_message(self, agent: Agent, call: AgentMessage) -> None:
        framework = self.frameworks.get(call.framework_id.value)
        if framework is not None:
            self.counters["master/messages_executor_to_framework"] += 1
            framework.send(
                Event(
                    type=EventType.MESSAGE,
                    message=EventMessage(
                        agent_id=AgentID(value=agent.id),
                        executor_id=call.executor_id,
                        data=call.data,
                    ),
                )
            )

    def executor_exited(self, agent: Agent, call: ExecutorExited) -> None:
        fid = call.framework_id.value
        executor = agent.executors.pop((fid, call.executor_id.value), None)
        if executor is not None and executor.resources:
            self.allocator.recover(agent.id, fid, executor.resources)
            self.request_allocation(agent.id)
        framework = self.frameworks.get(fid)
        if framework is not None:
            framework.send(
                Event(
                    type=EventType.FAILURE,
                    failure=Failure(
                        agent_id=AgentID(value=agent.id),
                        executor_id=call.executor_id,
                        status=call.status,
                    ),
                )
            )


def _apply_checkpointed(static: Resources, checkpointed: Resources) -> Resources:
    """The agent's total: its own resources with checkpointed reservations/volumes applied."""
    total = static
    for key, value in checkpointed:
        base = Key(key.name, tuple(r for r in key.reservations if r.type != "DYNAMIC"))
        total = total - Resources({base: value}) + Resources({key: value})
    return total
