"""The environment a task or executor process starts with, as Mesos sets it.

Base: the agent's own environment (minus its `MESOS_*`/`LIBPROCESS_*` configuration), as
Mesos executors inherit it; then the MESOS_* variables a task expects; `HOST` and, as
Marathon/DC/OS do (Mesos' command executor does not), `PORT0..n`, `PORT` and `PORTS` from
the task's `ports` ranges; finally the CommandInfo's own environment, which wins.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from mesos_runtime.wire.mesos import CommandInfo, Resource
from mesos_runtime.wire.resources import Resources

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def inherited_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    env = {
        k: v
        for k, v in environ.items()
        if not k.startswith(("MESOS_", "LIBPROCESS_")) and k != "PYTHONPATH"
    }
    env.setdefault("PATH", DEFAULT_PATH)
    return env


def port_variables(resources: list[Resource]) -> dict[str, str]:
    ports = [
        p for begin, end in Resources.from_wire(resources).ports() for p in range(begin, end + 1)
    ]
    env = {f"PORT{i}": str(p) for i, p in enumerate(ports)}
    if ports:
        env["PORT"] = str(ports[0])
        env["PORTS"] = ",".join(str(p) for p in ports)
    return env


def command_variables(command: CommandInfo | None) -> dict[str, str]:
    if command is None or command.environment is None:
        return {}
    return {v.name: v.value or "" for v in command.environment.variables if v.name}


def task_environment(
    base: Mapping[str, str],
    *,
    sandbox: str,
    agent_id: str,
    framework_id: str,
    executor_id: str,
    task_id: str | None,
    hostname: str,
    resources: list[Resource],
    command: CommandInfo | None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    env = dict(base)
    env.update(
        MESOS_SANDBOX=sandbox,
        MESOS_DIRECTORY=sandbox,
        MESOS_AGENT_ID=agent_id,
        MESOS_SLAVE_ID=agent_id,  # the name older clients read
        MESOS_FRAMEWORK_ID=framework_id,
        MESOS_EXECUTOR_ID=executor_id,
        HOST=hostname,
    )
    if task_id is not None:
        env["MESOS_TASK_ID"] = task_id
    env.update(port_variables(resources))
    if extra:
        env.update(extra)
    env.update(command_variables(command))
    return env
