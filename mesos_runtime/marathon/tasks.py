"""From an app and a matched offer to a Mesos TaskInfo, as Marathon builds it.

The command (`cmd` through the shell, or `args`), Marathon's task environment (`PORT0`,
`PORTS`, `PORT_<NAME>`, `MARATHON_APP_*`, `HOST`, `MESOS_TASK_ID`), fetch URIs, the app's
health check as a Mesos health check the agent runs, its `container` as a ContainerInfo,
the kill grace period, and labels that let a new leader recognise the task.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from mesos_runtime.scheduler.offers import OfferMatch, PortRequest, ResourceRequest
from mesos_runtime.wire.mesos import (
    URI,
    CommandInfo,
    DurationInfo,
    Environment,
    HealthCheck,
    HealthCheckType,
    HTTPCheckInfo,
    KillPolicy,
    Label,
    Labels,
    Offer,
    TaskID,
    TaskInfo,
    TCPCheckInfo,
    Variable,
)

from . import pathid
from .appdef import App, HealthCheckSpec
from .instances import LABEL_APP_ID, LABEL_CONFIG_VERSION, LABEL_SERVICE_PORTS, LABEL_VERSION

__all__ = ["build_task", "mesos_health_check", "resource_request"]

_LABEL_NAME = re.compile(r"[^A-Za-z0-9_]")
_MAX_LABEL = 512


def resource_request(app: App) -> ResourceRequest:
    roles = app.accepted_roles or None
    return ResourceRequest(
        cpus=app.cpus,
        mem=app.mem,
        disk=app.disk,
        ports=tuple(PortRequest(p.name, p.number) for p in app.ports),
        roles=roles,
        constraints=app.constraints,
    )


def new_task_id(app_id: str) -> str:
    return f"{pathid.task_prefix(app_id)}.instance-{uuid.uuid4()}._app.1"


def build_task(
    app: App, offer: Offer, match: OfferMatch, service_ports: list[int], task_id: str | None = None
) -> TaskInfo:
    task_id = task_id or new_task_id(app.id)
    env = _environment(app, offer, task_id, match.ports)
    uris = [
        URI(
            value=f["uri"],
            extract=f.get("extract", True),
            executable=f.get("executable", False),
            cache=f.get("cache", False),
            output_file=f.get("destPath"),
        )
        for f in app.fetch
    ]
    if app.cmd is not None:
        command = CommandInfo(shell=True, value=app.cmd, uris=uris, environment=env, user=app.user)
    else:
        args = list(app.args or [])
        # as Marathon: a DOCKER container's args follow the image (its entrypoint runs them);
        # otherwise args[0] is the executable
        docker = bool(app.container) and (app.container or {}).get("type") == "DOCKER"
        command = CommandInfo(
            shell=False,
            value=args[0] if args and not docker else None,
            arguments=args,
            uris=uris,
            environment=env,
            user=app.user,
        )
    labels = [
        Label(key=LABEL_APP_ID, value=app.id),
        Label(key=LABEL_VERSION, value=app.version),
        Label(key=LABEL_CONFIG_VERSION, value=app.config_version),
        Label(key=LABEL_SERVICE_PORTS, value=",".join(str(p) for p in service_ports)),
    ]
    kill_policy = None
    if app.kill_grace_period is not None:
        kill_policy = KillPolicy(
            grace_period=DurationInfo(nanoseconds=int(app.kill_grace_period * 1e9))
        )
    return TaskInfo(
        name=pathid.task_prefix(app.id),
        task_id=TaskID(value=task_id),
        agent_id=offer.agent_id,
        resources=match.resources.to_wire(),
        command=command,
        container=container_info(app, match.ports),
        health_check=mesos_health_check(app.health_checks[0], match.ports)
        if app.health_checks
        else None,
        kill_policy=kill_policy,
        labels=Labels(labels=labels),
    )


def _environment(app: App, offer: Offer, task_id: str, ports: list[int]) -> Environment:
    env: dict[str, str] = {}
    if ports:
        env["PORTS"] = ",".join(str(p) for p in ports)
        env["PORT"] = str(ports[0])
    for index, (spec, port) in enumerate(zip(app.ports, ports, strict=True)):
        env[f"PORT{index}"] = str(port)
        if spec.name:
            env[f"PORT_{_LABEL_NAME.sub('_', spec.name).upper()}"] = str(port)
    env.update(
        {
            "HOST": offer.hostname,
            "MESOS_TASK_ID": task_id,
            "MARATHON_APP_ID": app.id,
            "MARATHON_APP_VERSION": app.version,
            "MARATHON_APP_RESOURCE_CPUS": f"{app.cpus:g}",
            "MARATHON_APP_RESOURCE_MEM": f"{app.mem:g}",
            "MARATHON_APP_RESOURCE_DISK": f"{app.disk:g}",
            "MARATHON_APP_RESOURCE_GPUS": "0",
        }
    )
    docker = (app.container or {}).get("docker") or {}
    if docker.get("image"):
        env["MARATHON_APP_DOCKER_IMAGE"] = docker["image"]
    labels = {
        _LABEL_NAME.sub("_", k): v
        for k, v in app.labels.items()
        if len(k) <= _MAX_LABEL and len(v) <= _MAX_LABEL
    }
    env["MARATHON_APP_LABELS"] = " ".join(labels)
    for name, value in labels.items():
        env[f"MARATHON_APP_LABEL_{name}"] = value
    env.update(app.env)  # the app's own variables win, as in Marathon
    return Environment(variables=[Variable(name=k, value=v) for k, v in env.items()])


def mesos_health_check(check: HealthCheckSpec, ports: list[int]) -> HealthCheck:
    """Marathon's health check → the Mesos health check the agent runs next to the task."""
    port = check.port
    if port is None and check.port_index is not None and check.port_index < len(ports):
        port = ports[check.port_index]
    common: dict[str, Any] = {
        "delay_seconds": check.delay,
        "interval_seconds": check.interval,
        "timeout_seconds": check.timeout or None,  # 0: the agent's default
        "consecutive_failures": check.max_consecutive_failures,
        "grace_period_seconds": check.grace_period,
    }
    protocol = check.protocol.removeprefix("MESOS_")
    if protocol == "COMMAND":
        return HealthCheck(
            type=HealthCheckType.COMMAND,
            command=CommandInfo(shell=True, value=check.command or "true"),
            **common,
        )
    if protocol == "TCP":
        return HealthCheck(type=HealthCheckType.TCP, tcp=TCPCheckInfo(port=port or 0), **common)
    return HealthCheck(
        type=HealthCheckType.HTTP,
        http=HTTPCheckInfo(
            scheme="https" if protocol == "HTTPS" else "http", port=port or 0, path=check.path
        ),
        **common,
    )


