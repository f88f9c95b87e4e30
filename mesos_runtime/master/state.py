"""What the master holds in memory: frameworks, agents, offers, executors and tasks.

Typed records with their own bookkeeping (a framework's and an agent's task indexes, a
task's status history, as Mesos' `Framework::addTask/removeTask`); the rules that change
them live in the master's modules (master.py and its parts).

Event streams (to schedulers, agents, operator subscribers) take typed event
records, encode each once as it is queued, and the HTTP layer drains the RecordIO bytes.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field
from typing import Any

from mesos_runtime.wire import recordio
from mesos_runtime.wire.agent_channel import AgentEvent, KillTask
from mesos_runtime.wire.mesos import (
    AgentID,
    AgentInfo,
    ExecutorID,
    ExecutorInfo,
    FrameworkCapabilityType,
    FrameworkID,
    FrameworkInfo,
    Offer,
    Task,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from mesos_runtime.wire.record import Record
from mesos_runtime.wire.resources import Resources
from mesos_runtime.wire.scheduler import Event

MAX_COMPLETED_TASKS = 1000
MAX_COMPLETED_FRAMEWORKS = 50
MAX_STATUSES_KEPT = 10


class EventStream:
    """One open streaming response: events queued here are written by its HTTP handler
    (one reader: the handler that serves the stream)."""

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        self._records: collections.deque[bytes] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None  # the reader, waiting
        self.closed = False

    def send(self, event: Record) -> None:
        """Queue a typed event (scheduler Event, AgentEvent), encoded here once."""
        if not self.closed:
            self._put(recordio.encode_json(event.to_json()))

    def send_json(self, event: dict[str, Any]) -> None:
        """Queue an event that exists only as JSON: the operator API's master::Event
        (its GET_STATE payload is built as JSON by views.py; there is no record for it)."""
        if not self.closed:
            self._put(recordio.encode_json(event))

    def _put(self, record: bytes) -> None:
        self._records.append(record)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        """End the stream: the handler finishes the response after what is queued."""
        if not self.closed:
            self.closed = True
            self._wake()

    def drain(self) -> bytes:
        """Everything queued, joined (one write for a burst), without waiting."""
        if not self._records:
            return b""
        records = self._records[0] if len(self._records) == 1 else b"".join(self._records)
        self._records.clear()
        return records

    async def next(self, timeout: float | None) -> bytes | None:
        """The next records, joined; b"" when `timeout` passes quietly; None when the
        stream is closed and everything queued before that was returned."""
        if not self._records:
            if self.closed:
                return None
            # a bare future and timer: cheaper than a Queue and wait_for per burst
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = None if timeout is None else loop.call_later(timeout, self._wake)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
            if not self._records:
                return None if self.closed else b""
        return self.drain()


@dataclass(slots=True, eq=False)
class TrackedTask:
    """A task the master knows, with its latest status."""

    info: TaskInfo
    framework_id: str
    agent_id: str
    resources: Resources  # with allocation_info: what returns to the allocator at the end
    state: TaskState
    executor_id: str | None = None
    status: TaskStatus | None = None  # latest known
    statuses: list[TaskStatus] = field(default_factory=list)
    user: str | None = None
    resources_recovered: bool = False

    @property
    def id(self) -> str:
        return self.info.task_id.value

    def update(self, status: TaskStatus) -> None:
        """A new status: the latest, and the last of a history kept short (and without
        payloads, which may be large)."""
        self.state = status.state
        self.status = status
        self.statuses.append(status if status.data is None else status.replace(data=None))
        del self.statuses[:-MAX_STATUSES_KEPT]

    def to_wire(self) -> Task:
        return Task(
            name=self.info.name,
            task_id=self.info.task_id,
            framework_id=FrameworkID(value=self.framework_id),
            executor_id=ExecutorID(value=self.executor_id) if self.executor_id else None,
            agent_id=AgentID(value=self.agent_id),
            state=self.state,
            resources=self.resources.to_wire(),
            statuses=[s.replace(data=None, uuid=None) for s in self.statuses],
            labels=self.info.labels,
            discovery=self.info.discovery,
            container=self.info.container,
            health_check=self.info.health_check,
            kill_policy=self.info.kill_policy,
            user=self.user,
            status_update_state=self.state,
            status_update_uuid=self.status.uuid if self.status else None,
        )


@dataclass(slots=True, eq=False)
class TrackedExecutor:
    info: ExecutorInfo
    framework_id: str
    agent_id: str
    resources: Resources


@dataclass(slots=True, eq=False)
class OutstandingOffer:
    offer: Offer
    resources: Resources  # with allocation_info
    timer: asyncio.TimerHandle | None = None

    @property
    def id(self) -> str:
        return self.offer.id.value

    @property
    def framework_id(self) -> str:
        return self.offer.framework_id.value

    @property
    def agent_id(self) -> str:
        return self.offer.agent_id.value


@dataclass(slots=True, eq=False)
class Framework:
    info: FrameworkInfo  # always with `id`
    registered_time: float
    reregistered_time: float | None = None
    unregistered_time: float | None = None
    stream: EventStream | None = None
    active: bool = True
    # known from an agent's report or the registry, but not (yet) re-subscribed
    recovered: bool = False
    suppressed_roles: set[str] = field(default_factory=set)
    tasks: dict[str, TrackedTask] = field(default_factory=dict)
    unreachable_tasks: dict[str, TrackedTask] = field(default_factory=dict)
    completed_tasks: collections.deque[TrackedTask] = field(
        default_factory=lambda: collections.deque(maxlen=MAX_COMPLETED_TASKS)
    )
    offers: dict[str, OutstandingOffer] = field(default_factory=dict)
    failover_timer: asyncio.TimerHandle | None = None

    @property
    def id(self) -> str:
        assert self.info.id is not None
        return self.info.id.value

    @property
    def connected(self) -> bool:
        return self.stream is not None and not self.stream.closed

    @property
    def partition_aware(self) -> bool:
        return self.info.has_capability(FrameworkCapabilityType.PARTITION_AWARE)

    @property
    def roles(self) -> list[str]:
        return self.info.effective_roles()

    def send(self, event: Event) -> None:
        if self.stream is not None:
            self.stream.send(event)

    # --- task bookkeeping -------------------------------------------------------------

    def add_task(self, task: TrackedTask) -> None:
        self.unreachable_tasks.pop(task.id, None)
        self.tasks[task.id] = task

    def complete_task(self, task: TrackedTask) -> None:
        """The task is over (terminal, or its agent is gone): keep it among the completed."""
        self.tasks.pop(task.id, None)
        self.unreachable_tasks.pop(task.id, None)
        self.completed_tasks.append(task)

    def task_unreachable(self, task: TrackedTask) -> None:
        """Its agent is unreachable: the task may come back when the agent does."""
        self.tasks.pop(task.id, None)
        self.unreachable_tasks[task.id] = task

    def forget_task(self, task_id: str) -> None:
        """Drop it without a trace: its agent re-registers and reports it afresh."""
        self.tasks.pop(task_id, None)


@dataclass(slots=True, eq=False)
class Agent:
    info: AgentInfo  # always with `id`; `resources` are the agent's own (static) ones
    ip: str
    registered_time: float
    reregistered_time: float | None = None
    stream: EventStream | None = None
    active: bool = True  # false while its machine is DOWN for maintenance
    total: Resources = field(default_factory=Resources)  # with checkpointed resources applied
    checkpointed: Resources = field(default_factory=Resources)
    tasks: dict[tuple[str, str], TrackedTask] = field(default_factory=dict)
    executors: dict[tuple[str, str], TrackedExecutor] = field(default_factory=dict)
    offers: set[str] = field(default_factory=set)
    missed_pings: int = 0
    ponged: bool = True
    version: str | None = None
    session: str | None = None  # channel version 3: every call must carry it
    principal: str | None = None  # who registered it (when it authenticated)
    # KILLs asked for while it was disconnected: sent when it re-registers (Mesos'
    # `Slave::killedTasks`), for the tasks it still runs
    pending_kills: dict[tuple[str, str], KillTask] = field(default_factory=dict)

    @property
    def id(self) -> str:
        assert self.info.id is not None
        return self.info.id.value

    @property
    def connected(self) -> bool:
        return self.stream is not None and not self.stream.closed

    @property
    def port(self) -> int:
        return self.info.port or 5051

    @property
    def pid(self) -> str:
        return f"slave(1)@{self.ip}:{self.port}"

    def send(self, event: AgentEvent) -> bool:
        if self.stream is None or self.stream.closed:
            return False
        self.stream.send(event)
        return True

    # --- task bookkeeping -------------------------------------------------------------

    def add_task(self, task: TrackedTask) -> None:
        self.tasks[(task.framework_id, task.id)] = task

    def remove_task(self, task: TrackedTask) -> None:
        self.tasks.pop((task.framework_id, task.id), None)

    def tasks_of(self, framework_id: str) -> list[TrackedTask]:
        return [t for (fid, _tid), t in self.tasks.items() if fid == framework_id]

    def executors_of(self, framework_id: str) -> list[TrackedExecutor]:
        return [e for (fid, _eid), e in self.executors.items() if fid == framework_id]

    def remove_executor(self, executor: TrackedExecutor) -> None:
        self.executors.pop((executor.framework_id, executor.info.executor_id.value), None)

    def used(self) -> Resources:
        used = Resources()
        for task in self.tasks.values():
            if not task.state.is_terminal:
                used = used + task.resources
        for executor in self.executors.values():
            used = used + executor.resources
        return used


@dataclass(slots=True, eq=False)
class UnreachableAgentState:
    info: AgentInfo
    timestamp: float
