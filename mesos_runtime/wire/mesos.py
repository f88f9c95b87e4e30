"""Records of `mesos/v1/mesos.proto` that the runtime speaks: ids, resources, offers,
tasks, executors, statuses. Field names and enum spellings are Mesos' own; only the
fields this runtime uses or passes through are declared (unknown fields are ignored).
"""

from __future__ import annotations

import enum
import random
import time
import uuid as uuidlib

from .bounds import MAX_HOSTNAME, MAX_NAME, check_id, check_text
from .errors import WireError
from .record import Record, optional, record, repeated, required

# --- identifiers ---------------------------------------------------------------------


@record(frozen=True)
class FrameworkID(Record):
    value: str = required(check=check_id)


@record(frozen=True)
class AgentID(Record):
    value: str = required(check=check_id)


@record(frozen=True)
class OfferID(Record):
    value: str = required(check=check_id)


@record(frozen=True)
class TaskID(Record):
    value: str = required(check=check_id)


@record(frozen=True)
class ExecutorID(Record):
    value: str = required(check=check_id)


@record(frozen=True)
class ContainerID(Record):
    value: str = required(check=check_id)


@record(frozen=True)
class OperationID(Record):
    value: str = required(check=check_id)


def random_uuid() -> uuidlib.UUID:
    """A version 4 UUID. Ids and status update uuids need uniqueness, not secrecy: the
    stdlib's generator (seeded from the OS, reseeded after fork) saves uuid4's getrandom()
    call per id, which releases and re-takes the GIL on the agent's hot path."""
    return uuidlib.UUID(int=random.getrandbits(128), version=4)


def new_id() -> str:
    return str(random_uuid())


# --- small shared records ------------------------------------------------------------


@record
class Label(Record):
    key: str = required(max_length=MAX_NAME)
    value: str | None = None


@record
class Labels(Record):
    labels: list[Label] = repeated()


@record
class DurationInfo(Record):
    nanoseconds: int = required()

    @classmethod
    def of_seconds(cls, seconds: float) -> DurationInfo:
        return cls(nanoseconds=int(seconds * 1e9))

    @property
    def seconds(self) -> float:
        return self.nanoseconds / 1e9


@record
class TimeInfo(Record):
    nanoseconds: int = required()


@record
class Address(Record):
    hostname: str | None = None
    ip: str | None = None
    port: int = required()


@record
class URL(Record):
    scheme: str = required()
    address: Address = required()
    path: str | None = None


# --- resources -----------------------------------------------------------------------


class ValueType(enum.Enum):
    SCALAR = "SCALAR"
    RANGES = "RANGES"
    SET = "SET"
    TEXT = "TEXT"


@record
class Scalar(Record):
    value: float = required()


@record
class Range(Record):
    begin: int = required()
    end: int = required()


@record
class Ranges(Record):
    range: list[Range] = repeated()


@record
class ValueSet(Record):
    item: list[str] = repeated()


@record
class Text(Record):
    value: str = required()


class ReservationType(enum.Enum):
    UNKNOWN = "UNKNOWN"
    STATIC = "STATIC"
    DYNAMIC = "DYNAMIC"


@record
class ReservationInfo(Record):
    type: ReservationType | None = None
    role: str | None = None
    principal: str | None = None
    labels: Labels | None = None


@record
class AllocationInfo(Record):
    role: str | None = None


@record
class Persistence(Record):
    id: str = required(check=check_id)
    principal: str | None = None


class VolumeMode(enum.Enum):
    RW = "RW"
    RO = "RO"


@record
class Volume(Record):
    container_path: str = required()
    host_path: str | None = None
    mode: VolumeMode | None = None


@record
class DiskInfo(Record):
    persistence: Persistence | None = None
    volume: Volume | None = None


