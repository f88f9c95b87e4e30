"""Validation of what schedulers send, as Mesos' master validates it: calls (each type
carries its message), FrameworkInfo (roles), tasks and task groups against the offers
they use. Each check returns an error message for the caller to report, or None.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mesos_runtime.wire.bounds import MAX_SECONDS
from mesos_runtime.wire.container import validate_container
from mesos_runtime.wire.mesos import (
    CommandInfo,
    ExecutorInfo,
    FrameworkCapabilityType,
    FrameworkInfo,
    Resource,
    TaskInfo,
)
from mesos_runtime.wire.record import WireError
from mesos_runtime.wire.resources import Resources
from mesos_runtime.wire.scheduler import Call, CallType

from .maintenance import MaintenanceSchedule

# the sub-message each call type must carry
_CALL_FIELDS = {
    CallType.SUBSCRIBE: "subscribe",
    CallType.ACCEPT: "accept",
    CallType.DECLINE: "decline",
    CallType.KILL: "kill",
    CallType.SHUTDOWN: "shutdown",
    CallType.ACKNOWLEDGE: "acknowledge",
    CallType.RECONCILE: "reconcile",
    CallType.MESSAGE: "message",
    CallType.REQUEST: "request",
    CallType.UPDATE_FRAMEWORK: "update_framework",
}
_SUPPORTED = {
    *_CALL_FIELDS,
    CallType.TEARDOWN,
    CallType.REVIVE,
    CallType.SUPPRESS,
}


def validate_call(call: Call) -> str | None:
    if call.type not in _SUPPORTED:
        return f"Unsupported call type {call.type.value}"
    name = _CALL_FIELDS.get(call.type)
    if name is not None and getattr(call, name) is None:
        return f"Expecting '{name}' to be present"
    if call.type is CallType.SUBSCRIBE:
        assert call.subscribe is not None
        info = call.subscribe.framework_info
        if call.framework_id is not None and call.framework_id != info.id:
            return "'framework_id' differs from 'subscribe.framework_info.id'"
        return validate_framework_info(info)
    if call.framework_id is None:
        return "Expecting 'framework_id' to be present"
    if call.type is CallType.ACKNOWLEDGE:
        assert call.acknowledge is not None
        if len(call.acknowledge.uuid) != 16:  # what uuid.UUID(bytes=...) requires
            return "Failed to parse UUID: 'acknowledge.uuid' is not 16 bytes"
    if call.type is CallType.UPDATE_FRAMEWORK:
        assert call.update_framework is not None
        info = call.update_framework.framework_info
        if info.id != call.framework_id:
            return "'framework_id' differs from 'update_framework.framework_info.id'"
        return validate_framework_info(info)
    return None


_ROLE_FORBIDDEN = re.compile(r"[\s/\\]")


def validate_role(role: str) -> str | None:
    if role == "*":
        return None
    if not role:
        return "Empty role name is invalid"
    if role in (".", ".."):
        return f"Role '{role}' cannot be '.' or '..'"
    if role.startswith("-"):
        return f"Role '{role}' cannot start with '-'"
    for part in role.split("/"):
        if part in ("", ".", "..") or part == "*":
            return f"Role '{role}' has an invalid path component '{part}'"
        if _ROLE_FORBIDDEN.search(part):
            return f"Role '{role}' contains a whitespace, slash or backslash"
    return None


def validate_framework_info(info: FrameworkInfo) -> str | None:
    multi_role = info.has_capability(FrameworkCapabilityType.MULTI_ROLE)
    if multi_role and info.role is not None:
        return "'FrameworkInfo.role' must not be set when the MULTI_ROLE capability is present"
    if not multi_role and info.roles:
        return "'FrameworkInfo.roles' is set but the MULTI_ROLE capability is missing"
    if len(set(info.roles)) != len(info.roles):
        return "'FrameworkInfo.roles' contains duplicate entries"
    for role in info.effective_roles():
        error = validate_role(role)
        if error:
            return error
    if info.failover_timeout is not None and info.failover_timeout < 0:
        return "'FrameworkInfo.failover_timeout' must not be negative"
    if info.failover_timeout is not None and info.failover_timeout > MAX_SECONDS:
        return f"'FrameworkInfo.failover_timeout' must be at most {MAX_SECONDS:g} seconds"
    return None


# a slash, NUL or whitespace (re's \s is exactly str.isspace for str patterns)
_ID_FORBIDDEN = re.compile(r"[/\0\s]")


def validate_id(kind: str, value: str) -> str | None:
    if not value:
        return f"{kind} must not be empty"
    if value in (".", ".."):
        return f"{kind} '{value}' is disallowed"
    if _ID_FORBIDDEN.search(value):
        return f"{kind} '{value}' contains a slash, NUL or whitespace"
    return None


def with_allocation(resources: list[Resource], role: str) -> Resources:
    """Sum wire resources, giving those without `allocation_info` the offer's role (as Mesos
    injects it for frameworks that predate MULTI_ROLE). Raises WireError."""
    parsed = Resources.from_wire(resources)
    bare = parsed.filter(lambda k: k.allocation_role is None)
    return parsed.filter(lambda k: k.allocation_role is not None) + bare.allocate(role)


def validate_task(
    task: TaskInfo,
    *,
    agent_id: str,
    is_known: Callable[[str], bool],
    in_group: bool = False,
) -> str | None:
    error = validate_id("Task ID", task.task_id.value)
    if error:
        return error
    if is_known(task.task_id.value):
        return f"Task has duplicate ID: {task.task_id.value}"
    if task.agent_id.value != agent_id:
        return f"Task uses agent {task.agent_id.value} but its offers are on agent {agent_id}"
    if in_group:
        if task.executor is not None:
            return "'TaskInfo.executor' must not be set for a task in a task group"
        if task.command is None:
            return "'TaskInfo.command' must be set for a task in a task group"
    elif (task.executor is None) == (task.command is None):
        return "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
    if task.command is not None:
        error = validate_command(task.command, "TaskInfo.command")
        if error:
            return error
    if task.health_check is not None and task.health_check.command is not None:
        error = validate_command(task.health_check.command, "TaskInfo.health_check.command")
        if error:
            return error
    if task.executor is not None:
        error = validate_executor(task.executor)
        if error:
            return error
    return validate_container(task.container, in_group=in_group, has_executor=bool(task.executor))


def validate_command(command: CommandInfo, where: str) -> str | None:
    """What a process can be started with: no NUL in the command, its arguments, URIs or
    environment, and environment names that are not empty and hold no '='."""
    fields: list[tuple[str, str | None]] = [
        (f"{where}.value", command.value),
        (f"{where}.user", command.user),
    ]
    fields += [(f"{where}.arguments[{i}]", a) for i, a in enumerate(command.arguments)]
    fields += [(f"{where}.uris[{i}].value", u.value) for i, u in enumerate(command.uris)]
    fields += [
        (f"{where}.uris[{i}].output_file", u.output_file) for i, u in enumerate(command.uris)
    ]
    variables = command.environment.variables if command.environment else []
    for i, variable in enumerate(variables):
        name = f"{where}.environment.variables[{i}].name"
        if not variable.name:
            return f"'{name}' must not be empty"
        if "=" in variable.name:
            return f"'{name}' must not contain '=' ({variable.name!r})"
        fields += [
            (name, variable.name),
            (f"{where}.environment.variables[{i}].value", variable.value),
        ]
    for name, value in fields:
        if value is not None and "\0" in value:
            return f"'{name}' must not contain a NUL character"
    return None


def validate_executor(executor: ExecutorInfo) -> str | None:
    error = validate_id("Executor ID", executor.executor_id.value)
    if error:
        return error
    if executor.command is not None:
        error = validate_command(executor.command, "ExecutorInfo.command")
        if error:
            return error
    try:
        Resources.from_wire(executor.resources)
    except WireError as e:
        return f"Executor uses invalid resources: {e}"
    return None


def executors_compatible(a: ExecutorInfo, b: ExecutorInfo) -> bool:
    """Same executor as far as a relaunch is concerned (framework_id may be filled in)."""
    return a.replace(framework_id=None) == b.replace(framework_id=None)


def validate_schedule(schedule: MaintenanceSchedule) -> str | None:
    """A maintenance schedule as Mesos' master checks it: machines named by hostname or
    IP, unavailabilities that do not start or last a negative time."""
    for machine in schedule.machines():
        if not machine.hostname and not machine.ip:
            return "A machine ID needs a hostname or an IP"
    for window in schedule.windows:
        unavailability = window.unavailability
        if unavailability.start.nanoseconds < 0:
            return "Unavailability 'start' must not be negative"
        if unavailability.duration is not None and unavailability.duration.nanoseconds < 0:
            return "Unavailability 'duration' must not be negative"
    return None
