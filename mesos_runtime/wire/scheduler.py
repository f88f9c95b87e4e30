"""Calls and events of the v1 scheduler API (`mesos/v1/scheduler/scheduler.proto`)."""

from __future__ import annotations

import enum

from .mesos import (
    AgentID,
    ExecutorID,
    Filters,
    FrameworkID,
    FrameworkInfo,
    KillPolicy,
    MasterInfo,
    Offer,
    OfferID,
    Operation,
    Request,
    TaskID,
    TaskStatus,
)
from .record import Record, record, repeated, required


class CallType(enum.Enum):
    UNKNOWN = "UNKNOWN"
    SUBSCRIBE = "SUBSCRIBE"
    TEARDOWN = "TEARDOWN"
    ACCEPT = "ACCEPT"
    DECLINE = "DECLINE"
    ACCEPT_INVERSE_OFFERS = "ACCEPT_INVERSE_OFFERS"
    DECLINE_INVERSE_OFFERS = "DECLINE_INVERSE_OFFERS"
    REVIVE = "REVIVE"
    KILL = "KILL"
    SHUTDOWN = "SHUTDOWN"
    ACKNOWLEDGE = "ACKNOWLEDGE"
    ACKNOWLEDGE_OPERATION_STATUS = "ACKNOWLEDGE_OPERATION_STATUS"
    RECONCILE = "RECONCILE"
    RECONCILE_OPERATIONS = "RECONCILE_OPERATIONS"
    MESSAGE = "MESSAGE"
    REQUEST = "REQUEST"
    SUPPRESS = "SUPPRESS"
    UPDATE_FRAMEWORK = "UPDATE_FRAMEWORK"


@record
class Subscribe(Record):
    framework_info: FrameworkInfo = required()
    suppressed_roles: list[str] = repeated()


@record
class Accept(Record):
    offer_ids: list[OfferID] = repeated()
    operations: list[Operation] = repeated()
    filters: Filters | None = None


@record
class Decline(Record):
    offer_ids: list[OfferID] = repeated()
    filters: Filters | None = None


@record
class Revive(Record):
    roles: list[str] = repeated()


@record
class Suppress(Record):
    roles: list[str] = repeated()


@record
class Kill(Record):
    task_id: TaskID = required()
    agent_id: AgentID | None = None
    kill_policy: KillPolicy | None = None


@record
class Shutdown(Record):
    executor_id: ExecutorID = required()
    agent_id: AgentID = required()


@record
class Acknowledge(Record):
    agent_id: AgentID = required()
    task_id: TaskID = required()
    uuid: bytes = required()


@record
class ReconcileTask(Record):
    task_id: TaskID = required()
    agent_id: AgentID | None = None


@record
class Reconcile(Record):
    tasks: list[ReconcileTask] = repeated()


@record
class Message(Record):
    agent_id: AgentID = required()
    executor_id: ExecutorID = required()
    data: bytes = required()


@record
class RequestCall(Record):
    requests: list[Request] = repeated()


@record
class UpdateFramework(Record):
    framework_info: FrameworkInfo = required()
    suppressed_roles: list[str] = repeated()


@record
class Call(Record):
    framework_id: FrameworkID | None = None
    type: CallType = required()
    subscribe: Subscribe | None = None
    accept: Accept | None = None
    decline: Decline | None = None
    revive: Revive | None = None
    kill: Kill | None = None
    shutdown: Shutdown | None = None
    acknowledge: Acknowledge | None = None
    reconcile: Reconcile | None = None
    message: Message | None = None
    request: RequestCall | None = None
    suppress: Suppress | None = None
    update_framework: UpdateFramework | None = None


class EventType(enum.Enum):
    UNKNOWN = "UNKNOWN"
    SUBSCRIBED = "SUBSCRIBED"
    OFFERS = "OFFERS"
    INVERSE_OFFERS = "INVERSE_OFFERS"
    RESCIND = "RESCIND"
    RESCIND_INVERSE_OFFER = "RESCIND_INVERSE_OFFER"
    UPDATE = "UPDATE"
    UPDATE_OPERATION_STATUS = "UPDATE_OPERATION_STATUS"
    MESSAGE = "MESSAGE"
    FAILURE = "FAILURE"
    ERROR = "ERROR"
    HEARTBEAT = "HEARTBEAT"


@record
class Subscribed(Record):
    framework_id: FrameworkID = required()
    heartbeat_interval_seconds: float | None = None
    master_info: MasterInfo | None = None


@record
class Offers(Record):
    offers: list[Offer] = repeated()
    inverse_offers: list[dict] = repeated()


@record
class Rescind(Record):
    offer_id: OfferID = required()


@record
class Update(Record):
    status: TaskStatus = required()


@record
class EventMessage(Record):
    agent_id: AgentID = required()
    executor_id: ExecutorID = required()
    data: bytes = required()


@record
class Failure(Record):
    agent_id: AgentID | None = None
    executor_id: ExecutorID | None = None
    status: int | None = None


@record
class Error(Record):
    message: str = required()


@record
class Event(Record):
    type: EventType = required()
    subscribed: Subscribed | None = None
    offers: Offers | None = None
    rescind: Rescind | None = None
    update: Update | None = None
    message: EventMessage | None = None
    failure: Failure | None = None
    error: Error | None = None