@record
class Resource(Record):
    name: str = required(max_length=MAX_NAME)
    type: ValueType = required()
    scalar: Scalar | None = None
    ranges: Ranges | None = None
    set: ValueSet | None = None
    role: str | None = None  # pre-reservation-refinement format; "*" is unreserved
    reservation: ReservationInfo | None = None  # pre-refinement dynamic reservation
    reservations: list[ReservationInfo] = repeated()
    allocation_info: AllocationInfo | None = None
    disk: DiskInfo | None = None
    shared: dict | None = None
    provider_id: dict | None = None


@record
class Attribute(Record):
    name: str = required(max_length=MAX_NAME)
    type: ValueType = required()
    scalar: Scalar | None = None
    ranges: Ranges | None = None
    set: ValueSet | None = None
    text: Text | None = None


# --- commands, executors, tasks -------------------------------------------------------


@record
class URI(Record):
    value: str = required()
    executable: bool | None = None
    extract: bool | None = None
    cache: bool | None = None
    output_file: str | None = None
    # not in mesos.proto: Infinity's fetcher verifies artifacts ("sha256:<hex>"/"sha512:<hex>")
    checksum: str | None = None


class VariableType(enum.Enum):
    UNKNOWN = "UNKNOWN"
    VALUE = "VALUE"
    SECRET = "SECRET"


@record
class Variable(Record):
    name: str = required()
    type: VariableType | None = None
    value: str | None = None


@record
class Environment(Record):
    variables: list[Variable] = repeated()


@record
class CommandInfo(Record):
    uris: list[URI] = repeated()
    environment: Environment | None = None
    shell: bool | None = None  # default true
    value: str | None = None
    arguments: list[str] = repeated()
    user: str | None = optional(max_length=MAX_NAME, check=check_text)


class ExecutorType(enum.Enum):
    UNKNOWN = "UNKNOWN"
    DEFAULT = "DEFAULT"
    CUSTOM = "CUSTOM"


@record
class ExecutorInfo(Record):
    type: ExecutorType | None = None
    executor_id: ExecutorID = required()
    framework_id: FrameworkID | None = None
    command: CommandInfo | None = None
    container: dict | None = None
    resources: list[Resource] = repeated()
    name: str | None = optional(max_length=MAX_NAME)
    source: str | None = optional(max_length=MAX_NAME)
    data: bytes | None = None
    shutdown_grace_period: DurationInfo | None = None
    labels: Labels | None = None


class HealthCheckType(enum.Enum):
    UNKNOWN = "UNKNOWN"
    COMMAND = "COMMAND"
    HTTP = "HTTP"
    TCP = "TCP"


@record
class HTTPCheckInfo(Record):
    scheme: str | None = None
    port: int = required()
    path: str | None = None
    statuses: list[int] = repeated()


@record
class TCPCheckInfo(Record):
    port: int = required()


@record
class HealthCheck(Record):
    type: HealthCheckType | None = None
    command: CommandInfo | None = None
    http: HTTPCheckInfo | None = None
    tcp: TCPCheckInfo | None = None
    delay_seconds: float | None = None  # default 15
    interval_seconds: float | None = None  # default 10
    timeout_seconds: float | None = None  # default 20
    consecutive_failures: int | None = None  # default 3
    grace_period_seconds: float | None = None  # default 10


@record
class KillPolicy(Record):
    grace_period: DurationInfo | None = None


@record
class TaskInfo(Record):
    name: str = required(max_length=MAX_NAME)
    task_id: TaskID = required()
    agent_id: AgentID = required()
    resources: list[Resource] = repeated()
    executor: ExecutorInfo | None = None
    command: CommandInfo | None = None
    container: dict | None = None
    health_check: HealthCheck | None = None
    check: dict | None = None
    kill_policy: KillPolicy | None = None
    data: bytes | None = None
    labels: Labels | None = None
    discovery: dict | None = None
    max_completion_time: DurationInfo | None = None


@record
class TaskGroupInfo(Record):
    tasks: list[TaskInfo] = repeated()


# --- task states and statuses ---------------------------------------------------------


