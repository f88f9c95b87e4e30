"""The launch planner: what an ACCEPT does, decided without touching the master's state.

Operations in, steps out: the tasks and task groups to run (with the executors they
start), the reservation/volume conversions to apply and the tasks refused with TASK_ERROR,
in the order the operations came. `offers.py` applies a plan; this module only reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mesos_runtime.wire.mesos import (
    ExecutorInfo,
    ExecutorType,
    FrameworkID,
    Launch,
    Operation,
    OperationType,
    StatusReason,
    TaskGroupInfo,
    TaskInfo,
)
from mesos_runtime.wire.record import WireError
from mesos_runtime.wire.resources import Resources

from .validation import executors_compatible, validate_executor, validate_task, with_allocation


@dataclass(frozen=True, slots=True)
class TaskRefusal:
    """A task answered TASK_ERROR: its resources stay in the offer."""

    task: TaskInfo
    message: str
    reason: StatusReason = StatusReason.REASON_TASK_INVALID


@dataclass(frozen=True, slots=True)
class LaunchTasks:
    """A LAUNCH of one task (`group` False) or a LAUNCH_GROUP, as the agent receives it."""

    tasks: list[TaskInfo]  # executors carry the framework id
    resources: list[Resources]  # each task's, with allocation_info
    executor: ExecutorInfo | None
    executor_resources: Resources  # what a new executor takes (empty if it runs already)
    new_executor: bool
    group: bool

    def task_group(self) -> TaskGroupInfo:
        return TaskGroupInfo(tasks=self.tasks)


@dataclass(frozen=True, slots=True)
class Conversion:
    """RESERVE/UNRESERVE/CREATE/DESTROY: `consumed` allocated resources become `converted`."""

    type: OperationType
    consumed: Resources
    converted: Resources


Step = TaskRefusal | LaunchTasks | Conversion


@dataclass(slots=True)
class AcceptPlan:
    steps: list[Step] = field(default_factory=list)
    remaining: Resources = field(default_factory=Resources)  # back to the allocator
    dropped: list[str] = field(default_factory=list)  # operations ignored, and why


def tasks_of(operation: Operation) -> list[TaskInfo]:
    if operation.type is OperationType.LAUNCH and operation.launch is not None:
        return list(operation.launch.task_infos)
    if operation.type is OperationType.LAUNCH_GROUP and operation.launch_group is not None:
        return list(operation.launch_group.task_group.tasks)
    return []


def refuse_unauthorized(
    operations: list[Operation], unauthorized: dict[str, str]
) -> tuple[list[Operation], list[TaskRefusal]]:
    """The operations left once the tasks the ACLs refuse are taken out (a task group
    goes as a whole), and those tasks' refusals."""
    kept: list[Operation] = []
    refusals: list[TaskRefusal] = []
    for operation in operations:
        tasks = tasks_of(operation)
        refused = [t for t in tasks if t.task_id.value in unauthorized]
        if not refused:
            kept.append(operation)
            continue
        if operation.type is OperationType.LAUNCH_GROUP:
            why = unauthorized[refused[0].task_id.value]
            refusals += [
                TaskRefusal(t, why, StatusReason.REASON_TASK_GROUP_UNAUTHORIZED) for t in tasks
            ]
            continue
        refusals += [
            TaskRefusal(t, unauthorized[t.task_id.value], StatusReason.REASON_TASK_UNAUTHORIZED)
            for t in refused
        ]
        left = [t for t in tasks if t.task_id.value not in unauthorized]
        if left:
            kept.append(operation.replace(launch=Launch(task_infos=left)))
    return kept, refusals


