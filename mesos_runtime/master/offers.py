"""Offers: batching allocation runs, making, rescinding and timing out offers, and
DECLINE/ACCEPT (the launch planner in launch.py decides what an ACCEPT does).
"""

from __future__ import annotations

import asyncio
import collections
import logging

from mesos_runtime.wire.agent_channel import (
    AgentEvent,
    AgentEventType,
    CheckpointResources,
    RunTask,
    RunTaskGroup,
)
from mesos_runtime.wire.mesos import (
    URL,
    Address,
    AgentID,
    AllocationInfo,
    ExecutorID,
    ExecutorInfo,
    FrameworkID,
    Offer,
    OfferID,
    StatusReason,
    TaskInfo,
    TaskState,
)
from mesos_runtime.wire.resources import Resources
from mesos_runtime.wire.scheduler import (
    Accept,
    Decline,
    Event,
    EventType,
    Offers,
    Rescind,
)

from .core import MasterCore
from .launch import (
    Conversion,
    LaunchTasks,
    TaskRefusal,
    plan_accept,
    refuse_unauthorized,
    tasks_of,
)
from .state import (
    Agent,
    Framework,
    OutstandingOffer,
    TrackedExecutor,
    TrackedTask,
)
from .statuses import state_counter

log = logging.getLogger("mesos.master")


