"""Plans built from a service spec: the spec's own `deploy`, `update` and custom plans, or
the SDK's defaults (deploy every pod in spec order, one instance at a time; `update` has
the deploy plan's shape unless the spec gives one).
"""

from __future__ import annotations

from .plan import Phase, Plan, PlanError, Step
from .spec import PhaseSpec, PlanSpec, PodSpec, ServiceSpec, Strategy

__all__ = ["build_plan", "check_change", "plan_names", "step_name"]


def step_name(pod: str, index: int, tasks: list[str]) -> str:
    return f"{pod}-{index}:[{', '.join(tasks)}]"


def plan_names(spec: ServiceSpec) -> list[str]:
    """deploy and update always; then the spec's custom plans."""
    names = ["deploy", "update"]
    names.extend(p.name for p in spec.plans if p.name not in names)
    return names


def build_plan(spec: ServiceSpec, name: str) -> Plan:
    """A fresh plan (every step PENDING) for `name`."""
    plan_spec = spec.plan(name)
    if plan_spec is None and name == "update":
        plan_spec = spec.plan("deploy")
    if plan_spec is None and name in ("deploy", "update"):
        plan_spec = _default_deploy(spec)
    if plan_spec is None:
        known = ", ".join(plan_names(spec))
        raise PlanError(f"service {spec.name} has no plan {name!r} (it has {known})")
    return Plan(
        name=name,
        strategy=plan_spec.strategy,
        phases=[_phase(spec.pod(p.pod), p) for p in plan_spec.phases],
    )


def _default_deploy(spec: ServiceSpec) -> PlanSpec:
    return PlanSpec(
        name="deploy",
        strategy=Strategy.SERIAL,
        phases=[
            PhaseSpec(name=pod.name, strategy=Strategy.SERIAL, pod=pod.name) for pod in spec.pods
        ],
    )


def _phase(pod: PodSpec, phase: PhaseSpec) -> Phase:
    default = next((s.tasks for s in phase.steps if s.instance is None), None)
    per_instance = {s.instance: s.tasks for s in phase.steps if s.instance is not None}
    everything = [[t.name for t in pod.tasks]]
    steps = []
    for index in range(pod.count):
        for tasks in per_instance.get(index) or default or everything:
            steps.append(
                Step(name=step_name(pod.name, index, tasks), pod=pod.name, index=index, tasks=tasks)
            )
    return Phase(name=phase.name, strategy=phase.strategy, steps=steps)


def check_change(old: ServiceSpec, new: ServiceSpec) -> None:
    """Refuse what a rolling update cannot do to deployed pods: remove one, shrink its
    count, or change its volumes (Mesos cannot resize a persistent volume, and a new one
    would lose the data). The scheduler refuses such a target; the CLI before rolling out."""
    for pod in old.pods:
        try:
            after = new.pod(pod.name)
        except KeyError:
            raise PlanError(f"pods.{pod.name}: a deployed pod cannot be removed") from None
        if after.count < pod.count:
            raise PlanError(
                f"pods.{pod.name}.count: cannot shrink from {pod.count} to {after.count}"
            )
        before_volumes, after_volumes = _volumes_of(pod), _volumes_of(after)
        if before_volumes != after_volumes:
            raise PlanError(
                f"pods.{pod.name}: the volumes of a deployed pod cannot change "
                f"(from {_show_volumes(before_volumes)} to {_show_volumes(after_volumes)})"
            )


def _volumes_of(pod: PodSpec) -> list[tuple[str, str, str, float]]:
    return sorted(
        (v.name, v.path, v.type.value, float(v.size))
        for v in [*pod.volumes, *(v for t in pod.tasks for v in t.volumes)]
    )


def _show_volumes(volumes: list[tuple[str, str, str, float]]) -> str:
    return ", ".join(f"{n} ({p}, {s:g} MB)" for n, p, _t, s in volumes) or "none"
