"""The master's core: every scheduler, agent and operator action as a method that changes
the in-memory state (state.py), keeps the allocator and the registry in step, and queues
the events that result. The HTTP modules only translate wire calls into these methods.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import secrets
import socket
import struct
import time
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

from mesos_runtime import MESOS_API_VERSION
from mesos_runtime.security.tls import TlsSettings
from mesos_runtime.wire.agent_channel import (
    CHANNEL_VERSION,
    SESSION_VERSION,
    AcknowledgeUpdate,
    AgentEvent,
    AgentEventType,
    AgentMessage,
    AgentSubscribe,
    AgentUpdate,
    CheckpointResources,
    ExecutorExited,
    FrameworkToExecutor,
    KillTask,
    Registered,
    RunTask,
    RunTaskGroup,
    ShutdownExecutor,
    ShutdownFramework,
    UpdateFrameworkInfo,
)
from mesos_runtime.wire.mesos import (
    URL,
    Address,
    AgentID,
    AgentInfo,
    AllocationInfo,
    ExecutorID,
    ExecutorInfo,
    ExecutorType,
    FrameworkID,
    FrameworkInfo,
    Launch,
    MasterInfo,
    Offer,
    OfferID,
    Operation,
    OperationType,
    StatusReason,
    StatusSource,
    TaskID,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from mesos_runtime.wire.record import WireError
from mesos_runtime.wire.resources import Key, Resources
from mesos_runtime.wire.scheduler import (
    Accept,
    Acknowledge,
    Decline,
    Error,
    Event,
    EventMessage,
    EventType,
    Failure,
    Kill,
    Message,
    Offers,
    Reconcile,
    Rescind,
    Shutdown,
    Subscribe,
    Subscribed,
    Update,
    UpdateFramework,
)

from .drain import Drainer
from .flags import MasterFlags
from .maintenance import MachineID, MachineMode, MaintenanceSchedule
from .registry import MachineInfo, Registry, RegistryFenced
from .state import (
    MAX_COMPLETED_FRAMEWORKS,
    Agent,
    EventStream,
    Framework,
    OutstandingOffer,
    TrackedExecutor,
    TrackedTask,
    UnreachableAgentState,
)
from .validation import (
    executors_compatible,
    validate_executor,
    validate_schedule,
    validate_task,
    with_allocation,
)

log = logging.getLogger("mesos.master")

MAX_STATUSES_KEPT = 10
_GONE_BY_OPERATOR = "Agent was marked gone by the operator"


def ip_to_uint32(ip: str) -> int:
    """MasterInfo.ip as Mesos writes it: the in_addr bytes read as a native uint32."""
    try:
        return struct.unpack("<I", socket.inet_aton(ip))[0]
    except OSError:
        return 0


def now() -> float:
    return time.time()


class AgentRefused(Exception):
    """An agent that may not (re-)register: it was removed for good."""


class Master:
    """One master process's view of the cluster (it acts only while leading)."""

    def __init__(  # noqa: PLR0917
        self,
        flags: MasterFlags,
        registry: Registry,
        allocator: Any,
        hostname: str,
        advertise_ip: str,
        advertise_port: int,
    ) -> None:
        self.flags = flags
        self.registry = registry
        self.allocator = allocator
        self.id = str(uuidlib.uuid4())
        self.hostname = hostname
        self.info = MasterInfo(
            id=self.id,
            ip=ip_to_uint32(advertise_ip),
            port=advertise_port,
            pid=f"master@{advertise_ip}:{advertise_port}",
            hostname=hostname,
            version=MESOS_API_VERSION,
            address=Address(hostname=hostname, ip=advertise_ip, port=advertise_port),
        )
        self.start_time = now()
        self.elected_time: float | None = None
        self.frameworks: dict[str, Framework] = {}
        self.completed_frameworks: collections.deque[Framework] = collections.deque(
            maxlen=MAX_COMPLETED_FRAMEWORKS
        )
        self._removed_framework_ids: set[str] = set()
        self.agents: dict[str, Agent] = {}
        self.recovered_agents: dict[str, AgentInfo] = {}  # admitted, not yet re-registered
        self.unreachable: dict[str, UnreachableAgentState] = {}
        self.offers: dict[str, OutstandingOffer] = {}
        self.operator_streams: set[EventStream] = set()
        self.schedule = MaintenanceSchedule()
        self.machines: dict[MachineID, MachineMode] = {}
        self.counters: collections.Counter[str] = collections.Counter()
        self._framework_ids = itertools.count()
        self._agent_ids = itertools.count()
        self._offer_ids = itertools.count()
        self._dirty: set[str] = set()
        self._dirty_all = False
        self._allocation_pending = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._timers: list[asyncio.TimerHandle] = []
        # unreachable agents become gone after --registry_max_agent_age
        self._gone_timers: dict[str, asyncio.TimerHandle] = {}
        # called when the registry refuses a write: this master must stop acting at once
        self.on_fenced: Callable[[], None] | None = None
        # agents speak TLS when this master does (libprocess' SSL settings are cluster-wide)
        self.agent_scheme = "https" if TlsSettings.from_environment().enabled else "http"
        self.drain = Drainer(self)  # DRAIN_AGENT, DEACTIVATE_AGENT, ... (drain.py)

    # --- lifecycle ---------------------------------------------------------------------

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
        for info in doc.agents:
            if info.id is not None:
                self.recovered_agents[info.id.value] = info
        for entry in doc.unreachable:
            known = [a for a in doc.agents if a.id == entry.id]
            self.unreachable[entry.id.value] = UnreachableAgentState(
                info=known[0] if known else AgentInfo(hostname="", id=entry.id),
                timestamp=entry.timestamp.nanoseconds / 1e9,
            )
            self._schedule_gone(entry.id.value, entry.timestamp.nanoseconds / 1e9)
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

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for timer in [*self._timers, *self._gone_timers.values()]:
            timer.cancel()
        for framework in self.frameworks.values():
            if framework.failover_timer:
                framework.failover_timer.cancel()
            if framework.stream:
                framework.stream.close()
        for agent in self.agents.values():
            if agent.stream:
                agent.stream.close()
        for stream in self.operator_streams:
            stream.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        if task.cancelled() or task.exception() is None:
            return
        if isinstance(task.exception(), RegistryFenced):
            self.fenced()
        else:
            log.error("Background step failed: %r", task.exception())

    def fenced(self) -> None:
        """The registry refused a write: another master leads now. Stop acting (Mesos
        aborts the process for the same reason) so two masters never act at once."""
        log.critical("Registry write fenced: this master is no longer the leader")
        if self.on_fenced is not None:
            self.on_fenced()

    # --- ids ----------------------------------------------------------------------------

    def _new_framework_id(self) -> str:
        return f"{self.id}-{next(self._framework_ids):04d}"

    def _new_agent_id(self) -> str:
        return f"{self.id}-S{next(self._agent_ids)}"

    def _new_offer_id(self) -> str:
        return f"{self.id}-O{next(self._offer_ids)}"

    # --- events -------------------------------------------------------------------------

    def publish(self, build: Callable[[], dict[str, Any]]) -> None:
        """An event for operator API subscribers (built only when someone listens)."""
        if not self.operator_streams:
            return
        event = build()
        for stream in list(self.operator_streams):
            if stream.closed:
                self.operator_streams.discard(stream)
            else:
                stream.send_json(event)

    def _publish_task_updated(self, framework_id: str, status: TaskStatus) -> None:
        self.publish(
            lambda: {
                "type": "TASK_UPDATED",
                "task_updated": {
                    "framework_id": {"value": framework_id},
                    "status": status.to_json(),
                    "state": status.state.value,
                },
            }
        )

    def _master_status(  # noqa: PLR0917
        self,
        task_id: str,
        state: TaskState,
        reason: StatusReason | None,
        message: str,
        agent_id: str | None = None,
        executor_id: str | None = None,
    ) -> TaskStatus:
        return TaskStatus(
            task_id=TaskID(value=task_id),
            state=state,
            source=StatusSource.SOURCE_MASTER,
            reason=reason,
            message=message,
            agent_id=AgentID(value=agent_id) if agent_id else None,
            executor_id=ExecutorID(value=executor_id) if executor_id else None,
            timestamp=now(),
        )

    def _send_update(self, framework: Framework, status: TaskStatus) -> None:
        framework.send(Event(type=EventType.UPDATE, update=Update(status=status)))

    def _lost_state(self, framework: Framework) -> TaskState:
        return TaskState.TASK_UNKNOWN if framework.partition_aware else TaskState.TASK_LOST

    # --- allocation ---------------------------------------------------------------------

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

    # --- frameworks ---------------------------------------------------------------------

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
                    "framework_added": {"framework": self.framework_json(framework)},
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
                    "framework_updated": {"framework": self.framework_json(framework)},
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
                "framework_updated": {"framework": self.framework_json(framework)},
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
            keys = [k for k in agent.tasks if k[0] == framework.id]
            executors = [k for k in agent.executors if k[0] == framework.id]
            if keys or executors:
                agent.send(
                    AgentEvent(
                        type=AgentEventType.SHUTDOWN_FRAMEWORK,
                        shutdown_framework=ShutdownFramework(
                            framework_id=FrameworkID(value=framework.id)
                        ),
                    )
                )
            for key in keys:
                task = agent.tasks.pop(key)
                if not task.state.is_terminal:
                    task.state = TaskState.TASK_KILLED
                    self.counters["master/tasks_killed"] += 1
                framework.completed_tasks.append(task)
            for key in executors:
                del agent.executors[key]
            if keys:
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
                "framework_updated": {"framework": self.framework_json(framework)},
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

    # --- offers: decline and accept -------------------------------------------------------

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
            call = call.replace(operations=self._drop_unauthorized(framework, call, unauthorized))
        error = self._validate_offers(framework, call)
        if error is not None:
            log.warning("ACCEPT from framework %s with invalid offers: %s", framework.id, error)
            for offer_id in call.offer_ids:
                offer = self.offers.get(offer_id.value)
                if offer is not None and offer.framework_id == framework.id:
                    self.rescind_offer(offer.id, notify=False)
            state = TaskState.TASK_DROPPED if framework.partition_aware else TaskState.TASK_LOST
            for operation in call.operations:
                for task in _tasks_of(operation):
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
        remaining = Resources()
        for offer in taken:
            remaining = remaining + offer.resources
        launched_ids: set[str] = set()
        for operation in call.operations:
            remaining = self._apply_operation(
                framework, agent, role, operation, remaining, launched_ids
            )
        if remaining:
            self.allocator.recover(agent.id, framework.id, remaining, refuse_seconds=refuse)
        self.request_allocation(agent.id)

    def _drop_unauthorized(
        self, framework: Framework, call: Accept, unauthorized: dict[str, str]
    ) -> list[Operation]:
        """The operations left once the tasks the ACLs refuse are answered TASK_ERROR (a
        task group goes as a whole); their resources stay in the offer."""
        kept = []
        for operation in call.operations:
            tasks = _tasks_of(operation)
            refused = [t for t in tasks if t.task_id.value in unauthorized]
            if not refused:
                kept.append(operation)
                continue
            if operation.type is OperationType.LAUNCH_GROUP:
                why = unauthorized[refused[0].task_id.value]
                for task in tasks:
                    self._task_error(
                        framework, task, why, StatusReason.REASON_TASK_GROUP_UNAUTHORIZED
                    )
                continue
            for task in refused:
                self._task_error(
                    framework,
                    task,
                    unauthorized[task.task_id.value],
                    StatusReason.REASON_TASK_UNAUTHORIZED,
                )
            left = [t for t in tasks if t.task_id.value not in unauthorized]
            if left:
                kept.append(operation.replace(launch=Launch(task_infos=left)))
        return kept

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

    def _apply_operation(  # noqa: PLR0917
        self,
        framework: Framework,
        agent: Agent,
        role: str,
        operation: Operation,
        remaining: Resources,
        launched_ids: set[str],
    ) -> Resources:
        kind = operation.type
        if kind is OperationType.LAUNCH and operation.launch is not None:
            for task in operation.launch.task_infos:
                remaining = self._launch_task(framework, agent, role, task, remaining, launched_ids)
            return remaining
        if kind is OperationType.LAUNCH_GROUP and operation.launch_group is not None:
            return self._launch_group(
                framework,
                agent,
                role,
                operation.launch_group.executor,
                operation.launch_group.task_group.tasks,
                remaining,
                launched_ids,
            )
        try:
            consumed, converted = _conversion(operation, role)
        except WireError as e:
            log.warning("Dropping invalid %s from framework %s: %s", kind.value, framework.id, e)
            return remaining
        if consumed is None or converted is None:
            log.warning("Ignoring unsupported operation %s", kind.value)
            return remaining
        if not remaining.contains(consumed):
            log.warning(
                "Dropping %s from framework %s: %s not in the offered resources",
                kind.value,
                framework.id,
                consumed,
            )
            return remaining
        self.allocator.update_allocation(agent.id, framework.id, consumed, converted)
        agent.total = agent.total - consumed.unallocated() + converted.unallocated()
        agent.checkpointed = _checkpointed(agent.total)
        agent.send(
            AgentEvent(
                type=AgentEventType.CHECKPOINT_RESOURCES,
                checkpoint_resources=CheckpointResources(resources=agent.checkpointed.to_wire()),
            )
        )
        log.info(
            "Applied %s of %s on agent %s for framework %s",
            kind.value,
            converted,
            agent.id,
            framework.id,
        )
        return remaining - consumed + converted

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
        self.counters["master/tasks_error"] += 1
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

    def _executor_resources(
        self, framework: Framework, agent: Agent, executor: ExecutorInfo, role: str
    ) -> tuple[Resources, bool, str | None]:
        """(resources a new executor takes, is it new, error)."""
        existing = agent.executors.get((framework.id, executor.executor_id.value))
        if existing is not None:
            if not executors_compatible(existing.info, executor):
                return (
                    Resources(),
                    False,
                    (
                        f"ExecutorInfo for {executor.executor_id.value} is not compatible with "
                        "the one of the running executor"
                    ),
                )
            return Resources(), False, None
        try:
            return with_allocation(executor.resources, role), True, None
        except WireError as e:
            return Resources(), False, f"Executor uses invalid resources: {e}"

    def _launch_task(  # noqa: PLR0917
        self,
        framework: Framework,
        agent: Agent,
        role: str,
        task: TaskInfo,
        remaining: Resources,
        launched_ids: set[str],
    ) -> Resources:
        error = validate_task(
            task,
            agent_id=agent.id,
            is_known=lambda tid: tid in framework.tasks or tid in launched_ids,
        )
        resources = Resources()
        executor_resources = Resources()
        new_executor = False
        if error is None:
            try:
                resources = with_allocation(task.resources, role)
            except WireError as e:
                error = f"Task uses invalid resources: {e}"
        if error is None and task.executor is not None:
            executor = task.executor.replace(framework_id=FrameworkID(value=framework.id))
            task = task.replace(executor=executor)
            executor_resources, new_executor, error = self._executor_resources(
                framework, agent, executor, role
            )
        if error is None and not remaining.contains(resources + executor_resources):
            error = (
                f"Task uses more resources {resources + executor_resources} than available "
                f"{remaining}"
            )
        if error is not None:
            self._task_error(framework, task, error)
            return remaining
        launched_ids.add(task.task_id.value)
        executor_id = task.executor.executor_id.value if task.executor else None
        if new_executor and task.executor is not None:
            agent.executors[(framework.id, executor_id)] = TrackedExecutor(  # type: ignore[index]
                info=task.executor,
                framework_id=framework.id,
                agent_id=agent.id,
                resources=executor_resources,
            )
        self._add_task(framework, agent, task, resources, executor_id)
        agent.send(
            AgentEvent(
                type=AgentEventType.RUN_TASK,
                run_task=RunTask(framework_info=framework.info, task=task),
            )
        )
        return remaining - resources - executor_resources

    def _launch_group(  # noqa: PLR0917
        self,
        framework: Framework,
        agent: Agent,
        role: str,
        executor: ExecutorInfo,
        tasks: list[TaskInfo],
        remaining: Resources,
        launched_ids: set[str],
    ) -> Resources:
        executor = executor.replace(framework_id=FrameworkID(value=framework.id))
        if executor.type is None:
            executor = executor.replace(type=ExecutorType.DEFAULT)
        error: str | None = None
        if not tasks:
            error = "Task group is empty"
        if error is None:
            error = validate_executor(executor)
        known: set[str] = set()
        total = Resources()
        parsed: list[Resources] = []
        for task in tasks:
            if error is not None:
                break
            error = validate_task(
                task,
                agent_id=agent.id,
                is_known=lambda tid: tid in framework.tasks or tid in launched_ids or tid in known,
                in_group=True,
            )
            known.add(task.task_id.value)
            if error is None:
                try:
                    parsed.append(with_allocation(task.resources, role))
                    total = total + parsed[-1]
                except WireError as e:
                    error = f"Task {task.task_id.value} uses invalid resources: {e}"
        executor_resources, new_executor = Resources(), False
        if error is None:
            executor_resources, new_executor, error = self._executor_resources(
                framework, agent, executor, role
            )
        if error is None and not remaining.contains(total + executor_resources):
            error = (
                f"Task group uses more resources {total + executor_resources} than available "
                f"{remaining}"
            )
        if error is not None:
            for task in tasks:
                self._task_error(framework, task, error, StatusReason.REASON_TASK_GROUP_INVALID)
            return remaining
        if new_executor:
            agent.executors[(framework.id, executor.executor_id.value)] = TrackedExecutor(
                info=executor,
                framework_id=framework.id,
                agent_id=agent.id,
                resources=executor_resources,
            )
        for task, resources in zip(tasks, parsed, strict=True):
            launched_ids.add(task.task_id.value)
            self._add_task(framework, agent, task, resources, executor.executor_id.value)
        agent.send(
            AgentEvent(
                type=AgentEventType.RUN_TASK_GROUP,
                run_task_group=RunTaskGroup(
                    framework_info=framework.info,
                    executor=executor,
                    task_group=_task_group(tasks),
                ),
            )
        )
        return remaining - total - executor_resources

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
        framework.tasks[tracked.id] = tracked
        agent.tasks[(framework.id, tracked.id)] = tracked
        if state is TaskState.TASK_STAGING:
            log.info(
                "Launching task %s of framework %s on agent %s", tracked.id, framework.id, agent.id
            )
        self.publish(
            lambda: {"type": "TASK_ADDED", "task_added": {"task": tracked.to_wire().to_json()}}
        )
        return tracked

    # --- other scheduler calls --------------------------------------------------------------

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
        agent.send(
            AgentEvent(
                type=AgentEventType.KILL_TASK,
                kill_task=KillTask(
                    framework_id=FrameworkID(value=framework.id),
                    task_id=call.task_id,
                    kill_policy=call.kill_policy,
                ),
            )
        )

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
        framework.tasks.pop(task.id, None)
        if agent is not None:
            agent.tasks.pop((framework.id, task.id), None)
            self.drain.task_changed(agent)
        framework.completed_tasks.append(task)

    def reconcile(self, framework: Framework, call: Reconcile) -> None:
        if not call.tasks:  # implicit: everything the master knows of this framework
            for task in list(framework.tasks.values()) + list(framework.unreachable_tasks.values()):
                self._send_update(framework, self._reconciled(task))
            return
        for item in call.tasks:
            task_id = item.task_id.value
            agent_id = item.agent_id.value if item.agent_id else None
            task = framework.tasks.get(task_id) or framework.unreachable_tasks.get(task_id)
            if task is not None:
                status = self._reconciled(task)
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

    # --- agents ---------------------------------------------------------------------------

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
            lambda: {"type": "AGENT_ADDED", "agent_added": {"agent": self.agent_json(agent)}}
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
            framework.unreachable_tasks.pop(task.task_id.value, None)
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
            framework.tasks[tracked.id] = tracked
            agent.tasks[(fid, tracked.id)] = tracked
            if not task.state.is_terminal:
                allocated[fid] = allocated[fid] + resources
            else:
                tracked.resources_recovered = True
        for executor in call.executors:
            fid = executor.framework_id.value if executor.framework_id else None
            framework = self.frameworks.get(fid) if fid else None
            if framework is None or fid in shutdown:
                continue
            role = framework.roles[0] if framework.roles else "*"
            try:
                resources = with_allocation(executor.resources, role)
            except WireError:
                resources = Resources()
            agent.executors[(fid, executor.executor_id.value)] = TrackedExecutor(
                info=executor, framework_id=fid, agent_id=agent.id, resources=resources
            )
            allocated[fid] = allocated[fid] + resources
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
            task.state, task.status = state, status
            task.statuses.append(status)
            framework.tasks.pop(task.id, None)
            framework.completed_tasks.append(task)
            self.counters[_state_counter(state)] += 1
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
        for (fid, tid), _task in list(agent.tasks.items()):
            framework = self.frameworks.get(fid)
            if framework is not None:
                framework.tasks.pop(tid, None)
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
                if agent.ponged and agent.connected:
                    agent.missed_pings = 0
                else:
                    agent.missed_pings += 1
                if agent.missed_pings >= self.flags.max_agent_ping_timeouts:
                    log.warning("Agent %s missed %d pings", agent.id, agent.missed_pings)
                    self._spawn(self.mark_unreachable(agent))
                    continue
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
            framework.tasks.pop(task.id, None)
            if task.state.is_terminal:
                framework.completed_tasks.append(task)
                continue
            if unreachable and framework.partition_aware:
                state, message = TaskState.TASK_UNREACHABLE, "Agent is unreachable"
                framework.unreachable_tasks[task.id] = task
            elif framework.partition_aware:
                state, message = TaskState.TASK_GONE, "Agent was removed"
                if by_operator:
                    state, message = TaskState.TASK_GONE_BY_OPERATOR, _GONE_BY_OPERATOR
                framework.completed_tasks.append(task)
            else:
                state = TaskState.TASK_LOST
                message = "Agent is unreachable" if unreachable else "Agent was removed"
                framework.completed_tasks.append(task)
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
                status = status.replace(unreachable_time=_time_info(now()))
            task.state = state
            task.status = status
            task.statuses.append(status)
            self.counters[_state_counter(state)] += 1
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
                framework.unreachable_tasks.pop(task.id, None)
                status = self._master_status(
                    task.id,
                    state,
                    StatusReason.REASON_AGENT_REMOVED_BY_OPERATOR
                    if by_operator
                    else StatusReason.REASON_AGENT_REMOVED,
                    _GONE_BY_OPERATOR
                    if by_operator
                    else "Agent was unreachable for too long and is gone",
                    agent_id=agent_id,
                    executor_id=task.executor_id,
                )
                task.state, task.status = state, status
                task.statuses.append(status)
                framework.completed_tasks.append(task)
                self.counters[_state_counter(state)] += 1
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
            task.state = status.state
            task.status = status
            # the task's history keeps no payloads (they may be large)
            task.statuses.append(status if status.data is None else status.replace(data=None))
            del task.statuses[:-MAX_STATUSES_KEPT]
            if previous is not status.state:
                self.counters[_state_counter(status.state)] += 1
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

    # --- maintenance -----------------------------------------------------------------------

    def agent_may_be_active(self, agent: Agent) -> bool:
        """Offers come from an agent unless its machine is DOWN or it was deactivated."""
        return self._machine_mode(agent) is not MachineMode.DOWN and not (
            self.drain.is_deactivated(agent.id)
        )

    def _machine_mode(self, agent: Agent) -> MachineMode:
        for machine, mode in self.machines.items():
            if machine.matches(agent.info.hostname, agent.ip):
                return mode
        return MachineMode.UP

    async def update_maintenance_schedule(self, schedule: MaintenanceSchedule) -> str | None:
        error = validate_schedule(schedule)
        if error is not None:
            return error
        scheduled = schedule.machines()
        machines: dict[MachineID, MachineMode] = {}
        for machine, mode in self.machines.items():
            if mode is MachineMode.DOWN:
                if machine not in scheduled:
                    return f"Machine {machine.to_json()} is DOWN and must stay scheduled"
                machines[machine] = mode
        for machine in scheduled:
            machines.setdefault(machine, MachineMode.DRAINING)
        await self.registry.update_maintenance(
            schedule, [MachineInfo(id=m, mode=mode) for m, mode in machines.items()]
        )
        self.schedule = schedule
        self.machines = machines
        return None

    async def start_maintenance(self, machines: list[MachineID]) -> str | None:
        for machine in machines:
            if machine not in self.machines:
                return f"Machine {machine.to_json()} is not part of a maintenance schedule"
        updated = dict(self.machines)
        for machine in machines:
            updated[machine] = MachineMode.DOWN
        await self.registry.update_maintenance(
            self.schedule, [MachineInfo(id=m, mode=mode) for m, mode in updated.items()]
        )
        self.machines = updated
        for agent in self.agents.values():
            if agent.active and self._machine_mode(agent) is MachineMode.DOWN:
                agent.active = False
                self.allocator.deactivate_agent(agent.id)
                for offer_id in list(agent.offers):
                    self.rescind_offer(offer_id)
                log.info("Agent %s deactivated: its machine is DOWN", agent.id)
        return None

    async def stop_maintenance(self, machines: list[MachineID]) -> str | None:
        for machine in machines:
            if self.machines.get(machine) is not MachineMode.DOWN:
                return f"Machine {machine.to_json()} is not DOWN"
        updated = {m: mode for m, mode in self.machines.items() if m not in machines}
        windows = []
        for window in self.schedule.windows:
            left = [m for m in window.machine_ids if m not in machines]
            if left:
                windows.append(window.replace(machine_ids=left))
        schedule = MaintenanceSchedule(windows=windows)
        await self.registry.update_maintenance(
            schedule, [MachineInfo(id=m, mode=mode) for m, mode in updated.items()]
        )
        self.schedule = schedule
        self.machines = updated
        for agent in self.agents.values():
            if not agent.active and self.agent_may_be_active(agent):
                agent.active = True
                self.allocator.activate_agent(agent.id)
                self.request_allocation(agent.id)
                log.info("Agent %s reactivated: its machine is UP", agent.id)
        return None

    # --- views for the operator API ---------------------------------------------------------

    def offered(self, framework_id: str | None = None, agent_id: str | None = None) -> Resources:
        total = Resources()
        for offer in self.offers.values():
            if framework_id is not None and offer.framework_id != framework_id:
                continue
            if agent_id is not None and offer.agent_id != agent_id:
                continue
            total = total + offer.resources
        return total

    def used_by_framework(self, framework: Framework) -> Resources:
        used = Resources()
        for task in framework.tasks.values():
            if not task.state.is_terminal:
                used = used + task.resources
        for agent in self.agents.values():
            for (fid, _eid), executor in agent.executors.items():
                if fid == framework.id:
                    used = used + executor.resources
        return used

    def framework_json(self, framework: Framework) -> dict:
        out: dict[str, Any] = {
            "framework_info": framework.info.to_json(),
            "active": framework.active and framework.connected,
            "connected": framework.connected,
            "recovered": framework.recovered,
            "registered_time": _time_info(framework.registered_time).to_json(),
            "offers": [o.offer.to_json() for o in framework.offers.values()],
            "allocated_resources": [
                r.to_json() for r in self.used_by_framework(framework).to_wire()
            ],
            "offered_resources": [r.to_json() for r in self.offered(framework.id).to_wire()],
        }
        if framework.reregistered_time:
            out["reregistered_time"] = _time_info(framework.reregistered_time).to_json()
        if framework.unregistered_time:
            out["unregistered_time"] = _time_info(framework.unregistered_time).to_json()
        return out

    def agent_json(self, agent: Agent) -> dict:
        info = agent.info.replace(resources=agent.total.to_wire())
        out: dict[str, Any] = {
            "agent_info": info.to_json(),
            "active": agent.active and agent.connected,
            "deactivated": not (agent.active and agent.connected),
            "version": agent.version or MESOS_API_VERSION,
            "pid": agent.pid,
            "registered_time": _time_info(agent.registered_time).to_json(),
            "total_resources": [r.to_json() for r in agent.total.to_wire()],
            "allocated_resources": [r.to_json() for r in agent.used().to_wire()],
            "offered_resources": [r.to_json() for r in self.offered(agent_id=agent.id).to_wire()],
            "capabilities": [],
        }
        if agent.reregistered_time:
            out["reregistered_time"] = _time_info(agent.reregistered_time).to_json()
        out.update(self.drain.agent_json(agent.id))  # deactivated, drain_info
        return out


