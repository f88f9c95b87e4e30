"""The service spec, as typed records: pods (count, placement, resources, ports, volumes,
URIs) of tasks (goal, command, environment, config files, checks), and plans of phases
and steps. `parse_spec` is the edge: it checks a YAML/JSON document and builds the records.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import jsonschema
import yaml

from mesos_runtime.wire.mesos import URI
from mesos_runtime.wire.record import Record, record, repeated, required

from .placement import Constraint, PlacementError, parse_placement
from .spec_schema import SPEC_SCHEMA

__all__ = [
    "ConfigSpec",
    "Goal",
    "HealthCheckSpec",
    "PhaseSpec",
    "PlanSpec",
    "PodSpec",
    "PortSpec",
    "Problems",
    "ReadinessCheckSpec",
    "ReplacementPolicy",
    "SchedulerSpec",
    "ServiceSpec",
    "SpecError",
    "StepSpec",
    "Strategy",
    "TaskSpec",
    "VolumeSpec",
    "VolumeType",
    "error_path",
    "load_spec",
    "parse_spec",
]


class Problems(ValueError):
    """Every problem found in one document, each naming its path (one per line)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class SpecError(Problems):
    """A spec that is not valid."""


class Goal(enum.Enum):
    RUNNING = "RUNNING"  # keep running; restart when it exits
    FINISH = "FINISH"  # run to completion; run again when its config changes
    ONCE = "ONCE"  # run to completion once for the life of the service


class Strategy(enum.Enum):
    SERIAL = "serial"
    PARALLEL = "parallel"


class VolumeType(enum.Enum):
    ROOT = "ROOT"  # a persistent volume on the agent's work disk
    MOUNT = "MOUNT"  # a whole mount disk


@record(frozen=True)
class VolumeSpec(Record):
    name: str = required()
    path: str = required()  # container path, relative to the sandbox
    size: int = required()  # MB
    type: VolumeType = VolumeType.ROOT


@record(frozen=True)
class PortSpec(Record):
    name: str = required()
    port: int = 0  # 0: any port the offer has
    env_key: str = required()  # the task sees its port in this environment variable
    advertise: bool = False  # listed in the service's endpoints


@record(frozen=True)
class HealthCheckSpec(Record):
    cmd: str = required()
    interval: float = 15.0
    delay: float = 0.0
    timeout: float = 10.0
    grace_period: float = 30.0
    max_consecutive_failures: int = 3


@record(frozen=True)
class ReadinessCheckSpec(Record):
    cmd: str = required()
    interval: float = 5.0
    delay: float = 0.0
    timeout: float = 10.0


@record(frozen=True)
class ConfigSpec(Record):
    name: str = required()
    template: str = required()  # a file of the package's templates/
    dest: str = required()  # relative to the sandbox


@record(frozen=True)
class TaskSpec(Record):
    name: str = required()
    goal: Goal = Goal.RUNNING
    cmd: str = required()
    cpus: float = required()
    memory: float = required()  # MB
    disk: float = 0.0  # MB of scratch disk in the sandbox
    ports: list[PortSpec] = repeated()
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    configs: list[ConfigSpec] = repeated()
    volumes: list[VolumeSpec] = repeated()
    health_check: HealthCheckSpec | None = None
    readiness_check: ReadinessCheckSpec | None = None
    kill_grace_period: float = 30.0
    essential: bool = True


@record(frozen=True)
class ReplacementPolicy(Record):
    """When a pod whose agent is gone is replaced elsewhere (None: only by operator)."""

    permanent_failure_timeout_secs: float | None = None
    min_replace_delay_secs: float = 0.0


@record(frozen=True)
class PodSpec(Record):
    name: str = required()  # the pod type, e.g. "kafka"; instances are kafka-0, kafka-1, ...
    count: int = required()
    placement: list[Constraint] = repeated()
    uris: list[URI] = repeated()
    user: str | None = None
    volumes: list[VolumeSpec] = repeated()
    replacement_failure_policy: ReplacementPolicy = dataclasses.field(
        default_factory=ReplacementPolicy
    )
    tasks: list[TaskSpec] = repeated()

    def task(self, name: str) -> TaskSpec:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)

    def instance_name(self, index: int) -> str:
        return f"{self.name}-{index}"


@record(frozen=True)
class StepSpec(Record):
    instance: int | None = None  # None: the default for every instance not listed
    tasks: list[list[str]] = repeated()  # one step per inner list


@record(frozen=True)
class PhaseSpec(Record):
    name: str = required()
    strategy: Strategy = Strategy.SERIAL
    pod: str = required()
    steps: list[StepSpec] = repeated()


@record(frozen=True)
class PlanSpec(Record):
    name: str = required()
    strategy: Strategy = Strategy.SERIAL
    phases: list[PhaseSpec] = repeated()


@record(frozen=True)
class SchedulerSpec(Record):
    principal: str | None = None
    user: str | None = None
    role: str | None = None


