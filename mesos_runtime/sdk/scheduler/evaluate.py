"""Offer evaluation: does this offer serve this pod instance's step, and with what
operations? A placed instance relaunches on its own reservation (same agent, ports and
volumes); an unplaced one is checked against its placement rules and gets RESERVE +
CREATE + LAUNCH in one ACCEPT, as the DC/OS SDK's `OfferEvaluator` does. A placed
instance whose target config needs other cpus/mem/disk/ports than its reservation holds
is re-reserved on its agent (UNRESERVE + RESERVE + LAUNCH, volumes kept) when the agent
has room, and told why not otherwise.
"""

from __future__ import annotations

import base64
import dataclasses
import shlex
import uuid
from dataclasses import dataclass

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mesos_runtime.scheduler import calls
from mesos_runtime.scheduler.constraints import Placement, parse_constraints, unmet_constraint
from mesos_runtime.scheduler.offers import (
    OfferMatch,
    OfferMismatch,
    PortRequest,
    ResourceRequest,
    VolumeRequest,
    match_offer,
    reservation_id_of,
)
from mesos_runtime.scheduler.reservations import (
    ReservePlan,
    plan_reservation,
    plan_resize,
    unreserved_for_resize,
)
from mesos_runtime.scheduler.tasks import command_task
from mesos_runtime.sdk.context import PodInstance, TaskLaunch, config_context, task_environment
from mesos_runtime.sdk.spec import PodSpec, TaskSpec, VolumeSpec
from mesos_runtime.wire.mesos import (
    CommandInfo,
    DurationInfo,
    HealthCheck,
    HealthCheckType,
    KillPolicy,
    Label,
    Labels,
    Offer,
    Operation,
    TaskInfo,
)
from mesos_runtime.wire.resources import Resources

from .records import PodRecord
from .shortfall import PodNeed, Shortfall, shortfall_of

__all__ = ["Evaluation", "Evaluator", "Refusal", "task_name_of"]

CONFIG_LABEL = "sdk_config_id"
# a readiness check is run by the agent as a health check that never kills its task
_NEVER = 1_000_000


def task_name_of(instance: str, task: str) -> str:
    return f"{instance}-{task}"


@dataclass
class Evaluation:
    operations: list[Operation]
    tasks: list[TaskInfo]
    pod: PodRecord  # the instance's placement after this ACCEPT
    remaining: Resources  # what is left of the offer for other instances


@dataclass(frozen=True)
class Refusal:
    """Why an offer does not serve a step; `on_step`: the step's status should say so (the
    step cannot go on as things are), not only the log; `shortfall`: why the offer cannot
    place an unplaced instance, for the step's waiting note."""

    reason: str
    on_step: bool = False
    shortfall: Shortfall | None = None

    def __str__(self) -> str:
        return self.reason


_EPSILON = 1e-6


