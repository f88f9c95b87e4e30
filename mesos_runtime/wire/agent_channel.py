"""The agent <-> master channel, version 1 (the runtime's own; Mesos uses libprocess here).

The agent opens it: `POST /agent/v1` on the leading master with an `AgentCall` of type
`SUBSCRIBE` is answered by a chunked RecordIO stream of `AgentEvent`s, first `REGISTERED`,
then whatever the master asks of the agent (`RUN_TASK`, `KILL_TASK`, `ACKNOWLEDGE`,
`PING`, ...). Everything the agent tells the master after that is another `AgentCall`
POSTed to the same path (202 Accepted). See docs/agent-channel.md.
"""

from __future__ import annotations

import enum

from .mesos import (
    AgentID,
    AgentInfo,
    ExecutorID,
    ExecutorInfo,
    FrameworkID,
    FrameworkInfo,
    KillPolicy,
    MasterInfo,
    Resource,
    Task,
    TaskGroupInfo,
    TaskID,
    TaskInfo,
    TaskStatus,
)
from .record import Record, optional, record, repeated, required

CHANNEL_VERSION = 3  # the newest version this runtime speaks
MIN_CHANNEL_VERSION = 1  # the oldest it still accepts
# version 2: an UPDATE call may carry several updates in `updates` (one POST for a burst);
# an agent sends it only when both its SUBSCRIBE and the master's REGISTERED say >= 2
BATCHED_UPDATES_VERSION = 2
# version 3: REGISTERED carries a `session` secret that every later call of that agent
# must carry, so that no other process can act as the agent (forged UPDATEs, UNREGISTER)
SESSION_VERSION = 3
CHANNEL_PATH = "/agent/v1"


class AgentCallType(enum.Enum):
    UNKNOWN = "UNKNOWN"
    SUBSCRIBE = "SUBSCRIBE"  # register (no agent_info.id) or re-register (with it)
    PONG = "PONG"  # answers a PING
    UPDATE = "UPDATE"  # task status update(s), with a uuid: retried until ACKNOWLEDGEd
    MESSAGE = "MESSAGE"  # executor -> framework message
    EXECUTOR_EXITED = "EXECUTOR_EXITED"  # becomes the scheduler's FAILURE event
    UNREGISTER = "UNREGISTER"  # orderly agent shutdown: the master removes the agent


@record
class AgentSubscribe(Record):
    agent_info: AgentInfo = required()  # with `id` when re-registering
    version: int | None = None  # CHANNEL_VERSION the agent speaks
    runtime_version: str | None = None
    # what the agent already runs, so that a (new) master can rebuild its view
    frameworks: list[FrameworkInfo] = repeated()
    executors: list[ExecutorInfo] = repeated()
    tasks: list[Task] = repeated()
    # checkpointed resources: dynamic reservations and persistent volumes
    checkpointed_resources: list[Resource] = repeated()


@record
class AgentUpdate(Record):
    framework_id: FrameworkID = required()
    status: TaskStatus = required()  # carries `uuid`; `executor_id` when from an executor


@record
class AgentMessage(Record):
    framework_id: FrameworkID = required()
    executor_id: ExecutorID = required()
    data: bytes = required()


@record
class ExecutorExited(Record):
    framework_id: FrameworkID = required()
    executor_id: ExecutorID = required()
    status: int | None = None  # wait status of the executor process


@record
class AgentCall(Record):
    type: AgentCallType = required()
    agent_id: AgentID | None = None  # required on every call but SUBSCRIBE
    session: str | None = optional(max_length=256)  # version 3: the REGISTERED session
    subscribe: AgentSubscribe | None = None
    update: AgentUpdate | None = None
    updates: list[AgentUpdate] = repeated()  # version 2: several updates, in order
    message: AgentMessage | None = None
    executor_exited: ExecutorExited | None = None


class AgentEventType(enum.Enum):
    UNKNOWN = "UNKNOWN"
    REGISTERED = "REGISTERED"
    RUN_TASK = "RUN_TASK"
    RUN_TASK_GROUP = "RUN_TASK_GROUP"
    KILL_TASK = "KILL_TASK"
    SHUTDOWN_EXECUTOR = "SHUTDOWN_EXECUTOR"
    SHUTDOWN_FRAMEWORK = "SHUTDOWN_FRAMEWORK"
    ACKNOWLEDGE = "ACKNOWLEDGE"
    MESSAGE = "MESSAGE"  # framework -> executor
    CHECKPOINT_RESOURCES = "CHECKPOINT_RESOURCES"
    UPDATE_FRAMEWORK = "UPDATE_FRAMEWORK"
    PING = "PING"
    SHUTDOWN = "SHUTDOWN"  # the master removed this agent: kill everything and stop


@record
class Registered(Record):
    agent_id: AgentID = required()
    master_info: MasterInfo = required()
    ping_interval_seconds: float | None = None  # the master PINGs at this interval
    version: int | None = None
    session: str | None = optional(max_length=256)  # version 3: carried by every later call


@record
class RunTask(Record):
    framework_info: FrameworkInfo = required()  # with `id`
    task: TaskInfo = required()  # `executor` set for a custom executor, else `command`


@record
class RunTaskGroup(Record):
    framework_info: FrameworkInfo = required()
    executor: ExecutorInfo = required()
    task_group: TaskGroupInfo = required()


@record
class KillTask(Record):
    framework_id: FrameworkID = required()
    task_id: TaskID = required()
    kill_policy: KillPolicy | None = None


@record
class ShutdownExecutor(Record):
    framework_id: FrameworkID = required()
    executor_id: ExecutorID = required()


@record
class ShutdownFramework(Record):
    framework_id: FrameworkID = required()


@record
class AcknowledgeUpdate(Record):
    framework_id: FrameworkID = required()
    task_id: TaskID = required()
    uuid: bytes = required()


@record
class FrameworkToExecutor(Record):
    framework_id: FrameworkID = required()
    executor_id: ExecutorID = required()
    data: bytes = required()


@record
class CheckpointResources(Record):
    resources: list[Resource] = repeated()  # the agent's full set of checkpointed resources


@record
class UpdateFrameworkInfo(Record):
    framework_info: FrameworkInfo = required()


@record
class AgentShutdown(Record):
    message: str | None = None


@record
class AgentEvent(Record):
    type: AgentEventType = required()
    registered: Registered | None = None
    run_task: RunTask | None = None
    run_task_group: RunTaskGroup | None = None
    kill_task: KillTask | None = None
    shutdown_executor: ShutdownExecutor | None = None
    shutdown_framework: ShutdownFramework | None = None
    acknowledge: AcknowledgeUpdate | None = None
    message: FrameworkToExecutor | None = None
    checkpoint_resources: CheckpointResources | None = None
    update_framework: UpdateFrameworkInfo | None = None
    shutdown: AgentShutdown | None = None
