"""App definitions as Marathon reads and writes them (`/v2/apps` JSON).

`read_app()` validates a body and returns the canonical JSON (every default filled in, as
Marathon writes it back) or raises `Invalid` naming each bad field; `App` is the typed view
the scheduler works from; `merge()` applies a PUT/PATCH body onto an existing definition.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from mesos_runtime.scheduler.constraints import Constraint, ConstraintError, parse_constraints
from mesos_runtime.wire.container import check_image_name

from . import pathid
from .validation import Invalid, Reader

__all__ = [
    "App",
    "AppDefaults",
    "HealthCheckSpec",
    "PortSpec",
    "ReadinessCheckSpec",
    "merge",
    "read_app",
    "scaling_only",
]

HEALTH_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP")
_PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ROLE = re.compile(r"^[^/\s.][^\s]*$")
_PROTOCOLS = ("tcp", "udp", "udp,tcp", "tcp,udp")
# fields that change only how many instances run: a change of them alone is a scaling
_SCALING_FIELDS = ("instances", "version", "versionInfo")


@dataclass(frozen=True)
class AppDefaults:
    """What the daemon's flags decide for apps that do not say."""

    role: str = "*"
    default_user: str | None = None


# --- the typed view ---------------------------------------------------------------------


@dataclass(frozen=True)
class PortSpec:
    """One port a task takes on its host: `number` 0 is any port the offer has."""

    number: int
    name: str | None = None
    protocol: str = "tcp"
    container_port: int | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthCheckSpec:
    protocol: str
    port_index: int | None
    port: int | None
    path: str
    command: str | None
    grace_period: float
    interval: float
    timeout: float
    delay: float
    max_consecutive_failures: int
    json: dict[str, Any]


@dataclass(frozen=True)
class ReadinessCheckSpec:
    name: str
    protocol: str
    path: str
    port_name: str
    interval: float
    timeout: float
    ready_statuses: tuple[int, ...]
    preserve_last_response: bool