class Evaluator:
    def __init__(
        self,
        service: str,
        role: str,
        principal: str | None,
        templates: dict[str, str],
        options: dict[str, object],
        *,
        template_context: dict[str, object] | None = None,
    ) -> None:
        self.service = service
        self.role = role
        self.principal = principal
        self.options = options
        self.template_context = template_context or {}
        self.env = ImmutableSandboxedEnvironment(
            loader=jinja2.DictLoader(templates),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
        )
        self.env.filters["shquote"] = lambda v: shlex.quote(str(v))

    # --- what the pod needs ---------------------------------------------------------------

    @staticmethod
    def _volumes(pod: PodSpec, task: TaskSpec, first: bool) -> list[VolumeSpec]:
        # a pod's own volumes go with its first task (a volume serves one task at a time)
        return [*(pod.volumes if first else []), *task.volumes]

    def _pod_request(self, pod: PodSpec, record: PodRecord, rid: str) -> ResourceRequest:
        ports = [PortRequest(p.name, p.port) for t in pod.tasks for p in t.ports]
        volumes = [
            VolumeRequest(f"{rid}-{v.name}", v.path, float(v.size))
            for i, t in enumerate(pod.tasks)
            for v in self._volumes(pod, t, i == 0)
        ]
        return ResourceRequest(
            cpus=sum(t.cpus for t in pod.tasks),
            mem=sum(t.memory for t in pod.tasks),
            disk=sum(t.disk for t in pod.tasks),
            ports=tuple(ports),
            volumes=tuple(volumes),
        )

    def _task_request(self, pod: PodSpec, task: TaskSpec, record: PodRecord) -> ResourceRequest:
        first = pod.tasks[0].name == task.name
        return ResourceRequest(
            cpus=task.cpus,
            mem=task.memory,
            disk=task.disk,
            ports=tuple(PortRequest(p.name, record.ports[p.name]) for p in task.ports),
            reservation_id=record.reservation_id,
            volumes=tuple(
                VolumeRequest(record.volumes[v.name], v.path, float(v.size))
                for v in self._volumes(pod, task, first)
            ),
        )

    # --- what the reservation holds, against what the target config needs -----------------

    @staticmethod
    def _port_numbers(pod: PodSpec, record: PodRecord) -> list[PortRequest]:
        """The pod's ports: fixed ones as the spec says, others keep the number they hold."""
        return [
            PortRequest(p.name, p.port or record.ports.get(p.name, 0))
            for t in pod.tasks
            for p in t.ports
        ]

    @staticmethod
    def _amounts(pod: PodSpec) -> dict[str, float]:
        return {
            "cpus": round(sum(t.cpus for t in pod.tasks), 3),
            "mem": round(sum(t.memory for t in pod.tasks), 3),
            "disk": round(sum(t.disk for t in pod.tasks), 3),
        }

    @staticmethod
    def _extra(need: dict[str, float], record: PodRecord) -> dict[str, float]:
        """What `need` asks beyond what the reservation holds."""
        return {k: max(0.0, need[k] - record.reserved.get(k, 0.0)) for k in need}

    def needs_resize(self, pod: PodSpec, record: PodRecord) -> bool:
        """The instance's reservation holds other cpus/mem/disk or ports than `pod` needs."""
        if record.reservation_id is None or not record.reserved:
            return False
        need = self._amounts(pod)
        if any(abs(need[k] - record.reserved.get(k, 0.0)) > _EPSILON for k in need):
            return True
        ports = self._port_numbers(pod, record)
        return {p.name: p.number for p in ports} != dict(record.ports)

    def room(
        self, offer: Offer, available: Resources, pod: PodSpec, record: PodRecord
    ) -> str | None:
        """None when the instance's agent (this offer's) has room for what the resize adds
        beside its reservation; else why not."""
        extra = self._extra(self._amounts(pod), record)
        held = set(record.ports.values())
        ports = tuple(
            p for p in self._port_numbers(pod, record) if p.number not in held or not p.number
        )
        request = ResourceRequest(
            cpus=extra["cpus"], mem=extra["mem"], disk=extra["disk"], ports=ports, roles=("*",)
        )
        if not any(extra.values()) and not ports:
            return None
        matched = match_offer(request, offer, available=available)
        if isinstance(matched, OfferMismatch):
            return f"{_describe_need(extra, ports)}: {matched}"
        return None

    # --- the evaluation ---------------------------------------------------------------------

    def evaluate(  # noqa: PLR0917 - the offer, the instance and what surrounds it
        self,
        offer: Offer,
        available: Resources,
        pod: PodSpec,
        record: PodRecord,
        tasks: list[str],
        placed: list[PodRecord],
        peers: dict[str, list[PodInstance]],
        config: str,
    ) -> Evaluation | Refusal:
        """Operations that launch `tasks` of the instance on `offer`, or why not."""
        operations: list[Operation] = []
        remaining = available
        names = [p.name for t in pod.tasks for p in t.ports]
        if record.reservation_id is None:
            if record.avoid_agent == offer.agent_id.value:
                left = Shortfall(
                    offer.hostname, rule="being the agent the pod is replaced away from"
                )
                return Refusal("replacing: not on the agent it left", shortfall=left)
            constraints = parse_constraints([c.to_marathon() for c in pod.placement])
            others = [Placement.of(p.hostname or "", []) for p in placed]
            broken = unmet_constraint(constraints, Placement.of_offer(offer), others, pod.count)
            if broken is not None:
                rule = f"placement {':'.join(broken.to_json())}"
                return Refusal(rule, shortfall=Shortfall(offer.hostname, rule=rule))
            rid = f"{record.name}.{uuid.uuid4().hex[:8]}"
            plan = plan_reservation(
                self._pod_request(pod, record, rid),
                offer,
                rid,
                role=self.role,
                principal=self.principal,
                available=available,
            )
            if isinstance(plan, OfferMismatch):
                short = shortfall_of(PodNeed.of(pod), available, offer.hostname)
                if not short.lacks:  # nothing it lacks in amount: say what the match said
                    short = Shortfall(offer.hostname, rule=f"its offer ({plan})")
                return Refusal(str(plan), shortfall=short)
            assert isinstance(plan, ReservePlan)
            record = record.replace(
                reservation_id=rid,
                agent_id=offer.agent_id.value,
                hostname=offer.hostname,
                ports=dict(zip(names, plan.ports, strict=True)),
                volumes={
                    v.name: f"{rid}-{v.name}"
                    for i, t in enumerate(pod.tasks)
                    for v in self._volumes(pod, t, i == 0)
                },
                avoid_agent=None,
                failed_since=None,
                reserved=self._amounts(pod),
            )
            operations.extend(plan.operations)
            remaining = available - _unreserved(plan.resources)
            pool = plan.resources
        elif offer.agent_id.value != record.agent_id:
            return Refusal("its reservation is on another agent")
        elif self.needs_resize(pod, record):
            rid = record.reservation_id
            assert rid is not None
            if not self._all_offered(available, record):
                return Refusal("resizing: waiting for all of its reservation to be offered")
            need = self._amounts(pod)
            resized = plan_resize(
                ResourceRequest(
                    cpus=need["cpus"],
                    mem=need["mem"],
                    disk=need["disk"],
                    ports=tuple(self._port_numbers(pod, record)),
                ),
                offer,
                rid,
                role=self.role,
                principal=self.principal,
                available=available,
            )
            if isinstance(resized, OfferMismatch):
                extra = self._extra(need, record)
                return Refusal(
                    f"no room on {offer.hostname} to resize its reservation "
                    f"({_describe_need(extra, ())} more): {resized}; "
                    "`pod replace` moves it to an agent with room",
                    on_step=True,
                )
            assert isinstance(resized, ReservePlan)
            record = record.replace(
                ports=dict(zip(names, resized.ports, strict=True)), reserved=need
            )
            operations.extend(resized.operations)
            freed = unreserved_for_resize(available, rid)
            remaining = freed - _unreserved(resized.resources.filter(lambda k: k.disk is None))
            pool = resized.resources
        else:
            pool = available
        infos = []
        instance = PodInstance(
            pod=pod.name,
            index=record.index,
            hostname=record.hostname or offer.hostname,
            ports=dict(record.ports),
        )
        peers = {
            **peers,
            pod.name: [*(i for i in peers.get(pod.name, []) if i.index != record.index), instance],
        }
        for name in tasks:
            task = pod.task(name)
            matched = match_offer(self._task_request(pod, task, record), offer, available=pool)
            if isinstance(matched, OfferMismatch):
                return Refusal(f"task {name}: {matched}")
            assert isinstance(matched, OfferMatch)
            pool = pool - matched.resources
            if not operations:  # on its reservation as it was: the offer's own resources
                remaining = remaining - matched.resources
            launch = TaskLaunch(
                service=self.service,
                pod=pod,
                task=task,
                instance=instance,
                peers=peers,
                sandbox=".",
            )
            infos.append(self.task_info(offer, launch, matched.resources, config))
        if infos:
            operations.append(calls.launch_operation(infos))
        return Evaluation(operations, infos, record, remaining)

    @staticmethod
    def _all_offered(available: Resources, record: PodRecord) -> bool:
        """The offer holds the whole reservation (no task of the instance uses part of it)."""
        held = available.filter(
            lambda k: reservation_id_of(k) == record.reservation_id and k.disk is None
        )
        ports = {p for begin, end in held.ports() for p in range(begin, end + 1)}
        return (
            all(held.scalar(k) + _EPSILON >= v for k, v in record.reserved.items())
            and set(record.ports.values()) <= ports
        )

    # --- the TaskInfo ------------------------------------------------------------------------

    def task_info(
        self, offer: Offer, launch: TaskLaunch, resources: Resources, config: str
    ) -> TaskInfo:
        task, instance = launch.task, launch.instance
        name = task_name_of(instance.name, task.name)
        env = task_environment(launch)
        env.update(
            {
                "FRAMEWORK_HOST": instance.hostname,
                "POD_INSTANCE_INDEX": str(instance.index),
                "TASK_NAME": name,
                "FRAMEWORK_NAME": self.service,
            }
        )
        for i, port in enumerate(p for p in task.ports):
            env[f"PORT{i}"] = str(instance.ports[port.name])
        command = self._with_configs(launch, task.cmd)
        info = command_task(
            offer,
            command,
            name=name,
            task_id=f"{name}__{uuid.uuid4()}",
            environment=env,
            resources=resources,
        )
        assert info.command is not None
        info = info.replace(
            command=CommandInfo(
                shell=True,
                value=command,
                environment=info.command.environment,
                uris=list(launch.pod.uris),
            ),
            labels=Labels(labels=[Label(key=CONFIG_LABEL, value=config)]),
            kill_policy=KillPolicy(grace_period=DurationInfo.of_seconds(task.kill_grace_period)),
            health_check=_check(task),
        )
        return info

    def _with_configs(self, launch: TaskLaunch, cmd: str) -> str:
        """Config files rendered now, written into the sandbox before the command runs."""
        if not launch.task.configs:
            return cmd
        context = config_context(launch)
        context.update(self.template_context)
        context.update({"options": self.options})
        lines = []
        for c in launch.task.configs:
            text = self.env.get_template(c.template).render(context)
            data = base64.b64encode(text.encode()).decode()
            dest = shlex.quote(c.dest)
            lines.append(f'mkdir -p "$(dirname {dest})" && echo {data} | base64 -d > {dest}')
        return " && ".join(lines) + "\n" + cmd