class TaskState(enum.Enum):
    TASK_STAGING = "TASK_STAGING"
    TASK_STARTING = "TASK_STARTING"
    TASK_RUNNING = "TASK_RUNNING"
    TASK_KILLING = "TASK_KILLING"
    TASK_FINISHED = "TASK_FINISHED"
    TASK_FAILED = "TASK_FAILED"
    TASK_KILLED = "TASK_KILLED"
    TASK_ERROR = "TASK_ERROR"
    TASK_LOST = "TASK_LOST"
    TASK_DROPPED = "TASK_DROPPED"
    TASK_UNREACHABLE = "TASK_UNREACHABLE"
    TASK_GONE = "TASK_GONE"
    TASK_GONE_BY_OPERATOR = "TASK_GONE_BY_OPERATOR"
    TASK_UNKNOWN = "TASK_UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {
        TaskState.TASK_FINISHED,
        TaskState.TASK_FAILED,
        TaskState.TASK_KILLED,
        TaskState.TASK_ERROR,
        TaskState.TASK_LOST,
        TaskState.TASK_DROPPED,
        TaskState.TASK_GONE,
        TaskState.TASK_GONE_BY_OPERATOR,
    }
)
# the task's agent will not come back: its tasks and reservations went with it
AGENT_GONE_STATES = frozenset({TaskState.TASK_GONE, TaskState.TASK_GONE_BY_OPERATOR})
# the task's agent is not there: gone, or unreachable (it may come back)
AGENT_AWAY_STATES = AGENT_GONE_STATES | {TaskState.TASK_UNREACHABLE, TaskState.TASK_LOST}


class StatusSource(enum.Enum):
    SOURCE_MASTER = "SOURCE_MASTER"
    SOURCE_AGENT = "SOURCE_AGENT"
    SOURCE_EXECUTOR = "SOURCE_EXECUTOR"


class StatusReason(enum.Enum):
    REASON_COMMAND_EXECUTOR_FAILED = "REASON_COMMAND_EXECUTOR_FAILED"
    REASON_CONTAINER_LAUNCH_FAILED = "REASON_CONTAINER_LAUNCH_FAILED"
    REASON_CONTAINER_LIMITATION = "REASON_CONTAINER_LIMITATION"
    REASON_CONTAINER_LIMITATION_DISK = "REASON_CONTAINER_LIMITATION_DISK"
    REASON_CONTAINER_LIMITATION_MEMORY = "REASON_CONTAINER_LIMITATION_MEMORY"
    REASON_CONTAINER_PREEMPTED = "REASON_CONTAINER_PREEMPTED"
    REASON_CONTAINER_UPDATE_FAILED = "REASON_CONTAINER_UPDATE_FAILED"
    REASON_EXECUTOR_REGISTRATION_TIMEOUT = "REASON_EXECUTOR_REGISTRATION_TIMEOUT"
    REASON_EXECUTOR_REREGISTRATION_TIMEOUT = "REASON_EXECUTOR_REREGISTRATION_TIMEOUT"
    REASON_EXECUTOR_TERMINATED = "REASON_EXECUTOR_TERMINATED"
    REASON_EXECUTOR_UNREGISTERED = "REASON_EXECUTOR_UNREGISTERED"
    REASON_FRAMEWORK_REMOVED = "REASON_FRAMEWORK_REMOVED"
    REASON_GC_ERROR = "REASON_GC_ERROR"
    REASON_INVALID_FRAMEWORKID = "REASON_INVALID_FRAMEWORKID"
    REASON_INVALID_OFFERS = "REASON_INVALID_OFFERS"
    REASON_MASTER_DISCONNECTED = "REASON_MASTER_DISCONNECTED"
    REASON_RECONCILIATION = "REASON_RECONCILIATION"
    REASON_RESOURCES_UNKNOWN = "REASON_RESOURCES_UNKNOWN"
    REASON_AGENT_DISCONNECTED = "REASON_AGENT_DISCONNECTED"
    REASON_AGENT_DRAINING = "REASON_AGENT_DRAINING"
    REASON_AGENT_REMOVED = "REASON_AGENT_REMOVED"
    REASON_AGENT_REMOVED_BY_OPERATOR = "REASON_AGENT_REMOVED_BY_OPERATOR"
    REASON_AGENT_REREGISTERED = "REASON_AGENT_REREGISTERED"
    REASON_AGENT_RESTARTED = "REASON_AGENT_RESTARTED"
    REASON_AGENT_UNKNOWN = "REASON_AGENT_UNKNOWN"
    REASON_TASK_KILLED_DURING_LAUNCH = "REASON_TASK_KILLED_DURING_LAUNCH"
    REASON_TASK_CHECK_STATUS_UPDATED = "REASON_TASK_CHECK_STATUS_UPDATED"
    REASON_TASK_HEALTH_CHECK_STATUS_UPDATED = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
    REASON_TASK_GROUP_INVALID = "REASON_TASK_GROUP_INVALID"
    REASON_TASK_GROUP_UNAUTHORIZED = "REASON_TASK_GROUP_UNAUTHORIZED"
    REASON_TASK_INVALID = "REASON_TASK_INVALID"
    REASON_TASK_UNAUTHORIZED = "REASON_TASK_UNAUTHORIZED"
    REASON_TASK_UNKNOWN = "REASON_TASK_UNKNOWN"
    REASON_MAX_COMPLETION_TIME_REACHED = "REASON_MAX_COMPLETION_TIME_REACHED"
    REASON_IO_SWITCHBOARD_EXITED = "REASON_IO_SWITCHBOARD_EXITED"