@dataclass(frozen=True)
class App:
    """A validated app definition (from its canonical JSON, kept in `json`)."""

    json: dict[str, Any]
    id: str
    instances: int
    cpus: float
    mem: float
    disk: float
    cmd: str | None
    args: list[str] | None
    user: str | None
    env: dict[str, str]
    labels: dict[str, str]
    constraints: tuple[Constraint, ...]
    ports: tuple[PortSpec, ...]
    require_ports: bool
    health_checks: tuple[HealthCheckSpec, ...]
    readiness_checks: tuple[ReadinessCheckSpec, ...]
    minimum_health_capacity: float
    maximum_over_capacity: float
    backoff_seconds: float
    backoff_factor: float
    max_launch_delay: float
    kill_selection: str
    unreachable_inactive_after: float | None  # None: unreachable instances are never replaced
    unreachable_expunge_after: float | None
    kill_grace_period: float | None
    accepted_roles: tuple[str, ...] | None
    role: str
    dependencies: tuple[str, ...]
    fetch: tuple[dict[str, Any], ...]
    container: dict[str, Any] | None

    @property
    def version(self) -> str:
        return str(self.json.get("version") or "")

    @property
    def config_version(self) -> str:
        info = self.json.get("versionInfo") or {}
        return str(info.get("lastConfigChangeAt") or self.version)

    @classmethod
    def from_json(cls, canonical: dict[str, Any]) -> App:
        """The typed view of canonical JSON (as `read_app` or the store gives it)."""
        j = canonical
        ports: list[PortSpec] = []
        container = j.get("container")
        mappings = _port_mappings(container)
        if mappings is not None:
            for m in mappings:
                if m.get("hostPort") is None:
                    continue  # a container port not exposed on the host
                ports.append(
                    PortSpec(
                        int(m["hostPort"]),
                        m.get("name"),
                        m.get("protocol", "tcp"),
                        int(m.get("containerPort", 0)),
                        dict(m.get("labels") or {}),
                    )
                )
        else:
            for p in j.get("portDefinitions", []):
                number = int(p.get("port", 0)) if j.get("requirePorts") else 0
                ports.append(
                    PortSpec(
                        number, p.get("name"), p.get("protocol", "tcp"), None, p.get("labels", {})
                    )
                )
        strategy = j.get("upgradeStrategy") or {}
        unreachable = j.get("unreachableStrategy")
        inactive: float | None = None
        expunge: float | None = None
        if isinstance(unreachable, dict):
            inactive = float(unreachable.get("inactiveAfterSeconds", 0))
            expunge = float(unreachable.get("expungeAfterSeconds", 0))
        roles = j.get("acceptedResourceRoles")
        return cls(
            json=j,
            id=j["id"],
            instances=int(j.get("instances", 1)),
            cpus=float(j.get("cpus", 1.0)),
            mem=float(j.get("mem", 128.0)),
            disk=float(j.get("disk", 0.0)),
            cmd=j.get("cmd"),
            args=j.get("args"),
            user=j.get("user"),
            env=dict(j.get("env") or {}),
            labels=dict(j.get("labels") or {}),
            constraints=tuple(parse_constraints(j.get("constraints") or [])),
            ports=tuple(ports),
            require_ports=bool(j.get("requirePorts", False)),
            health_checks=tuple(_health_spec(h) for h in j.get("healthChecks", [])),
            readiness_checks=tuple(_readiness_spec(r) for r in j.get("readinessChecks", [])),
            minimum_health_capacity=float(strategy.get("minimumHealthCapacity", 1.0)),
            maximum_over_capacity=float(strategy.get("maximumOverCapacity", 1.0)),
            backoff_seconds=float(j.get("backoffSeconds", 1)),
            backoff_factor=float(j.get("backoffFactor", 1.15)),
            max_launch_delay=float(j.get("maxLaunchDelaySeconds", 300)),
            kill_selection=str(j.get("killSelection", "YOUNGEST_FIRST")),
            unreachable_inactive_after=inactive,
            unreachable_expunge_after=expunge,
            kill_grace_period=(
                float(j["taskKillGracePeriodSeconds"])
                if j.get("taskKillGracePeriodSeconds") is not None
                else None
            ),
            accepted_roles=tuple(roles) if roles else None,
            role=str(j.get("role", "*")),
            dependencies=tuple(j.get("dependencies", [])),
            fetch=tuple(j.get("fetch", [])),
            container=container,
        )


