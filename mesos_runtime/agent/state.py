"""The agent's model of what it runs: frameworks, their executors (each in one container)
and the executors' tasks, as Mesos' agent keeps them, plus how they are reported in
`/state` and to the master on re-registration.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mesos_runtime.wire.mesos import (
    AgentID,
    ExecutorInfo,
    FrameworkID,
    FrameworkInfo,
    Task,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from mesos_runtime.wire.resources import Resources

from .isolation import IsolationState

MAX_COMPLETED_TASKS_PER_EXECUTOR = 200
MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK = 150
MAX_COMPLETED_FRAMEWORKS = 50
MAX_STATUSES_PER_TASK = 20


class ExecutorKind(enum.Enum):
    COMMAND = "command"  # built-in, in the agent: one task with `command`
    DEFAULT = "default"  # built-in, in the agent: task groups (LAUNCH_GROUP)
    CUSTOM = "custom"  # the framework's executor program on /api/v1/executor


class ExecutorPhase(enum.Enum):
    REGISTERING = "REGISTERING"
    RUNNING = "RUNNING"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"


@dataclass(slots=True)
class AgentTask:
    """A task on this agent: its TaskInfo and the latest state its executor reported."""

    info: TaskInfo
    framework_id: FrameworkID
    executor_id: str
    state: TaskState = TaskState.TASK_STAGING
    statuses: list[TaskStatus] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.info.task_id.value

    def record_status(self, status: TaskStatus) -> None:
        self.state = status.state
        self.statuses.append(status)
        if len(self.statuses) > MAX_STATUSES_PER_TASK:
            del self.statuses[1 : -MAX_STATUSES_PER_TASK + 1]

    def to_task(self, agent_id: AgentID, pending: list[TaskStatus] | None = None) -> Task:
        head = pending[0] if pending else None
        return Task(
            name=self.info.name,
            task_id=self.info.task_id,
            framework_id=self.framework_id,
            executor_id=self.info.executor.executor_id if self.info.executor else None,
            agent_id=agent_id,
            state=self.state,
            resources=self.info.resources,
            statuses=[s.replace(uuid=None) for s in self.statuses],
            status_update_state=head.state if head else None,
            status_update_uuid=head.uuid if head else None,
            labels=self.info.labels,
            discovery=self.info.discovery,
            container=self.info.container,
            health_check=self.info.health_check,
            kill_policy=self.info.kill_policy,
        )


class ExecutorRuntime(Protocol):
    """What runs an executor's tasks: the built-in executors or a custom executor session."""

    def launch(self, tasks: list[TaskInfo]) -> None: ...
    def kill_task(self, task_id: str, grace_period: float | None) -> None: ...
    def shutdown(self) -> None: ...
    def acknowledged(self, task_id: str, uuid: bytes) -> None: ...
    def framework_message(self, data: bytes) -> None: ...


@dataclass(slots=True)
class Executor:
    """One executor of a framework and its container (one run: `container_id`)."""

    info: ExecutorInfo
    framework_id: FrameworkID
    kind: ExecutorKind
    container_id: str
    directory: Path  # the sandbox
    meta: Path  # the run's checkpoint directory
    isolation: IsolationState | None = None
    phase: ExecutorPhase = ExecutorPhase.REGISTERING
    queued: dict[str, AgentTask] = field(default_factory=dict)  # not yet given to the executor
    launched: dict[str, AgentTask] = field(default_factory=dict)
    terminated: dict[str, AgentTask] = field(default_factory=dict)  # terminal, not yet acked
    completed: deque[AgentTask] = field(
        default_factory=lambda: deque(maxlen=MAX_COMPLETED_TASKS_PER_EXECUTOR)
    )
    runtime: ExecutorRuntime | None = None
    pid: int | None = None  # the executor process (custom executors)

    @property
    def id(self) -> str:
        return self.info.executor_id.value

    def task(self, task_id: str) -> AgentTask | None:
        return (
            self.queued.get(task_id) or self.launched.get(task_id) or self.terminated.get(task_id)
        )

    def live_tasks(self) -> list[AgentTask]:
        return [*self.queued.values(), *self.launched.values()]

    def resources(self) -> Resources:
        total = Resources.from_wire(self.info.resources) if self.info.resources else Resources()
        for task in self.live_tasks():
            total = total + Resources.from_wire(task.info.resources)
        return total

    def is_idle(self) -> bool:
        return not self.queued and not self.launched and not self.terminated

    def state_json(self, agent_id: AgentID | None) -> dict[str, Any]:
        aid = agent_id or AgentID(value="")
        return {
            "id": self.id,
            "name": self.info.name or "",
            "source": self.info.source or "",
            "container": self.container_id,
            "directory": str(self.directory),
            "type": self.info.type.value if self.info.type else "CUSTOM",
            "resources": _resources_json(self.resources()),
            "framework_id": self.framework_id.value,
            "tasks": [_task_json(t, aid) for t in self.launched.values()]
            + [_task_json(t, aid) for t in self.terminated.values()],
            "queued_tasks": [_task_json(t, aid) for t in self.queued.values()],
            "completed_tasks": [_task_json(t, aid) for t in self.completed],
        }


@dataclass(slots=True)
class Framework:
    info: FrameworkInfo
    executors: dict[str, Executor] = field(default_factory=dict)
    completed_executors: deque[Executor] = field(
        default_factory=lambda: deque(maxlen=MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK)
    )
    task_executors: dict[str, str] = field(default_factory=dict)  # task id -> executor id
    removed: bool = False  # shut down by the master: its updates can never be acknowledged

    @property
    def id(self) -> FrameworkID:
        assert self.info.id is not None
        return self.info.id

    def state_json(self, agent_id: AgentID | None) -> dict[str, Any]:
        info = self.info
        return {
            "id": self.id.value,
            "name": info.name,
            "user": info.user,
            "role": info.role or "*",
            "roles": info.effective_roles(),
            "checkpoint": bool(info.checkpoint),
            "failover_timeout": info.failover_timeout or 0,
            "hostname": info.hostname or "",
            "capabilities": [c.type.value for c in info.capabilities],
            "executors": [e.state_json(agent_id) for e in self.executors.values()],
            "completed_executors": [e.state_json(agent_id) for e in self.completed_executors],
        }


def _task_json(task: AgentTask, agent_id: AgentID) -> dict[str, Any]:
    out = task.to_task(agent_id).to_json()
    out["id"] = task.id
    out["slave_id"] = agent_id.value
    out["executor_id"] = task.executor_id
    out["framework_id"] = task.framework_id.value
    out["resources"] = _resources_json(Resources.from_wire(task.info.resources))
    return out


def _resources_json(resources: Resources) -> dict[str, Any]:
    """Mesos' state endpoints summarize resources: scalars as numbers, ports as text."""
    out: dict[str, Any] = {"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}
    out.update(resources.quantities())
    ports = resources.ports()
    if ports:
        out["ports"] = "[" + ", ".join(f"{b}-{e}" for b, e in ports) + "]"
    return out


def resources_json(resources: Resources) -> dict[str, Any]:
    return _resources_json(resources)


class ExecutorHost(Protocol):
    """What an executor runtime reports back to the agent."""

    def task_status(self, executor: Executor, status: TaskStatus) -> None: ...

    def executor_terminated(self, executor: Executor, exit_status: int | None) -> None: ...

    def executor_launch_failed(self, executor: Executor, message: str) -> None: ...