@record
class TaskStatus(Record):
    task_id: TaskID = required()
    state: TaskState = required()
    message: str | None = None
    source: StatusSource | None = None
    reason: StatusReason | None = None
    data: bytes | None = None
    agent_id: AgentID | None = None
    executor_id: ExecutorID | None = None
    timestamp: float | None = None
    uuid: bytes | None = None
    healthy: bool | None = None
    labels: Labels | None = None
    container_status: dict | None = None
    unreachable_time: TimeInfo | None = None


def status_uuid() -> bytes:
    return random_uuid().bytes


def now() -> float:
    return time.time()


@record
class Task(Record):
    """A task as the master and agent report it (mesos.proto `Task`)."""

    name: str = required()
    task_id: TaskID = required()
    framework_id: FrameworkID = required()
    executor_id: ExecutorID | None = None
    agent_id: AgentID = required()
    state: TaskState = required()
    resources: list[Resource] = repeated()
    statuses: list[TaskStatus] = repeated()
    status_update_state: TaskState | None = None
    status_update_uuid: bytes | None = None
    labels: Labels | None = None
    discovery: dict | None = None
    container: dict | None = None
    health_check: HealthCheck | None = None
    kill_policy: KillPolicy | None = None
    user: str | None = None


# --- frameworks, agents, masters ------------------------------------------------------


def _bounded_name(value: str, path: str) -> str:
    if len(value) > MAX_NAME:
        raise WireError(f"field '{path}' is longer than {MAX_NAME} characters")
    return value


class FrameworkCapabilityType(enum.Enum):
    UNKNOWN = "UNKNOWN"
    REVOCABLE_RESOURCES = "REVOCABLE_RESOURCES"
    TASK_KILLING_STATE = "TASK_KILLING_STATE"
    GPU_RESOURCES = "GPU_RESOURCES"
    SHARED_RESOURCES = "SHARED_RESOURCES"
    PARTITION_AWARE = "PARTITION_AWARE"
    MULTI_ROLE = "MULTI_ROLE"
    RESERVATION_REFINEMENT = "RESERVATION_REFINEMENT"
    REGION_AWARE = "REGION_AWARE"


@record
class FrameworkCapability(Record):
    type: FrameworkCapabilityType = required()


