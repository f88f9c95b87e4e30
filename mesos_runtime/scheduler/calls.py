"""Builders of v1 scheduler `Call`s: one function per call type, typed records in and out.

Pure functions (no I/O), so the client's helpers and tests share one definition of how a
call looks on the wire. Ids may be given as records or plain strings.
"""

from __future__ import annotations

from collections.abc import Iterable

from mesos_runtime.wire.mesos import (
    AgentID,
    Create,
    Destroy,
    ExecutorID,
    ExecutorInfo,
    Filters,
    FrameworkID,
    FrameworkInfo,
    KillPolicy,
    Launch,
    LaunchGroup,
    OfferID,
    Operation,
    OperationType,
    Reserve,
    Resource,
    TaskGroupInfo,
    TaskID,
    TaskInfo,
    TaskStatus,
    Unreserve,
)
from mesos_runtime.wire.scheduler import (
    Accept,
    Acknowledge,
    Call,
    CallType,
    Decline,
    Kill,
    Message,
    Reconcile,
    ReconcileTask,
    Revive,
    Shutdown,
    Subscribe,
    Suppress,
    UpdateFramework,
)

OfferRef = OfferID | str
TaskRef = TaskID | str
AgentRef = AgentID | str


def _offer_ids(offer_ids: Iterable[OfferRef]) -> list[OfferID]:
    return [o if isinstance(o, OfferID) else OfferID(value=o) for o in offer_ids]


def _task_id(task_id: TaskRef) -> TaskID:
    return task_id if isinstance(task_id, TaskID) else TaskID(value=task_id)


def _agent_id(agent_id: AgentRef) -> AgentID:
    return agent_id if isinstance(agent_id, AgentID) else AgentID(value=agent_id)


def _filters(filters: Filters | float | None) -> Filters | None:
    if filters is None or isinstance(filters, Filters):
        return filters
    return Filters(refuse_seconds=float(filters))


def subscribe(framework_info: FrameworkInfo, suppressed_roles: Iterable[str] = ()) -> Call:
    return Call(
        type=CallType.SUBSCRIBE,
        framework_id=framework_info.id,
        subscribe=Subscribe(framework_info=framework_info, suppressed_roles=list(suppressed_roles)),
    )


def accept(
    offer_ids: Iterable[OfferRef],
    operations: Iterable[Operation],
    filters: Filters | float | None = None,
) -> Call:
    return Call(
        type=CallType.ACCEPT,
        accept=Accept(
            offer_ids=_offer_ids(offer_ids), operations=list(operations), filters=_filters(filters)
        ),
    )


def launch_operation(tasks: Iterable[TaskInfo]) -> Operation:
    return Operation(type=OperationType.LAUNCH, launch=Launch(task_infos=list(tasks)))


def launch_group_operation(executor: ExecutorInfo, tasks: Iterable[TaskInfo]) -> Operation:
    return Operation(
        type=OperationType.LAUNCH_GROUP,
        launch_group=LaunchGroup(executor=executor, task_group=TaskGroupInfo(tasks=list(tasks))),
    )


def reserve_operation(resources: Iterable[Resource]) -> Operation:
    return Operation(type=OperationType.RESERVE, reserve=Reserve(resources=list(resources)))


def unreserve_operation(resources: Iterable[Resource]) -> Operation:
    return Operation(type=OperationType.UNRESERVE, unreserve=Unreserve(resources=list(resources)))


def create_operation(volumes: Iterable[Resource]) -> Operation:
    return Operation(type=OperationType.CREATE, create=Create(volumes=list(volumes)))


def destroy_operation(volumes: Iterable[Resource]) -> Operation:
    return Operation(type=OperationType.DESTROY, destroy=Destroy(volumes=list(volumes)))


def decline(offer_ids: Iterable[OfferRef], filters: Filters | float | None = None) -> Call:
    return Call(
        type=CallType.DECLINE,
        decline=Decline(offer_ids=_offer_ids(offer_ids), filters=_filters(filters)),
    )


def revive(roles: Iterable[str] = ()) -> Call:
    roles = list(roles)
    return Call(type=CallType.REVIVE, revive=Revive(roles=roles) if roles else None)


def suppress(roles: Iterable[str] = ()) -> Call:
    roles = list(roles)
    return Call(type=CallType.SUPPRESS, suppress=Suppress(roles=roles) if roles else None)


def kill(
    task_id: TaskRef, agent_id: AgentRef | None = None, kill_policy: KillPolicy | None = None
) -> Call:
    return Call(
        type=CallType.KILL,
        kill=Kill(
            task_id=_task_id(task_id),
            agent_id=None if agent_id is None else _agent_id(agent_id),
            kill_policy=kill_policy,
        ),
    )


def shutdown(executor_id: ExecutorID | str, agent_id: AgentRef) -> Call:
    executor = executor_id if isinstance(executor_id, ExecutorID) else ExecutorID(value=executor_id)
    return Call(
        type=CallType.SHUTDOWN,
        shutdown=Shutdown(executor_id=executor, agent_id=_agent_id(agent_id)),
    )


def acknowledge(status: TaskStatus) -> Call:
    """ACKNOWLEDGE a status update; only updates that carry a `uuid` need one."""
    if status.uuid is None or status.agent_id is None:
        raise ValueError(
            f"status update for task {status.task_id.value} carries no uuid/agent_id: "
            "it needs no acknowledgement"
        )
    return Call(
        type=CallType.ACKNOWLEDGE,
        acknowledge=Acknowledge(agent_id=status.agent_id, task_id=status.task_id, uuid=status.uuid),
    )


def reconcile(tasks: Iterable[tuple[TaskRef, AgentRef | None]] = ()) -> Call:
    """Explicit reconciliation of (task, agent) pairs; no pairs means implicit."""
    return Call(
        type=CallType.RECONCILE,
        reconcile=Reconcile(
            tasks=[
                ReconcileTask(task_id=_task_id(t), agent_id=None if a is None else _agent_id(a))
                for t, a in tasks
            ]
        ),
    )


def message(agent_id: AgentRef, executor_id: ExecutorID | str, data: bytes) -> Call:
    executor = executor_id if isinstance(executor_id, ExecutorID) else ExecutorID(value=executor_id)
    return Call(
        type=CallType.MESSAGE,
        message=Message(agent_id=_agent_id(agent_id), executor_id=executor, data=data),
    )


def update_framework(framework_info: FrameworkInfo, suppressed_roles: Iterable[str] = ()) -> Call:
    """UPDATE_FRAMEWORK: change a subscribed framework's FrameworkInfo (name, roles, ...)."""
    return Call(
        type=CallType.UPDATE_FRAMEWORK,
        framework_id=framework_info.id,
        update_framework=UpdateFramework(
            framework_info=framework_info, suppressed_roles=list(suppressed_roles)
        ),
    )


def teardown() -> Call:
    return Call(type=CallType.TEARDOWN)


def with_framework(call: Call, framework_id: FrameworkID | None) -> Call:
    """The call stamped with the framework's id (every call but the first SUBSCRIBE has it)."""
    if call.framework_id is not None or framework_id is None:
        return call
    return call.replace(framework_id=framework_id)
