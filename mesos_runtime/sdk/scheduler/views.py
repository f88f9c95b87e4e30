"""What the scheduler's HTTP API reads: plan names, pod instances, advertised endpoints,
the target configuration, the framework id and step timings."""

from __future__ import annotations

from typing import Any

from mesos_runtime.sdk.plan import Plan
from mesos_runtime.sdk.spec import ServiceSpec

from .evaluate import task_name_of
from .records import PodRecord

__all__ = ["ApiViews"]


class ApiViews:
    """The API's read side of the service scheduler (its plans, pods and endpoints)."""

    cfg: Any
    spec: ServiceSpec
    plans: dict[str, Plan]
    pods: dict[str, PodRecord]
    framework_id: str | None
    timings: dict[str, dict[str, float]]
    target: str

    async def _save_plans(self) -> None: ...
    async def progress(self, new_work: bool = False) -> None: ...

    def plan_names(self) -> list[str]:
        names = ["deploy", "recovery", *[n for n in self.plans if n not in ("deploy", "recovery")]]
        return names if "update" in names else [*names[:1], "update", *names[1:]]

    async def plan_changed(self) -> None:
        await self._save_plans()
        await self.progress(new_work=True)

    def pod_names(self) -> list[str]:
        return [p.instance_name(i) for p in self.spec.pods for i in range(p.count)]

    def endpoints(self) -> dict[str, dict[str, list[str]]]:
        out: dict[str, dict[str, list[str]]] = {}
        for pod in self.spec.pods:
            for task in pod.tasks:
                for port in task.ports:
                    if not port.advertise:
                        continue
                    entry = out.setdefault(port.name, {"address": [], "dns": []})
                    for index in range(pod.count):
                        record = self.pods.get(pod.instance_name(index))
                        if (
                            record is None
                            or record.hostname is None
                            or port.name not in record.ports
                        ):
                            continue
                        number = record.ports[port.name]
                        entry["address"].append(f"{record.hostname}:{number}")
                        name = task_name_of(pod.instance_name(index), task.name)
                        entry["dns"].append(f"{name}.{self.cfg.service_name}.mesos:{number}")
        return out

    def target_spec(self) -> dict[str, Any]:
        return {"id": self.target, "name": self.cfg.service_name, "spec": self.cfg.spec_text}

    def framework_id_value(self) -> str | None:
        return self.framework_id

    def step_timings(self) -> dict[str, dict[str, float]]:
        return self.timings