@record
class FrameworkInfo(Record):
    user: str = required(max_length=MAX_NAME, check=check_text)
    name: str = required(max_length=MAX_NAME)
    id: FrameworkID | None = None
    failover_timeout: float | None = None  # seconds, default 0
    checkpoint: bool | None = None
    role: str | None = optional(max_length=MAX_NAME)  # deprecated single role
    roles: list[str] = repeated(max_length=1024, check=_bounded_name)
    hostname: str | None = optional(max_length=MAX_HOSTNAME)
    principal: str | None = optional(max_length=MAX_NAME, check=check_text)
    webui_url: str | None = optional(max_length=MAX_NAME)
    capabilities: list[FrameworkCapability] = repeated()
    labels: Labels | None = None
    offer_filters: dict | None = None

    def has_capability(self, kind: FrameworkCapabilityType) -> bool:
        return any(c.type is kind for c in self.capabilities)

    def effective_roles(self) -> list[str]:
        """MULTI_ROLE frameworks use `roles`; others their single `role` (default "*")."""
        if self.has_capability(FrameworkCapabilityType.MULTI_ROLE):
            return list(self.roles)
        return [self.role or "*"]


@record
class AgentInfo(Record):
    hostname: str = required(max_length=MAX_HOSTNAME, check=check_text)
    port: int | None = None
    resources: list[Resource] = repeated()
    attributes: list[Attribute] = repeated()
    id: AgentID | None = None
    domain: dict | None = None


@record
class MasterInfo(Record):
    id: str = required()
    ip: int = required()  # IPv4 as a network-order uint32, as Mesos encodes it
    port: int = required()
    pid: str | None = None
    hostname: str | None = None
    version: str | None = None
    address: Address | None = None
    domain: dict | None = None
    capabilities: list[dict] = repeated()


# --- offers and operations ------------------------------------------------------------


@record
class Offer(Record):
    id: OfferID = required()
    framework_id: FrameworkID = required()
    agent_id: AgentID = required()
    hostname: str = required()
    url: URL | None = None
    domain: dict | None = None
    resources: list[Resource] = repeated()
    attributes: list[Attribute] = repeated()
    executor_ids: list[ExecutorID] = repeated()
    unavailability: dict | None = None
    allocation_info: AllocationInfo | None = None


class OperationType(enum.Enum):
    UNKNOWN = "UNKNOWN"
    LAUNCH = "LAUNCH"
    LAUNCH_GROUP = "LAUNCH_GROUP"
    RESERVE = "RESERVE"
    UNRESERVE = "UNRESERVE"
    CREATE = "CREATE"
    DESTROY = "DESTROY"
    GROW_VOLUME = "GROW_VOLUME"
    SHRINK_VOLUME = "SHRINK_VOLUME"
    CREATE_DISK = "CREATE_DISK"
    DESTROY_DISK = "DESTROY_DISK"


@record
class Launch(Record):
    task_infos: list[TaskInfo] = repeated()


@record
class LaunchGroup(Record):
    executor: ExecutorInfo = required()
    task_group: TaskGroupInfo = required()


@record
class Reserve(Record):
    source: list[Resource] = repeated()
    resources: list[Resource] = repeated()


@record
class Unreserve(Record):
    resources: list[Resource] = repeated()


@record
class Create(Record):
    volumes: list[Resource] = repeated()


@record
class Destroy(Record):
    volumes: list[Resource] = repeated()


@record
class Operation(Record):
    type: OperationType = required()
    id: OperationID | None = None
    launch: Launch | None = None
    launch_group: LaunchGroup | None = None
    reserve: Reserve | None = None
    unreserve: Unreserve | None = None
    create: Create | None = None
    destroy: Destroy | None = None


@record
class Filters(Record):
    refuse_seconds: float | None = None  # default 5

    @property
    def refuse(self) -> float:
        return 5.0 if self.refuse_seconds is None else self.refuse_seconds


@record
class Request(Record):
    agent_id: AgentID | None = None
    resources: list[Resource] = repeated()


# --- credentials ----------------------------------------------------------------------


@record
class Credential(Record):
    """A principal and its secret (mesos.proto `Credential`), as frameworks, agents and
    operators present them (HTTP Basic) and as `--credential(s)` files hold them."""

    principal: str = required(max_length=MAX_NAME, check=check_text)
    secret: str | None = optional(max_length=MAX_NAME)

    def __repr__(self) -> str:  # never print a secret
        return f"Credential(principal={self.principal!r}, secret=***)"