class _Planner:
    """One ACCEPT's planning: what is left of the offers, and what it launched so far."""

    def __init__(  # noqa: PLR0917
        self,
        framework_id: str,
        agent_id: str,
        role: str,
        offered: Resources,
        is_known: Callable[[str], bool],
        running_executor: Callable[[str], ExecutorInfo | None],
    ) -> None:
        self.framework_id = framework_id
        self.agent_id = agent_id
        self.role = role
        self.is_known = is_known
        self.running_executor = running_executor
        self.plan = AcceptPlan(remaining=offered)
        self.launched_ids: set[str] = set()
        self.new_executors: dict[str, ExecutorInfo] = {}  # started by this ACCEPT

    def operation(self, operation: Operation) -> None:
        kind = operation.type
        if kind is OperationType.LAUNCH and operation.launch is not None:
            for task in operation.launch.task_infos:
                self.launch_task(task)
            return
        if kind is OperationType.LAUNCH_GROUP and operation.launch_group is not None:
            self.launch_group(
                operation.launch_group.executor, operation.launch_group.task_group.tasks
            )
            return
        try:
            consumed, converted = conversion(operation, self.role)
        except WireError as e:
            self.plan.dropped.append(f"invalid {kind.value}: {e}")
            return
        if consumed is None or converted is None:
            self.plan.dropped.append(f"unsupported operation {kind.value}")
            return
        if not self.plan.remaining.contains(consumed):
            self.plan.dropped.append(f"{kind.value}: {consumed} not in the offered resources")
            return
        self.plan.steps.append(Conversion(kind, consumed, converted))
        self.plan.remaining = self.plan.remaining - consumed + converted

    def _known(self, task_id: str) -> bool:
        return self.is_known(task_id) or task_id in self.launched_ids

    def _executor_resources(self, executor: ExecutorInfo) -> tuple[Resources, bool, str | None]:
        """(resources a new executor takes, is it new, error)."""
        eid = executor.executor_id.value
        existing = self.new_executors.get(eid) or self.running_executor(eid)
        if existing is not None:
            if not executors_compatible(existing, executor):
                return (
                    Resources(),
                    False,
                    (
                        f"ExecutorInfo for {eid} is not compatible with "
                        "the one of the running executor"
                    ),
                )
            return Resources(), False, None
        try:
            return with_allocation(executor.resources, self.role), True, None
        except WireError as e:
            return Resources(), False, f"Executor uses invalid resources: {e}"

    def launch_task(self, task: TaskInfo) -> None:
        error = validate_task(task, agent_id=self.agent_id, is_known=self._known)
        resources = Resources()
        executor_resources = Resources()
        new_executor = False
        if error is None:
            try:
                resources = with_allocation(task.resources, self.role)
            except WireError as e:
                error = f"Task uses invalid resources: {e}"
        if error is None and task.executor is not None:
            executor = task.executor.replace(framework_id=FrameworkID(value=self.framework_id))
            task = task.replace(executor=executor)
            executor_resources, new_executor, error = self._executor_resources(executor)
        remaining = self.plan.remaining
        if error is None and not remaining.contains(resources + executor_resources):
            error = (
                f"Task uses more resources {resources + executor_resources} than available "
                f"{remaining}"
            )
        if error is not None:
            self.plan.steps.append(TaskRefusal(task, error))
            return
        self.launched_ids.add(task.task_id.value)
        if new_executor and task.executor is not None:
            self.new_executors[task.executor.executor_id.value] = task.executor
        self.plan.steps.append(
            LaunchTasks(
                tasks=[task],
                resources=[resources],
                executor=task.executor,
                executor_resources=executor_resources,
                new_executor=new_executor,
                group=False,
            )
        )
        self.plan.remaining = remaining - resources - executor_resources

    def launch_group(self, executor: ExecutorInfo, tasks: list[TaskInfo]) -> None:
        executor = executor.replace(framework_id=FrameworkID(value=self.framework_id))
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
                agent_id=self.agent_id,
                is_known=lambda tid: self._known(tid) or tid in known,
                in_group=True,
            )
            known.add(task.task_id.value)
            if error is None:
                try:
                    parsed.append(with_allocation(task.resources, self.role))
                    total = total + parsed[-1]
                except WireError as e:
                    error = f"Task {task.task_id.value} uses invalid resources: {e}"
        executor_resources, new_executor = Resources(), False
        if error is None:
            executor_resources, new_executor, error = self._executor_resources(executor)
        remaining = self.plan.remaining
        if error is None and not remaining.contains(total + executor_resources):
            error = (
                f"Task group uses more resources {total + executor_resources} than available "
                f"{remaining}"
            )
        if error is not None:
            self.plan.steps += [
                TaskRefusal(t, error, StatusReason.REASON_TASK_GROUP_INVALID) for t in tasks
            ]
            return
        if new_executor:
            self.new_executors[executor.executor_id.value] = executor
        self.launched_ids.update(t.task_id.value for t in tasks)
        self.plan.steps.append(
            LaunchTasks(
                tasks=list(tasks),
                resources=parsed,
                executor=executor,
                executor_resources=executor_resources,
                new_executor=new_executor,
                group=True,
            )
        )
        self.plan.remaining = remaining - total - executor_resources


def plan_accept(  # noqa: PLR0917
    operations: list[Operation],
    framework_id: str,
    agent_id: str,
    role: str,
    offered: Resources,
    is_known: Callable[[str], bool],
    running_executor: Callable[[str], ExecutorInfo | None],
) -> AcceptPlan:
    """Plan the operations of one ACCEPT of `offered` (one agent's offers, one role).

    `is_known(task_id)`: the framework already has such a task; `running_executor(id)`:
    the ExecutorInfo of the framework's executor of that id on the agent, if it runs.
    """
    planner = _Planner(framework_id, agent_id, role, offered, is_known, running_executor)
    for operation in operations:
        planner.operation(operation)
    return planner.plan


def conversion(operation: Operation, role: str) -> tuple[Resources | None, Resources | None]:
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