class OfferCalls(MasterCore):
    """The master's offer cycle (on MasterCore)."""

    def request_allocation(self, agent_id: str | None = None) -> None:
        """Batch: one pending run covers every agent marked dirty since the last one."""
        if agent_id is None:
            self._dirty_all = True
        else:
            self._dirty.add(agent_id)
        if not self._allocation_pending:
            self._allocation_pending = True
            asyncio.get_running_loop().call_soon(self._run_pending_allocation)

    def _run_pending_allocation(self) -> None:
        self._allocation_pending = False
        agent_ids = None if self._dirty_all else [a for a in self._dirty if a in self.agents]
        self._dirty.clear()
        self._dirty_all = False
        if agent_ids is None or agent_ids:
            self.allocate(agent_ids)

    async def _allocation_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flags.allocation_interval)
            try:
                self.allocate(None)
            except Exception:
                log.exception("Allocation cycle failed")

    def allocate(self, agent_ids: list[str] | None) -> None:
        allocations = self.allocator.allocate(agent_ids)
        batches: dict[str, list[Offer]] = collections.defaultdict(list)
        for allocation in allocations:
            framework = self.frameworks.get(allocation.framework_id)
            agent = self.agents.get(allocation.agent_id)
            if (
                framework is None
                or not framework.connected
                or not framework.active
                or agent is None
                or not agent.connected
                or not agent.active
            ):
                self.allocator.recover(
                    allocation.agent_id, allocation.framework_id, allocation.resources
                )
                continue
            offer = self._make_offer(framework, agent, allocation.role, allocation.resources)
            batches[framework.id].append(offer.offer)
        for framework_id, offers in batches.items():
            self.frameworks[framework_id].send(
                Event(type=EventType.OFFERS, offers=Offers(offers=offers))
            )
            self.counters["master/messages_resource_offers"] += 1

    def _make_offer(
        self, framework: Framework, agent: Agent, role: str, resources: Resources
    ) -> OutstandingOffer:
        offer_id = self._new_offer_id()
        executor_ids = [
            ExecutorID(value=eid) for (fid, eid) in agent.executors if fid == framework.id
        ]
        offer = Offer(
            id=OfferID(value=offer_id),
            framework_id=FrameworkID(value=framework.id),
            agent_id=AgentID(value=agent.id),
            hostname=agent.info.hostname,
            url=URL(
                scheme=self.agent_scheme,
                address=Address(hostname=agent.info.hostname, ip=agent.ip, port=agent.port),
                path="/slave(1)",
            ),
            resources=resources.to_wire(),
            attributes=agent.info.attributes,
            executor_ids=executor_ids,
            allocation_info=AllocationInfo(role=role),
        )
        outstanding = OutstandingOffer(offer=offer, resources=resources)
        if self.flags.offer_timeout:
            outstanding.timer = asyncio.get_running_loop().call_later(
                self.flags.offer_timeout, self._offer_timeout, offer_id
            )
        self.offers[offer_id] = outstanding
        framework.offers[offer_id] = outstanding
        agent.offers.add(offer_id)
        return outstanding

    def _take_offer(self, offer_id: str) -> OutstandingOffer | None:
        """Forget an offer (accepted, declined or rescinded); its resources stay allocated."""
        offer = self.offers.pop(offer_id, None)
        if offer is None:
            return None
        if offer.timer:
            offer.timer.cancel()
        framework = self.frameworks.get(offer.framework_id)
        if framework:
            framework.offers.pop(offer_id, None)
        agent = self.agents.get(offer.agent_id)
        if agent:
            agent.offers.discard(offer_id)
        return offer

    def rescind_offer(self, offer_id: str, notify: bool = True) -> None:
        offer = self._take_offer(offer_id)
        if offer is None:
            return
        framework = self.frameworks.get(offer.framework_id)
        if notify and framework is not None:
            framework.send(Event(type=EventType.RESCIND, rescind=Rescind(offer_id=offer.offer.id)))
        self.allocator.recover(offer.agent_id, offer.framework_id, offer.resources)
        self.request_allocation(offer.agent_id)

    def _offer_timeout(self, offer_id: str) -> None:
        if offer_id in self.offers:
            log.info("Rescinding offer %s after --offer_timeout", offer_id)
            self.rescind_offer(offer_id)

    def decline(self, framework: Framework, call: Decline) -> None:
        refuse = call.filters.refuse if call.filters else 5.0
        for offer_id in call.offer_ids:
            offer = self.offers.get(offer_id.value)
            if offer is None or offer.framework_id != framework.id:
                continue
            self._take_offer(offer.id)
            self.allocator.recover(
                offer.agent_id, framework.id, offer.resources, refuse_seconds=refuse
            )
            self.request_allocation(offer.agent_id)

    def accept(
        self, framework: Framework, call: Accept, unauthorized: dict[str, str] | None = None
    ) -> None:
        """ACCEPT; `unauthorized` names the tasks the ACLs refuse (TASK_ERROR)."""
        refuse = call.filters.refuse if call.filters else 5.0
        if unauthorized:
            operations, refusals = refuse_unauthorized(call.operations, unauthorized)
            for refusal in refusals:
                self._task_error(framework, refusal.task, refusal.message, refusal.reason)
            call = call.replace(operations=operations)
        error = self._validate_offers(framework, call)
        if error is not None:
            log.warning("ACCEPT from framework %s with invalid offers: %s", framework.id, error)
            for offer_id in call.offer_ids:
                offer = self.offers.get(offer_id.value)
                if offer is not None and offer.framework_id == framework.id:
                    self.rescind_offer(offer.id, notify=False)
            state = TaskState.TASK_DROPPED if framework.partition_aware else TaskState.TASK_LOST
            for operation in call.operations:
                for task in tasks_of(operation):
                    self._send_update(
                        framework,
                        self._master_status(
                            task.task_id.value,
                            state,
                            StatusReason.REASON_INVALID_OFFERS,
                            f"Task launched with invalid offers: {error}",
                            agent_id=task.agent_id.value,
                        ),
                    )
            return

        offers = [self._take_offer(o.value) for o in call.offer_ids]
        taken = [o for o in offers if o is not None]
        agent = self.agents[taken[0].agent_id]
        role = taken[0].offer.allocation_info.role or "*"  # type: ignore[union-attr]
        offered = Resources()
        for offer in taken:
            offered = offered + offer.resources

        def running_executor(executor_id: str) -> ExecutorInfo | None:
            executor = agent.executors.get((framework.id, executor_id))
            return executor.info if executor is not None else None

        plan = plan_accept(
            call.operations,
            framework_id=framework.id,
            agent_id=agent.id,
            role=role,
            offered=offered,
            is_known=lambda task_id: task_id in framework.tasks,
            running_executor=running_executor,
        )
        for why in plan.dropped:
            log.warning("Dropping an operation from framework %s: %s", framework.id, why)
        for step in plan.steps:
            if isinstance(step, TaskRefusal):
                self._task_error(framework, step.task, step.message, step.reason)
            elif isinstance(step, Conversion):
                self._apply_conversion(framework, agent, step)
            else:
                self._launch(framework, agent, step)
        if plan.remaining:
            self.allocator.recover(agent.id, framework.id, plan.remaining, refuse_seconds=refuse)
        self.request_allocation(agent.id)

    def _validate_offers(self, framework: Framework, call: Accept) -> str | None:
        if not call.offer_ids:
            return "No offers specified"
        seen: set[str] = set()
        agent_ids: set[str] = set()
        for offer_id in call.offer_ids:
            if offer_id.value in seen:
                return f"Offer {offer_id.value} appears more than once"
            seen.add(offer_id.value)
            offer = self.offers.get(offer_id.value)
            if offer is None:
                return f"Offer {offer_id.value} is no longer valid"
            if offer.framework_id != framework.id:
                return f"Offer {offer_id.value} has invalid framework"
            agent_ids.add(offer.agent_id)
        if len(agent_ids) > 1:
            return "Aggregated offers must belong to one single agent"
        agent = self.agents.get(next(iter(agent_ids)))
        if agent is None or not agent.connected:
            return "Offers are on an agent that is not connected"
        return None

    def _apply_conversion(self, framework: Framework, agent: Agent, step: Conversion) -> None:
        self.allocator.update_allocation(agent.id, framework.id, step.consumed, step.converted)
        agent.total = agent.total - step.consumed.unallocated() + step.converted.unallocated()
        agent.checkpointed = _checkpointed(agent.total)
        agent.send(
            AgentEvent(
                type=AgentEventType.CHECKPOINT_RESOURCES,
                checkpoint_resources=CheckpointResources(resources=agent.checkpointed.to_wire()),
            )
        )
        log.info(
            "Applied %s of %s on agent %s for framework %s",
            step.type.value,
            step.converted,
            agent.id,
            framework.id,
        )

    def _launch(self, framework: Framework, agent: Agent, step: LaunchTasks) -> None:
        executor_id = step.executor.executor_id.value if step.executor is not None else None
        if step.new_executor and step.executor is not None and executor_id is not None:
            agent.executors[(framework.id, executor_id)] = TrackedExecutor(
                info=step.executor,
                framework_id=framework.id,
                agent_id=agent.id,
                resources=step.executor_resources,
            )
        for task, resources in zip(step.tasks, step.resources, strict=True):
            self._add_task(framework, agent, task, resources, executor_id)
        if step.group and step.executor is not None:
            agent.send(
                AgentEvent(
                    type=AgentEventType.RUN_TASK_GROUP,
                    run_task_group=RunTaskGroup(
                        framework_info=framework.info,
                        executor=step.executor,
                        task_group=step.task_group(),
                    ),
                )
            )
        else:
            agent.send(
                AgentEvent(
                    type=AgentEventType.RUN_TASK,
                    run_task=RunTask(framework_info=framework.info, task=step.tasks[0]),
                )
            )

    def _task_error(
        self,
        framework: Framework,
        task: TaskInfo,
        message: str,
        reason: StatusReason = StatusReason.REASON_TASK_INVALID,
    ) -> None:
        log.warning(
            "Task %s of framework %s is invalid: %s", task.task_id.value, framework.id, message
        )
        self.counters[state_counter(TaskState.TASK_ERROR)] += 1
        self._send_update(
            framework,
            self._master_status(
                task.task_id.value,
                TaskState.TASK_ERROR,
                reason,
                message,
                agent_id=task.agent_id.value,
            ),
        )

    def _add_task(  # noqa: PLR0917
        self,
        framework: Framework,
        agent: Agent,
        task: TaskInfo,
        resources: Resources,
        executor_id: str | None,
        state: TaskState = TaskState.TASK_STAGING,
    ) -> TrackedTask:
        tracked = TrackedTask(
            info=task,
            framework_id=framework.id,
            agent_id=agent.id,
            resources=resources,
            state=state,
            executor_id=executor_id,
            user=framework.info.user,
        )
        framework.add_task(tracked)
        agent.add_task(tracked)
        if state is TaskState.TASK_STAGING:
            log.info(
                "Launching task %s of framework %s on agent %s", tracked.id, framework.id, agent.id
            )
        self.publish(
            lambda: {"type": "TASK_ADDED", "task_added": {"task": tracked.to_wire().to_json()}}
        )
        return tracked


def _checkpointed(total: Resources) -> Resources:
    """What the agent must remember: dynamic reservations and persistent volumes."""
    return total.filter(
        lambda k: k.disk is not None or any(r.type == "DYNAMIC" for r in k.reservations)
    )
