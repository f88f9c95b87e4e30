"""What a task is told when it launches: its environment (`TASK_NAME`, `POD_INSTANCE_INDEX`,
`HOST`, `PORT_<NAME>`, ...) and the context its config templates are rendered with (its
host and ports, its volumes, and its peers' addresses). Built by the scheduler at launch.
"""

from __future__ import annotations

import dataclasses
from pathlib import PurePosixPath
from typing import Any

from mesos_runtime.wire.record import Record, record, required

from .spec import PodSpec, ServiceSpec, TaskSpec

__all__ = [
    "PodInstance",
    "TaskLaunch",
    "config_context",
    "launches",
    "preview_peers",
    "task_environment",
]


@record(frozen=True)
class PodInstance(Record):
    """Where one pod instance landed: its agent's host and the ports it reserved."""

    pod: str = required()
    index: int = required()
    hostname: str = required()
    ip: str | None = None
    ports: dict[str, int] = dataclasses.field(default_factory=dict)  # port name -> number

    @property
    def name(self) -> str:
        return f"{self.pod}-{self.index}"

    def address(self, port: str) -> str:
        return f"{self.hostname}:{self.ports[port]}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TaskLaunch:
    """Everything known about a task when it is launched."""

    service: str
    pod: PodSpec
    task: TaskSpec
    instance: PodInstance
    # every placed instance of every pod type, this one included (peers' addresses)
    peers: dict[str, list[PodInstance]] = dataclasses.field(default_factory=dict)
    sandbox: str = "."  # the sandbox path when known; config paths are relative to it

    @property
    def task_name(self) -> str:
        return f"{self.instance.name}-{self.task.name}"


def task_environment(launch: TaskLaunch) -> dict[str, str]:
    """The task's environment: the spec's `env`, then what the SDK promises every task."""
    env = dict(launch.task.env)
    env.update(
        {
            "SERVICE_NAME": launch.service,
            "FRAMEWORK_NAME": launch.service,
            "POD_TYPE": launch.pod.name,
            "POD_INSTANCE_INDEX": str(launch.instance.index),
            "TASK_NAME": launch.task_name,
            "HOST": launch.instance.hostname,
        }
    )
    for port in launch.task.ports:
        if port.name in launch.instance.ports:
            env[port.env_key] = str(launch.instance.ports[port.name])
    return env


def _instance_view(instance: PodInstance) -> dict[str, Any]:
    return {
        "name": instance.name,
        "pod": instance.pod,
        "index": instance.index,
        "hostname": instance.hostname,
        "ip": instance.ip or instance.hostname,
        "ports": dict(instance.ports),
    }


def config_context(launch: TaskLaunch) -> dict[str, Any]:
    """The variables a config template sees besides the service's options: `service`,
    `pod`, `task` (hostname, ip, ports, volumes, env) and `pods` (peers by pod type)."""
    volumes = {
        v.name: str(PurePosixPath(launch.sandbox) / v.path)
        for v in [*launch.pod.volumes, *launch.task.volumes]
    }
    return {
        "service": {"name": launch.service},
        "pod": _instance_view(launch.instance),
        "task": {
            "name": launch.task_name,
            "hostname": launch.instance.hostname,
            "ip": launch.instance.ip or launch.instance.hostname,
            "ports": {p.name: launch.instance.ports.get(p.name) for p in launch.task.ports},
            "volumes": volumes,
            "env": task_environment(launch),
            "sandbox": launch.sandbox,
        },
        "pods": {
            pod: [_instance_view(i) for i in sorted(instances, key=lambda i: i.index)]
            for pod, instances in launch.peers.items()
        },
    }


def preview_peers(spec: ServiceSpec, first_port: int = 31000) -> dict[str, list[PodInstance]]:
    """Stand-in placements for showing rendered configs before anything is placed: host
    `<pod>-<i>.agent.invalid`, fixed ports as given, dynamic ones numbered from `first_port`."""
    next_port = first_port
    peers: dict[str, list[PodInstance]] = {}
    for pod in spec.pods:
        instances = []
        for index in range(pod.count):
            ports: dict[str, int] = {}
            for task in pod.tasks:
                for port in task.ports:
                    if port.port:
                        ports[port.name] = port.port
                    else:
                        ports[port.name], next_port = next_port, next_port + 1
            host = f"{pod.name}-{index}.agent.invalid"
            instances.append(PodInstance(pod=pod.name, index=index, hostname=host, ports=ports))
        peers[pod.name] = instances
    return peers


def launches(
    spec: ServiceSpec, peers: dict[str, list[PodInstance]], sandbox: str = "."
) -> list[TaskLaunch]:
    """A TaskLaunch for every task of every placed pod instance in `peers`."""
    out = []
    for pod in spec.pods:
        for instance in peers.get(pod.name, []):
            for task in pod.tasks:
                out.append(
                    TaskLaunch(
                        service=spec.name,
                        pod=pod,
                        task=task,
                        instance=instance,
                        peers=peers,
                        sandbox=sandbox,
                    )
                )
    return out