def _describe_need(amounts: dict[str, float], ports: tuple[PortRequest, ...]) -> str:
    parts = [f"{k} {v:g}" for k, v in amounts.items() if v > 0]
    parts += [f"port {p.name}" + (f" {p.number}" if p.number else "") for p in ports]
    return ", ".join(parts) or "nothing"


def _unreserved(reserved: Resources) -> Resources:
    """The offer's unreserved resources that a RESERVE (and CREATE) turned into `reserved`."""
    out = Resources()
    for key, value in reserved:
        plain = dataclasses.replace(key, reservations=key.reservations[:-1], disk=None)
        out = out + Resources({plain: value})
    return out


def _check(task: TaskSpec) -> HealthCheck | None:
    """The agent's health check carries readiness too: healthy = ready (and then healthy)."""
    ready, health = task.readiness_check, task.health_check
    if ready is None and health is None:
        return None
    if ready is not None and health is None:
        cmd, interval, delay, timeout = ready.cmd, ready.interval, ready.delay, ready.timeout
        failures, grace = _NEVER, 0.0
    elif ready is None:
        assert health is not None
        cmd, interval, delay, timeout = health.cmd, health.interval, health.delay, health.timeout
        failures, grace = health.max_consecutive_failures, health.grace_period
    else:
        assert health is not None
        # until ready once, probe readiness (failures within the grace period don't count)
        cmd = (
            f"if [ -e .sdk-ready ]; then {health.cmd}; else ( {ready.cmd} ) && touch .sdk-ready; fi"
        )
        interval, delay = ready.interval, ready.delay
        timeout = max(ready.timeout, health.timeout)
        failures, grace = health.max_consecutive_failures, health.grace_period
    return HealthCheck(
        type=HealthCheckType.COMMAND,
        command=CommandInfo(shell=True, value=cmd),
        delay_seconds=delay,
        interval_seconds=interval,
        timeout_seconds=timeout,
        consecutive_failures=failures,
        grace_period_seconds=grace,
    )