@record(frozen=True)
class ServiceSpec(Record):
    name: str = required()
    scheduler: SchedulerSpec = dataclasses.field(default_factory=SchedulerSpec)
    pods: list[PodSpec] = repeated()
    plans: list[PlanSpec] = repeated()

    def pod(self, name: str) -> PodSpec:
        for pod in self.pods:
            if pod.name == name:
                return pod
        raise KeyError(name)

    def plan(self, name: str) -> PlanSpec | None:
        return next((p for p in self.plans if p.name == name), None)


# --- the edge: documents to records --------------------------------------------------------

_VALIDATOR = jsonschema.Draft202012Validator(SPEC_SCHEMA)


def error_path(error: jsonschema.ValidationError | jsonschema.SchemaError) -> str:
    """A JSON Schema error's location as an option/field path: `brokers.count`."""
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def load_spec(text: str, source: str = "service spec") -> ServiceSpec:
    """Parse YAML text into a checked ServiceSpec."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError([f"{source}: not valid YAML: {e}"]) from None
    return parse_spec(doc)


def parse_spec(doc: Any) -> ServiceSpec:
    """Check a spec document (structure, then meaning) and build its records."""
    errors = [
        f"{error_path(e)}: {e.message}"
        for e in sorted(_VALIDATOR.iter_errors(doc), key=lambda e: list(map(str, e.path)))
    ]
    if errors:
        raise SpecError(errors)
    builder = _Builder()
    spec = builder.service(doc)
    if builder.errors:
        raise SpecError(builder.errors)
    return spec


def _port_env_key(name: str) -> str:
    return "PORT_" + name.upper().replace("-", "_")


def _safe_relative(path: str) -> bool:
    pure = PurePosixPath(path)
    return not pure.is_absolute() and ".." not in pure.parts and path not in ("", ".")


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Builder:
    """Builds records from a structurally valid document, collecting meaning errors."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def service(self, doc: dict[str, Any]) -> ServiceSpec:
        pods = [self.pod(name, body) for name, body in doc["pods"].items()]
        scheduler = doc.get("scheduler") or {}
        spec = ServiceSpec(
            name=doc["name"],
            scheduler=SchedulerSpec(
                principal=scheduler.get("principal"),
                user=scheduler.get("user"),
                role=scheduler.get("role"),
            ),
            pods=pods,
            plans=[self.plan(name, body, pods) for name, body in (doc.get("plans") or {}).items()],
        )
        return spec

    def volumes(self, body: dict[str, Any], where: str) -> list[VolumeSpec]:
        found = []
        if "volume" in body:
            v = body["volume"]
            found.append((PurePosixPath(v["path"]).name, v, f"{where}.volume"))
        for name, v in (body.get("volumes") or {}).items():
            found.append((name, v, f"{where}.volumes.{name}"))
        out = []
        for name, v, at in found:
            if not _safe_relative(v["path"]):
                self.errors.append(f"{at}.path: {v['path']!r} must be relative to the sandbox")
            kind = VolumeType(v.get("type", "ROOT"))
            out.append(VolumeSpec(name=name, path=v["path"], size=v["size"], type=kind))
        return out

    def uri(self, value: str | dict[str, Any], where: str) -> URI:
        if isinstance(value, str):
            return URI(value=value)
        output = value.get("output-file")
        if output is not None and not _safe_relative(output):
            self.errors.append(f"{where}.output-file: {output!r} must be relative to the sandbox")
        return URI(
            value=value["uri"],
            checksum=value.get("checksum"),
            extract=value.get("extract"),
            cache=value.get("cache"),
            executable=value.get("executable"),
            output_file=output,
        )

    def pod(self, name: str, body: dict[str, Any]) -> PodSpec:
        where = f"pods.{name}"
        try:
            placement = parse_placement(body.get("placement"), f"{where}.placement")
        except PlacementError as e:
            self.errors.append(str(e))
            placement = []
        policy = body.get("replacement-failure-policy") or {}
        tasks = [self.task(t, b, f"{where}.tasks.{t}") for t, b in body["tasks"].items()]
        pod = PodSpec(
            name=name,
            count=body["count"],
            placement=placement,
            uris=[self.uri(u, f"{where}.uris[{i}]") for i, u in enumerate(body.get("uris", []))],
            user=body.get("user"),
            volumes=self.volumes(body, where),
            replacement_failure_policy=ReplacementPolicy(
                permanent_failure_timeout_secs=policy.get("permanent-failure-timeout-secs"),
                min_replace_delay_secs=policy.get("min-replace-delay-secs", 0.0),
            ),
            tasks=tasks,
        )
        self.check_pod(pod, where)
        return pod

    def task(self, name: str, body: dict[str, Any], where: str) -> TaskSpec:
        ports = [
            PortSpec(
                name=port,
                port=p.get("port", 0),
                env_key=p.get("env-key", _port_env_key(port)),
                advertise=p.get("advertise", False),
            )
            for port, p in (body.get("ports") or {}).items()
        ]
        configs = []
        for config, c in (body.get("configs") or {}).items():
            if not _safe_relative(c["dest"]):
                self.errors.append(
                    f"{where}.configs.{config}.dest: {c['dest']!r} must be relative to the sandbox"
                )
            configs.append(ConfigSpec(name=config, template=c["template"], dest=c["dest"]))
        health = body.get("health-check")
        readiness = body.get("readiness-check")
        goal = Goal(body.get("goal", "RUNNING"))
        if health is not None and goal is not Goal.RUNNING:
            self.errors.append(f"{where}.health-check: only a RUNNING task has a health check")
        return TaskSpec(
            name=name,
            goal=goal,
            cmd=body["cmd"],
            cpus=float(body["cpus"]),
            memory=float(body["memory"]),
            disk=float(body.get("disk", 0)),
            ports=ports,
            env={k: _env_value(v) for k, v in (body.get("env") or {}).items()},
            configs=configs,
            volumes=self.volumes(body, where),
            health_check=None
            if health is None
            else HealthCheckSpec(
                cmd=health["cmd"],
                interval=health.get("interval", 15.0),
                delay=health.get("delay", 0.0),
                timeout=health.get("timeout", 10.0),
                grace_period=health.get("grace-period", 30.0),
                max_consecutive_failures=health.get("max-consecutive-failures", 3),
            ),
            readiness_check=None
            if readiness is None
            else ReadinessCheckSpec(
                cmd=readiness["cmd"],
                interval=readiness.get("interval", 5.0),
                delay=readiness.get("delay", 0.0),
                timeout=readiness.get("timeout", 10.0),
            ),
            kill_grace_period=body.get("kill-grace-period", 30.0),
            essential=body.get("essential", True),
        )

    def check_pod(self, pod: PodSpec, where: str) -> None:
        """What the schema cannot say: names and numbers unique across the pod's tasks."""
        port_names: dict[str, str] = {}
        fixed_ports: dict[int, str] = {}
        paths: dict[str, str] = {v.path: "the pod" for v in pod.volumes}
        for task in pod.tasks:
            at = f"{where}.tasks.{task.name}"
            env_keys: set[str] = set()
            for port in task.ports:
                if port.name in port_names:
                    self.errors.append(
                        f"{at}.ports.{port.name}: name already used by task {port_names[port.name]}"
                    )
                port_names[port.name] = task.name
                if port.port and port.port in fixed_ports:
                    self.errors.append(
                        f"{at}.ports.{port.name}: port {port.port} already used by "
                        f"{fixed_ports[port.port]}"
                    )
                fixed_ports[port.port or -1] = f"{task.name}.{port.name}"
                if port.env_key in env_keys:
                    self.errors.append(f"{at}.ports.{port.name}: env-key {port.env_key} repeated")
                env_keys.add(port.env_key)
            for volume in task.volumes:
                if volume.path in paths:
                    self.errors.append(
                        f"{at}.volumes.{volume.name}: path {volume.path!r} already used by "
                        f"{paths[volume.path]}"
                    )
                paths[volume.path] = f"task {task.name}"
            dests = [c.dest for c in task.configs]
            for dest in {d for d in dests if dests.count(d) > 1}:
                self.errors.append(f"{at}.configs: two configs write {dest!r}")

    def plan(self, name: str, body: dict[str, Any], pods: list[PodSpec]) -> PlanSpec:
        by_name = {p.name: p for p in pods}
        phases = []
        for phase_name, phase in body["phases"].items():
            at = f"plans.{name}.phases.{phase_name}"
            pod = by_name.get(phase["pod"])
            if pod is None:
                self.errors.append(f"{at}.pod: no pod named {phase['pod']!r}")
            steps = []
            for i, step in enumerate(phase.get("steps") or []):
                ((key, groups),) = step.items()
                instance = None if key == "default" else int(key)
                if pod is not None:
                    self.check_step(pod, instance, groups, f"{at}.steps[{i}]")
                steps.append(StepSpec(instance=instance, tasks=groups))
            phases.append(
                PhaseSpec(
                    name=phase_name,
                    strategy=Strategy(phase.get("strategy", "serial")),
                    pod=phase["pod"],
                    steps=steps,
                )
            )
        return PlanSpec(name=name, strategy=Strategy(body.get("strategy", "serial")), phases=phases)

    def check_step(
        self, pod: PodSpec, instance: int | None, groups: list[list[str]], at: str
    ) -> None:
        if instance is not None and instance >= pod.count:
            self.errors.append(f"{at}: pod {pod.name} has no instance {instance}")
        known = {t.name for t in pod.tasks}
        for task in (t for group in groups for t in group):
            if task not in known:
                self.errors.append(f"{at}: pod {pod.name} has no task {task!r}")


def iter_task_instances(spec: ServiceSpec) -> Iterator[tuple[PodSpec, int, TaskSpec]]:
    """Every (pod, instance index, task) of the spec, in spec order."""
    for pod in spec.pods:
        for index in range(pod.count):
            for task in pod.tasks:
                yield pod, index, task