def container_info(app: App, host_ports: list[int]) -> dict[str, Any] | None:
    """The app's `container` as Mesos' ContainerInfo JSON (run by the agent's containerizer)."""
    container = app.container
    if not container:
        return None
    volumes = [
        {
            "container_path": v["containerPath"],
            "mode": v.get("mode", "RW"),
            **({"host_path": v["hostPath"]} if v.get("hostPath") else {}),
        }
        for v in container.get("volumes", [])
    ]
    docker = container.get("docker") or {}
    if container.get("type") == "MESOS":
        out: dict[str, Any] = {"type": "MESOS", "volumes": volumes}
        if docker.get("image"):
            out["mesos"] = {
                "image": {
                    "type": "DOCKER",
                    "docker": {"name": docker["image"]},
                    "cached": not docker.get("forcePullImage", False),
                }
            }
        return out
    mappings = [m for m in app.ports if m.container_port is not None]
    network = docker.get("network") or ("BRIDGE" if mappings else "HOST")
    return {
        "type": "DOCKER",
        "volumes": volumes,
        "docker": {
            "image": docker.get("image", ""),
            "network": network,
            "privileged": docker.get("privileged", False),
            "force_pull_image": docker.get("forcePullImage", False),
            "parameters": [
                {"key": p["key"], "value": p["value"]} for p in docker.get("parameters", [])
            ],
            "port_mappings": [
                {
                    "host_port": host,
                    "container_port": spec.container_port or host,
                    "protocol": spec.protocol.split(",")[0],
                }
                for spec, host in zip(app.ports, host_ports, strict=False)
                if spec.container_port is not None
            ],
        },
    }
