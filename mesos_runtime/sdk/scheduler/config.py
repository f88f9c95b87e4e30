"""The scheduler's configuration, from its environment (Marathon's app `env`), as the DC/OS
SDK's schedulers take theirs. `from_environment` is the edge: a missing variable or an
invalid spec is a `ConfigError` naming the variable and the field.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesos_runtime.sdk.spec import ServiceSpec, SpecError, load_spec

__all__ = ["ConfigError", "SchedulerConfig", "from_environment"]


class ConfigError(ValueError):
    """The scheduler cannot start with this environment; the message says why."""


@dataclass(frozen=True)
class SchedulerConfig:
    service_name: str
    spec: ServiceSpec
    spec_text: str
    master: str
    store: str
    api_port: int = 0
    api_host: str = "127.0.0.1"
    # the address the API listens on: the agent's it was launched on (see `bind_address`)
    bind_host: str = "0.0.0.0"
    role: str = ""
    principal: str | None = None
    user: str = "root"
    uninstall: bool = False
    permanent_failure_timeout: float | None = None
    templates: dict[str, str] = field(default_factory=dict)  # template name -> text
    options: dict[str, Any] = field(default_factory=dict)  # the package options, for templates
    # what else the package's templates see: `service`, `package`, `cluster` (SERVICE_CONTEXT)
    template_context: dict[str, Any] = field(default_factory=dict)
    failover_timeout: float | None = None


def _json_object(env: Mapping[str, str], name: str) -> dict[str, Any]:
    """A JSON object from the environment variable `name` (empty when unset)."""
    text = env.get(name, "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"{name}: not JSON: {e}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: not a JSON object")
    return value


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _read_templates(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        return {}
    return {
        str(p.relative_to(directory)): p.read_text()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def bind_address(env: Mapping[str, str], hosts_file: Path = Path("/etc/hosts")) -> str:
    """Where the API listens: `LIBPROCESS_IP` (libprocess' own setting) when set, else the
    agent's address its `HOST` gives (agents are named by their IP unless names resolve
    everywhere), so that the API shares no port with tasks of other agents on the same
    machine. A name is looked up in the hosts file only: a DNS that is slow or down at
    start must not stop the scheduler. 0.0.0.0 when neither says (a scheduler not started
    by an agent, or a name the hosts file does not hold)."""
    ip = env.get("LIBPROCESS_IP", "").strip()
    if ip:
        try:
            return str(ipaddress.ip_address(ip))
        except ValueError:
            raise ConfigError(f"LIBPROCESS_IP: {ip!r} is not an IP address") from None
    host = env.get("HOST", "").strip()
    if not host:
        return "0.0.0.0"
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return _from_hosts_file(host, hosts_file) or "0.0.0.0"


def _from_hosts_file(name: str, path: Path) -> str | None:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and name.lower() in (f.lower() for f in fields[1:]):
            try:
                return str(ipaddress.ip_address(fields[0]))
            except ValueError:
                continue
    return None


def from_environment(env: Mapping[str, str] | None = None) -> SchedulerConfig:
    env = os.environ if env is None else env
    name = env.get("SERVICE_NAME", "").strip()
    if not name:
        raise ConfigError("SERVICE_NAME is not set: the service's name is required")
    text = env.get("SERVICE_SPEC")
    source = "SERVICE_SPEC"
    if not text and env.get("SERVICE_SPEC_FILE"):
        path = Path(env["SERVICE_SPEC_FILE"])
        source = f"SERVICE_SPEC_FILE {path}"
        try:
            text = path.read_text()
        except OSError as e:
            raise ConfigError(f"SERVICE_SPEC_FILE: cannot read {path}: {e.strerror}") from None
    if not text:
        raise ConfigError("SERVICE_SPEC (or SERVICE_SPEC_FILE) is not set: no service spec")
    try:
        spec = load_spec(text, source)
    except SpecError as e:
        raise ConfigError(
            f"{source} is not a valid service spec:\n" + "\n".join(f"  {m}" for m in e.errors)
        ) from None
    if spec.name != name:
        raise ConfigError(f"{source}: name: {spec.name!r} is not SERVICE_NAME {name!r}")
    master = env.get("MESOS_MASTER", "").strip()
    if not master:
        raise ConfigError("MESOS_MASTER is not set (host:port, zk://... or a URL)")
    store = env.get("SERVICE_STORE", "").strip()
    if not store:
        raise ConfigError("SERVICE_STORE is not set (zk://host:port/path or a directory)")
    port_text = env.get("PORT_API") or env.get("PORT0") or "0"
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"PORT_API/PORT0: {port_text!r} is not a port number") from None
    timeout_text = env.get("PERMANENT_FAILURE_TIMEOUT", "").strip()
    timeout: float | None = None
    if timeout_text:
        try:
            timeout = float(timeout_text)
        except ValueError:
            raise ConfigError(
                f"PERMANENT_FAILURE_TIMEOUT: {timeout_text!r} is not a number of seconds"
            ) from None
    options = _json_object(env, "SERVICE_OPTIONS")
    template_context = _json_object(env, "SERVICE_CONTEXT")
    templates_dir = Path(env.get("SERVICE_TEMPLATES_DIR") or "templates")
    templates = _read_templates(templates_dir)
    for pod in spec.pods:
        for task in pod.tasks:
            for config in task.configs:
                if config.template not in templates:
                    raise ConfigError(
                        f"{source}: pods.{pod.name}.tasks.{task.name}.configs.{config.name}."
                        f"template: no {config.template} in {templates_dir}"
                    )
    failover = env.get("SERVICE_FAILOVER_TIMEOUT", "").strip()
    return SchedulerConfig(
        service_name=name,
        spec=spec,
        spec_text=text,
        master=master,
        store=store,
        api_port=port,
        api_host=env.get("HOST") or env.get("LIBPROCESS_IP") or "127.0.0.1",
        bind_host=bind_address(env),
        role=env.get("SERVICE_ROLE") or spec.scheduler.role or f"{name}-role",
        principal=env.get("SERVICE_PRINCIPAL") or spec.scheduler.principal,
        user=env.get("SERVICE_USER") or spec.scheduler.user or "root",
        uninstall=_truthy(env.get("SDK_UNINSTALL")),
        permanent_failure_timeout=timeout,
        templates=templates,
        options=options,
        template_context=template_context,
        failover_timeout=float(failover) if failover else None,
    )