def _port_mappings(container: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """Port mappings of a container on a bridge network (None: host networking)."""
    if not container:
        return None
    mappings = container.get("portMappings")
    docker = container.get("docker") or {}
    if mappings is None and docker.get("network") in ("BRIDGE", "USER"):
        mappings = docker.get("portMappings") or []
    return mappings


def _health_spec(h: dict[str, Any]) -> HealthCheckSpec:
    command = (h.get("command") or {}).get("value")
    return HealthCheckSpec(
        protocol=h["protocol"],
        port_index=h.get("portIndex"),
        port=h.get("port"),
        path=h.get("path", "/"),
        command=command,
        grace_period=float(h["gracePeriodSeconds"]),
        interval=float(h["intervalSeconds"]),
        timeout=float(h["timeoutSeconds"]),
        delay=float(h.get("delaySeconds", 15)),
        max_consecutive_failures=int(h["maxConsecutiveFailures"]),
        json=h,
    )


def _readiness_spec(r: dict[str, Any]) -> ReadinessCheckSpec:
    return ReadinessCheckSpec(
        name=r["name"],
        protocol=r["protocol"],
        path=r["path"],
        port_name=r["portName"],
        interval=float(r["intervalSeconds"]),
        timeout=float(r["timeoutSeconds"]),
        ready_statuses=tuple(r["httpStatusCodesForReady"]),
        preserve_last_response=bool(r["preserveLastResponse"]),
    )


# --- reading a body ---------------------------------------------------------------------


def read_app(
    body: Any,
    defaults: AppDefaults,
    *,
    app_id: str | None = None,
    base: str = "/",
) -> dict[str, Any]:
    """Validate an app body (with `app_id` from the URL when given) → canonical JSON."""
    r = Reader()
    if not isinstance(body, dict):
        r.wrong_type("/", "object")
        r.raise_if_any()
        raise AssertionError("unreachable")
    out: dict[str, Any] = {}
    raw_id = app_id if app_id is not None else r.string(body, "id", "")
    if raw_id is None:
        r.error("/id", "must not be empty")
    else:
        try:
            out["id"] = pathid.normalize(raw_id, base)
            if out["id"] == "/":
                r.error("/id", "must not be the root group")
        except pathid.PathIdError as e:
            r.error("/id", str(e))
    cmd = r.string(body, "cmd", "")
    args = r.strings(body, "args", "")
    if cmd is not None:
        if not cmd.strip():
            r.error("/cmd", "must not be empty")
        out["cmd"] = cmd
    if args is not None and "args" in body:
        out["args"] = args
    container = _read_container(r, body)
    if cmd is not None and args:
        r.error("/", "AppDefinition must not contain both 'cmd' and 'args'")
    if cmd is None and not args and container is None:
        r.error(
            "/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'"
        )
    user = r.string(body, "user", "", defaults.default_user)
    if user is not None:
        out["user"] = user
    out["env"] = _read_env(r, body)
    out["instances"] = r.integer(body, "instances", "", 1, minimum=0)
    out["cpus"] = r.number(body, "cpus", "", 1.0, minimum=0.001)
    out["mem"] = r.number(body, "mem", "", 128.0, minimum=0.0)
    out["disk"] = r.number(body, "disk", "", 0.0, minimum=0.0)
    out["gpus"] = r.integer(body, "gpus", "", 0, minimum=0)
    if out["gpus"]:
        r.error("/gpus", "GPU resources are not offered by this cluster's agents")
    out["executor"] = r.string(body, "executor", "", "") or ""
    if out["executor"] not in ("", "//cmd"):
        r.error("/executor", "only the default command executor ('' or '//cmd') is supported")
    out["constraints"] = _read_constraints(r, body)
    out["fetch"] = _read_fetch(r, body)
    out["backoffSeconds"] = r.integer(body, "backoffSeconds", "", 1, minimum=0)
    out["backoffFactor"] = r.number(body, "backoffFactor", "", 1.15, minimum=1.0)
    out["maxLaunchDelaySeconds"] = r.integer(body, "maxLaunchDelaySeconds", "", 300, minimum=0)
    if container is not None:
        out["container"] = container
    out["requirePorts"] = r.boolean(body, "requirePorts", "", False)
    out["portDefinitions"] = _read_port_definitions(r, body, out["requirePorts"])
    if container is not None and _port_mappings(container) is not None:
        out["portDefinitions"] = []
    out["healthChecks"] = _read_health_checks(r, body, _port_count(out))
    out["readinessChecks"] = _read_readiness_checks(r, body, _port_names(out))
    out["dependencies"] = _read_dependencies(r, body, out.get("id", "/"))
    out["upgradeStrategy"] = _read_upgrade_strategy(r, body)
    out["labels"] = r.string_map(body, "labels", "")
    roles = r.strings(body, "acceptedResourceRoles", "")
    if roles is not None:
        bad = [x for x in roles if not (x == "*" or _ROLE.match(x))]
        if bad or len(set(roles)) != len(roles) or not roles:
            r.error("/acceptedResourceRoles", "must be a non-empty list of distinct role names")
        out["acceptedResourceRoles"] = roles
    role = r.string(body, "role", "", defaults.role) or defaults.role
    if role not in (defaults.role, "*"):
        r.error("/role", f"got {role!r}, expected the framework's role {defaults.role!r}")
    out["role"] = role
    grace = body.get("taskKillGracePeriodSeconds")
    if grace is not None:
        out["taskKillGracePeriodSeconds"] = r.integer(
            body, "taskKillGracePeriodSeconds", "", 0, minimum=0
        )
    out["killSelection"] = r.string(body, "killSelection", "", "YOUNGEST_FIRST")
    if out["killSelection"] not in ("YOUNGEST_FIRST", "OLDEST_FIRST"):
        r.error("/killSelection", "must be YOUNGEST_FIRST or OLDEST_FIRST")
    out["unreachableStrategy"] = _read_unreachable(r, body)
    out["networks"] = [{"mode": "container/bridge"}] if _bridged(container) else [{"mode": "host"}]
    if "version" in body and isinstance(body["version"], str):
        out["version"] = body["version"]
    r.raise_if_any()
    return out


def _port_count(app: dict[str, Any]) -> int:
    mappings = _port_mappings(app.get("container"))
    if mappings is not None:
        return sum(1 for m in mappings if m.get("hostPort") is not None)
    return len(app["portDefinitions"])


def _port_names(app: dict[str, Any]) -> set[str]:
    mappings = _port_mappings(app.get("container"))
    source = mappings if mappings is not None else app["portDefinitions"]
    return {p["name"] for p in source if p.get("name")}


def _bridged(container: dict[str, Any] | None) -> bool:
    return _port_mappings(container) is not None


def _read_env(r: Reader, body: dict[str, Any]) -> dict[str, str]:
    env = r.object(body, "env", "") or {}
    out: dict[str, str] = {}
    for name, value in env.items():
        where = f"/env/{name}"
        if isinstance(value, dict) and "secret" in value:
            r.error(where, "secrets are not supported by this cluster")
        elif not isinstance(value, str):
            r.wrong_type(where, "string")
        elif not _ENV_NAME.match(name):
            r.error(where, "is not a valid environment variable name")
        else:
            out[name] = value
    return out


def _read_constraints(r: Reader, body: dict[str, Any]) -> list[list[str]]:
    raw = body.get("constraints")
    if raw is None:
        return []
    try:
        return [c.to_json() for c in parse_constraints(raw, "/constraints")]
    except ConstraintError as e:
        # Marathon names list items as `/constraints(1)`
        r.error(re.sub(r"/(\d+)$", r"(\1)", e.path), e.message)
        return []


def _read_fetch(r: Reader, body: dict[str, Any]) -> list[dict[str, Any]]:
    def artifact(item: dict[str, Any], where: str) -> dict[str, Any] | None:
        uri = r.string(item, "uri", where)
        if not uri:
            r.error(f"{where}/uri", "must not be empty")
            return None
        out: dict[str, Any] = {
            "uri": uri,
            "extract": r.boolean(item, "extract", where, True),
            "executable": r.boolean(item, "executable", where, False),
            "cache": r.boolean(item, "cache", where, False),
        }
        dest = r.string(item, "destPath", where)
        if dest:
            if dest.startswith("/") or ".." in dest.split("/"):
                r.error(f"{where}/destPath", "must be a relative path inside the sandbox")
            out["destPath"] = dest
        return out

    fetched = r.each(body, "fetch", "", artifact) or []
    for uri in r.strings(body, "uris", "") or []:  # the deprecated form
        extract = uri.endswith((".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip"))
        fetched.append({"uri": uri, "extract": extract, "executable": False, "cache": False})
    return fetched


def _read_port_definitions(
    r: Reader, body: dict[str, Any], require_ports: bool
) -> list[dict[str, Any]]:
    def definition(item: dict[str, Any], where: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "port": r.integer(item, "port", where, 0, minimum=0, maximum=65535),
            "protocol": r.string(item, "protocol", where, "tcp"),
        }
        if out["protocol"] not in _PROTOCOLS:
            r.error(f"{where}/protocol", "must be tcp, udp or udp,tcp")
        name = r.string(item, "name", where)
        if name is not None:
            if not _PORT_NAME.match(name):
                r.error(
                    f"{where}/name", f"must fully match regular expression '{_PORT_NAME.pattern}'"
                )
            out["name"] = name
        labels = r.string_map(item, "labels", where)
        if labels:
            out["labels"] = labels
        return out

    if "portDefinitions" in body:
        ports = r.each(body, "portDefinitions", "", definition) or []
    elif "ports" in body:  # the deprecated form: a list of numbers
        ports = []
        for i, number in enumerate(body.get("ports") or []):
            if isinstance(number, bool) or not isinstance(number, int):
                r.wrong_type(f"/ports({i})", "number")
            elif not 0 <= number <= 65535:
                r.error(f"/ports({i})", f"got {number}, expected a port in 0-65535")
            else:
                ports.append({"port": number, "protocol": "tcp"})
    else:
        ports = [{"port": 0, "protocol": "tcp", "name": "default"}]
    names = [p["name"] for p in ports if "name" in p]
    if len(names) != len(set(names)):
        r.error("/portDefinitions", "port names must be unique")
    fixed = [p["port"] for p in ports if p["port"]]
    if len(fixed) != len(set(fixed)):
        r.error("/portDefinitions", "ports must be unique")
    if require_ports and any(p["port"] == 0 for p in ports):
        r.error("/portDefinitions", "requirePorts needs every port to be given (not 0)")
    return ports


def _read_health_checks(r: Reader, body: dict[str, Any], port_count: int) -> list[dict[str, Any]]:
    def check(item: dict[str, Any], where: str) -> dict[str, Any]:
        protocol = r.string(item, "protocol", where, "HTTP") or "HTTP"
        if protocol not in HEALTH_PROTOCOLS:
            r.error(f"{where}/protocol", f"must be one of {', '.join(HEALTH_PROTOCOLS)}")
        out: dict[str, Any] = {
            "gracePeriodSeconds": r.integer(item, "gracePeriodSeconds", where, 300),
            "intervalSeconds": r.integer(item, "intervalSeconds", where, 60),
            "timeoutSeconds": r.integer(item, "timeoutSeconds", where, 20),
            # Marathon's own HTTP/TCP checks start at once; Mesos checks after 15 s
            "delaySeconds": r.integer(
                item, "delaySeconds", where, 15 if protocol.startswith(("MESOS_", "COMMAND")) else 0
            ),
            "maxConsecutiveFailures": r.integer(item, "maxConsecutiveFailures", where, 3),
            "protocol": protocol,
        }
        if protocol == "COMMAND":
            command = r.object(item, "command", where) or {}
            value = r.string(command, "value", f"{where}/command")
            if not value:
                r.error(f"{where}/command", "a COMMAND health check needs command.value")
            out["command"] = {"value": value or ""}
            return out
        port_index = item.get("portIndex")
        port = item.get("port")
        if port is not None:
            out["port"] = r.integer(item, "port", where, 0, minimum=1, maximum=65535)
        elif port_index is not None or port_count:
            out["portIndex"] = r.integer(item, "portIndex", where, 0, minimum=0)
            if out["portIndex"] >= port_count:
                r.error(
                    f"{where}/portIndex",
                    f"got {out['portIndex']}, but the app has {port_count} port(s)",
                )
        else:
            r.error(where, f"a {protocol} health check needs a port or a portIndex")
        if protocol in ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"):
            path = r.string(item, "path", where, "/") or "/"
            if not path.startswith("/"):
                r.error(f"{where}/path", "must start with '/'")
            out["path"] = path
            out["ignoreHttp1xx"] = r.boolean(item, "ignoreHttp1xx", where, False)
        return out

    checks = r.each(body, "healthChecks", "", check) or []
    if len(checks) > 1:
        # Mesos runs one health check per task (TaskInfo.health_check)
        r.error("/healthChecks", "at most one health check per app is supported")
    return checks


def _read_readiness_checks(
    r: Reader, body: dict[str, Any], port_names: set[str]
) -> list[dict[str, Any]]:
    def check(item: dict[str, Any], where: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": r.string(item, "name", where, "readinessCheck"),
            "protocol": r.string(item, "protocol", where, "HTTP"),
            "path": r.string(item, "path", where, "/"),
            "portName": r.string(item, "portName", where, "http-api"),
            "intervalSeconds": r.integer(item, "intervalSeconds", where, 30),
            "timeoutSeconds": r.integer(item, "timeoutSeconds", where, 10, minimum=1),
            "httpStatusCodesForReady": [200],
            "preserveLastResponse": r.boolean(item, "preserveLastResponse", where, False),
        }
        codes = item.get("httpStatusCodesForReady")
        if codes is not None:
            if (
                not isinstance(codes, list)
                or not codes
                or not all(
                    isinstance(c, int) and not isinstance(c, bool) and 100 <= c <= 999
                    for c in codes
                )
            ):
                r.error(f"{where}/httpStatusCodesForReady", "must be a list of HTTP status codes")
            else:
                out["httpStatusCodesForReady"] = codes
        if out["protocol"] not in ("HTTP", "HTTPS"):
            r.error(f"{where}/protocol", "must be HTTP or HTTPS")
        if out["portName"] not in port_names:
            r.error(f"{where}/portName", f"no port named {out['portName']!r} in the app")
        if out["timeoutSeconds"] >= out["intervalSeconds"]:
            r.error(f"{where}/timeoutSeconds", "must be smaller than intervalSeconds")
        return out

    checks = r.each(body, "readinessChecks", "", check) or []
    if len(checks) > 1:
        r.error("/readinessChecks", "at most one readiness check per app is supported")
    return checks


def _read_dependencies(r: Reader, body: dict[str, Any], app_id: str) -> list[str]:
    out = []
    for i, dep in enumerate(r.strings(body, "dependencies", "") or []):
        try:
            out.append(pathid.normalize(dep, pathid.parent(app_id)))
        except pathid.PathIdError as e:
            r.error(f"/dependencies({i})", str(e))
    return out


def _read_upgrade_strategy(r: Reader, body: dict[str, Any]) -> dict[str, float]:
    strategy = r.object(body, "upgradeStrategy", "") or {}
    where = "/upgradeStrategy"
    return {
        "minimumHealthCapacity": r.number(
            strategy, "minimumHealthCapacity", where, 1.0, minimum=0.0, maximum=1.0
        ),
        "maximumOverCapacity": r.number(
            strategy, "maximumOverCapacity", where, 1.0, minimum=0.0, maximum=1.0
        ),
    }


def _read_unreachable(r: Reader, body: dict[str, Any]) -> Any:
    raw = body.get("unreachableStrategy")
    if raw == "disabled":
        return "disabled"
    if raw is not None and not isinstance(raw, dict):
        r.error("/unreachableStrategy", "must be 'disabled' or an object")
        raw = None
    raw = raw or {}
    where = "/unreachableStrategy"
    inactive = r.integer(raw, "inactiveAfterSeconds", where, 0)
    expunge = r.integer(raw, "expungeAfterSeconds", where, 0)
    if inactive > expunge:
        r.error(f"{where}/inactiveAfterSeconds", "must be less or equal to expungeAfterSeconds")
    return {"inactiveAfterSeconds": inactive, "expungeAfterSeconds": expunge}


def _read_container(r: Reader, body: dict[str, Any]) -> dict[str, Any] | None:
    raw = r.object(body, "container", "")
    if raw is None:
        return None
    where = "/container"
    kind = r.string(raw, "type", where, "DOCKER")
    if kind not in ("DOCKER", "MESOS"):
        r.error(f"{where}/type", "must be DOCKER or MESOS")
    out: dict[str, Any] = {"type": kind}
    docker = r.object(raw, "docker", where)
    if docker is not None:
        dw = f"{where}/docker"
        image = r.string(docker, "image", dw)
        if not image or not image.strip():
            r.error(f"{dw}/image", "must not be empty")
        elif (why := check_image_name(image)) is not None:
            r.error(f"{dw}/image", why)
        d: dict[str, Any] = {
            "image": image or "",
            "forcePullImage": r.boolean(docker, "forcePullImage", dw, False),
            "privileged": r.boolean(docker, "privileged", dw, False),
            "parameters": [],
        }
        if d["privileged"]:
            r.error(f"{dw}/privileged", "privileged containers are not allowed")
        for i, p in enumerate(r.array(docker, "parameters", dw) or []):
            if not isinstance(p, dict) or not isinstance(p.get("key"), str) or not p["key"]:
                r.error(f"{dw}/parameters({i})", "a parameter is {key, value} with a key")
            else:
                d["parameters"].append({"key": p["key"], "value": str(p.get("value", ""))})
        network = r.string(docker, "network", dw)
        if network is not None:
            if network not in ("HOST", "BRIDGE", "NONE", "USER"):
                r.error(f"{dw}/network", "must be HOST, BRIDGE, NONE or USER")
            d["network"] = network
        if "portMappings" in docker:
            d["portMappings"] = _read_port_mappings(r, docker, dw)
        out["docker"] = d
    elif kind == "DOCKER":
        r.error(f"{where}/docker", "a DOCKER container needs docker.image")
    if "portMappings" in raw:
        out["portMappings"] = _read_port_mappings(r, raw, where)
    out["volumes"] = _read_volumes(r, raw, where)
    return out


def _read_port_mappings(r: Reader, obj: dict[str, Any], where: str) -> list[dict[str, Any]]:
    def mapping(item: dict[str, Any], at: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "containerPort": r.integer(item, "containerPort", at, 0, minimum=0, maximum=65535),
            "protocol": r.string(item, "protocol", at, "tcp"),
            "servicePort": r.integer(item, "servicePort", at, 0, minimum=0, maximum=65535),
        }
        if "hostPort" in item:
            out["hostPort"] = r.integer(item, "hostPort", at, 0, minimum=0, maximum=65535)
        else:
            out["hostPort"] = 0
        name = r.string(item, "name", at)
        if name is not None:
            out["name"] = name
        labels = r.string_map(item, "labels", at)
        if labels:
            out["labels"] = labels
        return out

    return r.each(obj, "portMappings", where, mapping) or []


def _read_volumes(r: Reader, obj: dict[str, Any], where: str) -> list[dict[str, Any]]:
    def volume(item: dict[str, Any], at: str) -> dict[str, Any]:
        path = r.string(item, "containerPath", at)
        if not path:
            r.error(f"{at}/containerPath", "must not be empty")
        mode = r.string(item, "mode", at, "RW")
        if mode not in ("RO", "RW"):
            r.error(f"{at}/mode", "must be RO or RW")
        out: dict[str, Any] = {"containerPath": path or "", "mode": mode}
        host = r.string(item, "hostPath", at)
        if host is not None:
            out["hostPath"] = host
        if "persistent" in item or "external" in item:
            r.error(at, "persistent and external volumes are not supported for apps yet")
        return out

    return r.each(obj, "volumes", where, volume) or []


# --- updates ----------------------------------------------------------------------------


def merge(existing: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A PATCH (or partial PUT) body applied onto an app's canonical JSON, as Marathon does:
    given top-level fields replace the old ones; `cmd` and `args` replace each other."""
    merged = copy.deepcopy(existing)
    merged.pop("version", None)
    for key, value in patch.items():
        if key in ("version", "versionInfo", "id"):
            continue
        merged[key] = value
    if "cmd" in patch and patch["cmd"] is not None:
        merged.pop("args", None)
    if patch.get("args"):
        merged.pop("cmd", None)
    if "portDefinitions" in patch or "ports" in patch:
        merged.pop("ports" if "portDefinitions" in patch else "portDefinitions", None)
    return merged


def scaling_only(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when `new` differs from `old` in nothing but the instance count."""
    strip = {k: v for k, v in old.items() if k not in _SCALING_FIELDS}
    return strip == {k: v for k, v in new.items() if k not in _SCALING_FIELDS}


def invalid(path: str, message: str) -> Invalid:
    return Invalid(422, "Object is not valid", [{"path": path, "errors": [message]}])