# --- helpers ---------------------------------------------------------------------------------


def _time_info(seconds: float) -> Any:
    from mesos_runtime.wire.mesos import TimeInfo

    return TimeInfo(nanoseconds=int(seconds * 1e9))


_STATE_COUNTERS = {
    TaskState.TASK_STARTING: "master/tasks_starting",
    TaskState.TASK_RUNNING: "master/tasks_running",
    TaskState.TASK_KILLING: "master/tasks_killing",
    TaskState.TASK_FINISHED: "master/tasks_finished",
    TaskState.TASK_FAILED: "master/tasks_failed",
    TaskState.TASK_KILLED: "master/tasks_killed",
    TaskState.TASK_LOST: "master/tasks_lost",
    TaskState.TASK_ERROR: "master/tasks_error",
    TaskState.TASK_DROPPED: "master/tasks_dropped",
    TaskState.TASK_UNREACHABLE: "master/tasks_unreachable",
    TaskState.TASK_GONE: "master/tasks_gone",
    TaskState.TASK_GONE_BY_OPERATOR: "master/tasks_gone_by_operator",
}


def _state_counter(state: TaskState) -> str:
    """Counter of transitions into a terminal state (gauges are computed from the tasks)."""
    return _STATE_COUNTERS.get(state, "master/tasks_other") + "_total"


