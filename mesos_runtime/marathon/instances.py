"""An app's instances: one launched task each, with what Marathon knows beyond Mesos
(its app version, ports, health results, readiness, whether Marathon is killing it), and
the task JSON `/v2/tasks` and `/v2/apps/{id}/tasks` answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mesos_runtime.scheduler.constraints import Placement
from mesos_runtime.scheduler.state import TaskRecord
from mesos_runtime.wire.mesos import TaskState

__all__ = ["Health", "Instance", "iso", "parse_iso"]

LABEL_APP_ID = "MARATHON_APP_ID"
LABEL_VERSION = "MARATHON_APP_VERSION"
LABEL_CONFIG_VERSION = "MARATHON_APP_CONFIG_VERSION"
LABEL_SERVICE_PORTS = "MARATHON_SERVICE_PORTS"


def iso(ts: float | None) -> str | None:
    """Epoch seconds → Marathon's timestamps, `2015-08-26T20:23:39.463Z`."""
    if ts is None:
        return None
    return (
        datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{int(ts * 1000) % 1000:03d}Z"
    )


def parse_iso(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return None


@dataclass
class Health:
    """Health check results of one instance, as `healthCheckResults` shows them."""

    alive: bool | None = None
    consecutive_failures: int = 0
    first_success: float | None = None
    last_success: float | None = None
    last_failure: float | None = None
    last_failure_cause: str | None = None

    def record(self, healthy: bool, message: str | None) -> bool:
        """Apply a health report; True when `alive` changed."""
        now = time.time()
        changed = self.alive is not healthy
        self.alive = healthy
        if healthy:
            self.consecutive_failures = 0
            self.last_success = now
            self.first_success = self.first_success or now
        else:
            self.consecutive_failures += 1
            self.last_failure = now
            self.last_failure_cause = message
        return changed

    def to_json(self, instance_id: str) -> dict[str, Any]:
        return {
            "alive": bool(self.alive),
            "consecutiveFailures": self.consecutive_failures,
            "firstSuccess": iso(self.first_success),
            "lastSuccess": iso(self.last_success),
            "lastFailure": iso(self.last_failure),
            "lastFailureCause": self.last_failure_cause,
            "instanceId": instance_id,
        }


@dataclass
class Instance:
    """One launched task of an app."""

    record: TaskRecord
    app_id: str
    version: str
    config_version: str
    ports: list[int] = field(default_factory=list)
    service_ports: list[int] = field(default_factory=list)
    health: Health = field(default_factory=Health)
    killing: bool = False  # Marathon kills it for good (scale-down, upgrade, stop)
    kill_requested: bool = False  # killed through the API, to be replaced
    unreachable_since: float | None = None
    ready: bool = False
    readiness_response: dict[str, Any] | None = None

    @property
    def task_id(self) -> str:
        return self.record.task_id

    @property
    def instance_id(self) -> str:
        """Marathon's instance id: the task id without its `._app.<n>` incarnation."""
        return self.task_id.rsplit("._app.", 1)[0]

    @property
    def agent_id(self) -> str:
        return self.record.agent_id

    @property
    def host(self) -> str:
        return self.record.hostname or ""

    @property
    def state(self) -> TaskState:
        status = self.record.status
        return status.state if status is not None else TaskState.TASK_STAGING

    @property
    def gone(self) -> bool:
        status = self.record.status
        return status is not None and status.state.is_terminal

    @property
    def running(self) -> bool:
        return self.state is TaskState.TASK_RUNNING

    @property
    def unreachable(self) -> bool:
        return self.state is TaskState.TASK_UNREACHABLE

    @property
    def staged_at(self) -> float:
        return self.record.staged_at or 0.0

    def placement(self) -> Placement:
        return Placement.of(self.host, self.record.attributes)

    def healthy(self, has_health_checks: bool) -> bool:
        return self.running and (not has_health_checks or self.health.alive is True)

    def to_json(self, *, role: str, with_health: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "appId": self.app_id,
            "host": self.host,
            "id": self.task_id,
            "ipAddresses": [{"ipAddress": self.host, "protocol": "IPv4"}] if self.host else [],
            "ports": list(self.ports),
            "servicePorts": list(self.service_ports),
            "slaveId": self.agent_id,
            "state": self.state.value,
            "stagedAt": iso(self.record.staged_at),
            "startedAt": iso(self.record.started_at),
            "version": self.version,
            "localVolumes": [],
            "role": role,
        }
        if with_health and self.health.alive is not None:
            out["healthCheckResults"] = [self.health.to_json(self.instance_id)]
        return out


def labels_of(record: TaskRecord) -> dict[str, str]:
    labels = record.task.labels
    if labels is None:
        return {}
    return {label.key: label.value or "" for label in labels.labels}


def instance_of(record: TaskRecord) -> Instance | None:
    """An instance from a stored task record (None for a task Marathon did not launch)."""
    labels = labels_of(record)
    app_id = labels.get(LABEL_APP_ID)
    if not app_id:
        return None
    ports: list[int] = []
    env = record.task.command.environment if record.task.command else None
    for variable in env.variables if env else []:
        if variable.name == "PORTS" and variable.value:
            ports = [int(p) for p in variable.value.split(",") if p.isdigit()]
    service = [int(p) for p in labels.get(LABEL_SERVICE_PORTS, "").split(",") if p.isdigit()]
    instance = Instance(
        record=record,
        app_id=app_id,
        version=labels.get(LABEL_VERSION, ""),
        config_version=labels.get(LABEL_CONFIG_VERSION, ""),
        ports=ports,
        service_ports=service,
    )
    if record.status is not None and record.status.healthy is not None:
        instance.health.record(record.status.healthy, record.status.message)
    return instance
