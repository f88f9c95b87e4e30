"""Calls and events of the v1 executor API (`mesos/v1/executor/executor.proto`)."""

from __future__ import annotations

import enum

from .mesos import (
    AgentInfo,
    ContainerID,
    ExecutorID,
    ExecutorInfo,
    FrameworkID,
    FrameworkInfo,
    KillPolicy,
    TaskGroupInfo,
    TaskID,
    TaskInfo,
    TaskStatus,
)
from .record import Record, record, repeated, required


class ExecutorCallType(enum.Enum):
    UNKNOWN = "UNKNOWN"
    SUBSCRIBE = "SUBSCRIBE"
    UPDATE = "UPDATE"
    MESSAGE = "MESSAGE"


@record
class UnacknowledgedUpdate(Record):
    framework_id: FrameworkID | None = None
    status: TaskStatus = required()


@record
class ExecutorSubscribe(Record):
    unacknowledged_tasks: list[TaskInfo] = repeated()
    unacknowledged_updates: list[TaskStatus] = repeated()


@record
class ExecutorUpdate(Record):
    status: TaskStatus = required()


@record
class ExecutorMessage(Record):
    data: bytes = required()


@record
class ExecutorCall(Record):
    executor_id: ExecutorID = required()
    framework_id: FrameworkID = required()
    type: ExecutorCallType = required()
    subscribe: ExecutorSubscribe | None = None
    update: ExecutorUpdate | None = None
    message: ExecutorMessage | None = None


class ExecutorEventType(enum.Enum):
    UNKNOWN = "UNKNOWN"
    SUBSCRIBED = "SUBSCRIBED"
    LAUNCH = "LAUNCH"
    LAUNCH_GROUP = "LAUNCH_GROUP"
    KILL = "KILL"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    MESSAGE = "MESSAGE"
    ERROR = "ERROR"
    SHUTDOWN = "SHUTDOWN"
    HEARTBEAT = "HEARTBEAT"


@record
class ExecutorSubscribed(Record):
    executor_info: ExecutorInfo = required()
    framework_info: FrameworkInfo = required()
    agent_info: AgentInfo = required()
    container_id: ContainerID | None = None


@record
class ExecutorLaunch(Record):
    task: TaskInfo = required()


@record
class ExecutorLaunchGroup(Record):
    task_group: TaskGroupInfo = required()


@record
class ExecutorKill(Record):
    task_id: TaskID = required()
    kill_policy: KillPolicy | None = None


@record
class ExecutorAcknowledged(Record):
    task_id: TaskID = required()
    uuid: bytes = required()


@record
class ExecutorEventMessage(Record):
    data: bytes = required()


@record
class ExecutorError(Record):
    message: str = required()


@record
class ExecutorEvent(Record):
    type: ExecutorEventType = required()
    subscribed: ExecutorSubscribed | None = None
    launch: ExecutorLaunch | None = None
    launch_group: ExecutorLaunchGroup | None = None
    kill: ExecutorKill | None = None
    acknowledged: ExecutorAcknowledged | None = None
    message: ExecutorEventMessage | None = None
    error: ExecutorError | None = None