def _tasks_of(operation: Operation) -> list[TaskInfo]:
    if operation.type is OperationType.LAUNCH and operation.launch is not None:
        return list(operation.launch.task_infos)
    if operation.type is OperationType.LAUNCH_GROUP and operation.launch_group is not None:
        return list(operation.launch_group.task_group.tasks)
    return []


def _task_group(tasks: list[TaskInfo]) -> Any:
    from mesos_runtime.wire.mesos import TaskGroupInfo

    return TaskGroupInfo(tasks=tasks)


def _reconcile_task(call: Kill) -> Any:
    from mesos_runtime.wire.scheduler import ReconcileTask

    return ReconcileTask(task_id=call.task_id, agent_id=call.agent_id)


def _conversion(operation: Operation, role: str) -> tuple[Resources | None, Resources | None]:
    """RESERVE/UNRESERVE/CREATE/DESTROY as (consumed, converted) allocated resources."""
    kind = operation.type
    if kind is OperationType.RESERVE and operation.reserve is not None:
        wanted = with_allocation(operation.reserve.resources, role)
        for key, _value in wanted:
            if not key.reservations or key.reservations[-1].type != "DYNAMIC":
                raise WireError(f"RESERVE of '{key.name}' needs a dynamic reservation")
        return wanted.pop_reservation(), wanted
    if kind is OperationType.UNRESERVE and operation.unreserve is not None:
        reserved = with_allocation(operation.unreserve.resources, role)
        for key, _value in reserved:
            if not key.reservations or key.reservations[-1].type != "DYNAMIC":
                raise WireError(f"UNRESERVE of '{key.name}' that is not dynamically reserved")
            if key.disk is not None:
                raise WireError("UNRESERVE of a persistent volume: DESTROY it first")
        return reserved, reserved.pop_reservation()
    if kind is OperationType.CREATE and operation.create is not None:
        volumes = with_allocation(operation.create.volumes, role)
        for key, _value in volumes:
            if key.disk is None or not key.reservations:
                raise WireError("CREATE needs reserved disk with a persistence id")
        return volumes.without_volumes(), volumes
    if kind is OperationType.DESTROY and operation.destroy is not None:
        volumes = with_allocation(operation.destroy.volumes, role)
        for key, _value in volumes:
            if key.disk is None:
                raise WireError("DESTROY of a resource that is not a persistent volume")
        return volumes, volumes.without_volumes()
    return None, None


def _checkpointed(total: Resources) -> Resources:
    """What the agent must remember: dynamic reservations and persistent volumes."""
    return total.filter(
        lambda k: k.disk is not None or any(r.type == "DYNAMIC" for r in k.reservations)
    )


def _apply_checkpointed(static: Resources, checkpointed: Resources) -> Resources:
    """The agent's total: its own resources with checkpointed reservations/volumes applied."""
    total = static
    for key, value in checkpointed:
        base = Key(key.name, tuple(r for r in key.reservations if r.type != "DYNAMIC"))
        total = total - Resources({base: value}) + Resources({key: value})
    return total
