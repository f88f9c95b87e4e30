"""Framework lifecycle and the scheduler calls about tasks: SUBSCRIBE (and failover),
disconnection and failover timeout, TEARDOWN, UPDATE_FRAMEWORK, SUPPRESS/REVIVE, KILL,
SHUTDOWN, ACKNOWLEDGE, RECONCILE, MESSAGE.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mesos_runtime.wire.agent_channel import (
    AcknowledgeUpdate,
    AgentEvent,
    AgentEventType,
    FrameworkToExecutor,
    KillTask,
    ShutdownExecutor,
    ShutdownFramework,
    UpdateFrameworkInfo,
)
from mesos_runtime.wire.mesos import (
    AgentID,
    FrameworkID,
    StatusReason,
    StatusSource,
    TaskState,
    TaskStatus,
)
from mesos_runtime.wire.scheduler import (
    Acknowledge,
    Error,
    Event,
    EventType,
    Kill,
    Message,
    Reconcile,
    Shutdown,
    Subscribe,
    Subscribed,
    UpdateFramework,
)

from .machines import MaintenanceCalls
from .state import (
    Agent,
    EventStream,
    Framework,
    TrackedTask,
)
from .statuses import now, state_counter
from .views import framework_json

log = logging.getLogger("mesos.master")


class FrameworkCalls(MaintenanceCalls):
    """What schedulers do to the master (on MaintenanceCalls)."""

    async def subscribe(self, call: Subscribe, stream: EventStream) -> Framework | None:
        """SUBSCRIBE: a new framework, or a known one re-subscribing (failing over)."""
        info = call.framework_info
        if info.id is not None and info.id.value in self._removed_framework_ids:
            stream.send(
                Event(type=EventType.ERROR, error=Error(message="Framework has been removed"))
            )
            stream.close()
            return None
        timestamp = now()
        framework_id = info.id.value if info.id else self._new_framework_id()
        info = info.replace(id=FrameworkID(value=framework_id))
        await self.registry.add_framework(info, timestamp)

        framework = self.frameworks.get(framework_id)
        suppressed = set(call.suppressed_roles)
        if framework is None:
            framework = Framework(
                info=info, registered_time=timestamp, stream=stream, suppressed_roles=suppressed
            )
            self.frameworks[framework_id] = framework
            self.allocator.add_framework(framework_id, framework.roles, suppressed, active=True)
            log.info("Framework %s (%s) subscribed", framework_id, info.name)
            self.publish(
                lambda: {
                    "type": "FRAMEWORK_ADDED",
                    "framework_added": {"framework": framework_json(self, framework)},
                }
            )
        else:
            old = framework.stream
            if old is not None and old is not stream:
                old.send(Event(type=EventType.ERROR, error=Error(message="Framework failed over")))
                old.close()
            if framework.failover_timer:
                framework.failover_timer.cancel()
                framework.failover_timer = None
            for offer_id in list(framework.offers):
                self.rescind_offer(offer_id, notify=False)
            framework.info = info
            framework.stream = stream
            framework.active = True
            framework.recovered = False
            framework.reregistered_time = timestamp
            framework.unregistered_time = None
            framework.suppressed_roles = suppressed
            self.allocator.update_framework(framework_id, framework.roles, suppressed)
            self.allocator.activate_framework(framework_id)
            log.info("Framework %s (%s) re-subscribed", framework_id, info.name)
            self.publish(
                lambda: {
                    "type": "FRAMEWORK_UPDATED",
                    "framework_updated": {"framework": framework_json(self, framework)},
                }
            )
        stream.send(
            Event(
                type=EventType.SUBSCRIBED,
                subscribed=Subscribed(
                    framework_id=FrameworkID(value=framework_id),
                    heartbeat_interval_seconds=float(self.flags.heartbeat_interval),
                    master_info=self.info,
                ),
            )
        )
        self.request_allocation()
        return framework

    def scheduler_disconnected(self, framework: Framework, stream: EventStream) -> None:
        """The framework's current stream ended: keep it for its failover timeout."""
        stream.close()
        if framework.stream is not stream or self.frameworks.get(framework.id) is not framework:
            return
        framework.stream = None
        framework.unregistered_time = now()
        self.allocator.deactivate_framework(framework.id)
        for offer_id in list(framework.offers):
            self.rescind_offer(offer_id, notify=False)
        timeout = framework.info.failover_timeout or 0.0
        log.info("Framework %s disconnected; failover timeout %gs", framework.id, timeout)
        framework.failover_timer = asyncio.get_running_loop().call_later(
            timeout, self._failover_timeout, framework.id
        )
        self.publish(
            lambda: {
                "type": "FRAMEWORK_UPDATED",
                "framework_updated": {"framework": framework_json(self, framework)},
            }
        )

    def _failover_timeout(self, framework_id: str) -> None:
        framework = self.frameworks.get(framework_id)
        if framework is None or framework.connected:
            return
        log.info("Framework %s failover timeout elapsed", framework_id)
        self._spawn(self.remove_framework(framework, "failover timeout elapsed"))

    async def remove_framework(self, framework: Framework, why: str) -> None:
        """TEARDOWN or failover timeout: kill its tasks, drop its offers, forget it."""
        if self.frameworks.get(framework.id) is not framework:
            return
        await self.registry.remove_framework(framework.id)
        if self.frameworks.get(framework.id) is not framework:
            return
        log.info("Removing framework %s (%s): %s", framework.id, framework.info.name, why)
        if framework.failover_timer:
            framework.failover_timer.cancel()
        for offer_id in list(framework.offers):
            self._take_offer(offer_id)
        for agent in self.agents.values():
            tasks = agent.tasks_of(framework.id)
            executors = agent.executors_of(framework.id)
            if tasks or executors:
                agent.send(
                    AgentEvent(
                        type=AgentEventType.SHUTDOWN_FRAMEWORK,
                        shutdown_framework=ShutdownFramework(
                            framework_id=FrameworkID(value=framework.id)
                        ),
                    )
                )
            for task in tasks:
                agent.remove_task(task)
                if not task.state.is_terminal:
                    task.update(
                        self._master_status(
                            task.id,
                            TaskState.TASK_KILLED,
                            StatusReason.REASON_FRAMEWORK_REMOVED,
                            f"Framework removed: {why}",
                            agent_id=agent.id,
                            executor_id=task.executor_id,
                        )
                    )
                    self.counters[state_counter(TaskState.TASK_KILLED)] += 1
                framework.complete_task(task)
            for executor in executors:
                agent.remove_executor(executor)
            if tasks:
                self.drain.task_changed(agent)
        framework.tasks.clear()
        framework.unreachable_tasks.clear()
        self.allocator.remove_framework(framework.id)
        if framework.stream is not None:
            framework.stream.close()
            framework.stream = None
        framework.unregistered_time = now()
        del self.frameworks[framework.id]
        self.completed_frameworks.append(framework)
        self._removed_framework_ids.add(framework.id)
        self.publish(
            lambda: {
                "type": "FRAMEWORK_REMOVED",
                "framework_removed": {"framework_info": framework.info.to_json()},
            }
        )
        self.request_allocation()

    async def update_framework(self, framework: Framework, call: UpdateFramework) -> None:
        info = call.framework_info
        await self.registry.add_framework(info, framework.registered_time)
        framework.info = info
        framework.suppressed_roles = set(call.suppressed_roles)
        self.allocator.update_framework(framework.id, framework.roles, framework.suppressed_roles)
        for agent in self.agents.values():
            if any(k[0] == framework.id for k in agent.tasks):
                agent.send(
                    AgentEvent(
                        type=AgentEventType.UPDATE_FRAMEWORK,
                        update_framework=UpdateFrameworkInfo(framework_info=info),
                    )
                )
        self.publish(
            lambda: {
                "type": "FRAMEWORK_UPDATED",
                "framework_updated": {"framework": framework_json(self, framework)},
            }
        )
        self.request_allocation()

    def revive(self, framework: Framework, roles: list[str]) -> None:
        self.allocator.revive(framework.id, roles or None)
        framework.suppressed_roles -= set(roles or framework.roles)
        self.request_allocation()

    def suppress(self, framework: Framework, roles: list[str]) -> None:
        self.allocator.suppress(framework.id, roles or None)
        framework.suppressed_roles |= set(roles or framework.roles)

    def kill(self, framework: Framework, call: Kill) -> None:
        task = framework.tasks.get(call.task_id.value)
        if task is None:
            log.info(
                "Cannot kill unknown task %s of framework %s; reconciling",
                call.task_id.value,
                framework.id,
            )
            self.reconcile(framework, Reconcile(tasks=[_reconcile_task(call)]))
            return
        agent = self.agents.get(task.agent_id)
        if agent is None:
            return
        kill = KillTask(
            framework_id=FrameworkID(value=framework.id),
            task_id=call.task_id,
            kill_policy=call.kill_policy,
        )
        if not agent.send(AgentEvent(type=AgentEventType.KILL_TASK, kill_task=kill)):
            log.info(
                "Agent %s is disconnected: the KILL of task %s waits for it to re-register",
                agent.id,
                task.id,
            )
            agent.pending_kills[(framework.id, task.id)] = kill

    def shutdown_executor(self, framework: Framework, call: Shutdown) -> None:
        agent = self.agents.get(call.agent_id.value)
        if agent is not None:
            agent.send(
                AgentEvent(
                    type=AgentEventType.SHUTDOWN_EXECUTOR,
                    shutdown_executor=ShutdownExecutor(
                        framework_id=FrameworkID(value=framework.id),
                        executor_id=call.executor_id,
                    ),
                )
            )

    def acknowledge(self, framework: Framework, call: Acknowledge) -> None:
        agent = self.agents.get(call.agent_id.value)
        if agent is None:
            log.info(
                "Dropping acknowledgement for task %s: agent %s is not registered",
                call.task_id.value,
                call.agent_id.value,
            )
            return
        agent.send(
            AgentEvent(
                type=AgentEventType.ACKNOWLEDGE,
                acknowledge=AcknowledgeUpdate(
                    framework_id=framework.info.id,  # type: ignore[arg-type]  # always set
                    task_id=call.task_id,
                    uuid=call.uuid,
                ),
            )
        )
        task = agent.tasks.get((framework.id, call.task_id.value))
        if (
            task is not None
            and task.state.is_terminal
            and task.status is not None
            and task.status.uuid == call.uuid
        ):
            self._complete_task(framework, agent, task)

    def _complete_task(self, framework: Framework, agent: Agent | None, task: TrackedTask) -> None:
        framework.complete_task(task)
        if agent is not None:
            agent.remove_task(task)
            self.drain.task_changed(agent)

    def reconcile(self, framework: Framework, call: Reconcile) -> None:
        if not call.tasks:  # implicit: everything the master knows of this framework
            for task in list(framework.tasks.values()) + list(framework.unreachable_tasks.values()):
                self._send_update(framework, self._reconciled(task))
            return
        for item in call.tasks:
            task_id = item.task_id.value
            agent_id = item.agent_id.value if item.agent_id else None
            known = framework.tasks.get(task_id) or framework.unreachable_tasks.get(task_id)
            if known is not None:
                status = self._reconciled(known)
            elif agent_id is not None and agent_id in self.unreachable:
                status = self._master_status(
                    task_id,
                    TaskState.TASK_UNREACHABLE
                    if framework.partition_aware
                    else TaskState.TASK_LOST,
                    StatusReason.REASON_RECONCILIATION,
                    "Reconciliation: Task is unreachable",
                    agent_id=agent_id,
                )
            elif agent_id is not None and agent_id in self.recovered_agents:
                continue  # the agent may still re-register with it: no answer yet, as Mesos
            elif agent_id is not None and self.registry.is_gone(agent_id):
                status = self._master_status(
                    task_id,
                    TaskState.TASK_GONE if framework.partition_aware else TaskState.TASK_LOST,
                    StatusReason.REASON_RECONCILIATION,
                    "Reconciliation: Agent is gone",
                    agent_id=agent_id,
                )
            else:
                status = self._master_status(
                    task_id,
                    self._lost_state(framework),
                    StatusReason.REASON_RECONCILIATION,
                    "Reconciliation: Task is unknown",
                    agent_id=agent_id,
                )
            self._send_update(framework, status)

    def _reconciled(self, task: TrackedTask) -> TaskStatus:
        base = task.status or self._master_status(task.id, task.state, None, "")
        return base.replace(
            state=task.state,
            source=StatusSource.SOURCE_MASTER,
            reason=StatusReason.REASON_RECONCILIATION,
            message="Reconciliation: Latest task state",
            agent_id=AgentID(value=task.agent_id),
            uuid=None,
            timestamp=now(),
        )

    def message(self, framework: Framework, call: Message) -> None:
        agent = self.agents.get(call.agent_id.value)
        if agent is not None:
            agent.send(
                AgentEvent(
                    type=AgentEventType.MESSAGE,
                    message=FrameworkToExecutor(
                        framework_id=FrameworkID(value=framework.id),
                        executor_id=call.executor_id,
                        data=call.data,
                    ),
                )
            )
            self.counters["master/messages_framework_to_executor"] += 1


def _reconcile_task(call: Kill) -> Any:
    from mesos_runtime.wire.scheduler import ReconcileTask

    return ReconcileTask(task_id=call.task_id, agent_id=call.agent_id)
