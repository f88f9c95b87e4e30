"""What the service scheduler keeps in its store beside the library's framework id, tasks
and reservations: where each pod instance lives (`pods/`), the target configuration
(`config/target`), every plan's progress (`plans/`), reservations left by replaced
instances (`orphans/`) and tasks an operator's plan restart is replacing (`superseded/`).
"""

from __future__ import annotations

import dataclasses
import hashlib

from mesos_runtime.scheduler.state import SchedulerState
from mesos_runtime.sdk.plan import Plan
from mesos_runtime.wire.record import Record, record, repeated, required

__all__ = ["Orphan", "PodRecord", "ServiceStore", "TargetConfig", "config_id"]

_PODS = "pods"
_PLANS = "plans"
_CONFIG = "config"
_ORPHANS = "orphans"
_SUPERSEDED = "superseded"


def config_id(spec_text: str) -> str:
    return hashlib.sha256(spec_text.encode()).hexdigest()[:16]


@record
class PodRecord(Record):
    """One pod instance's placement: its agent, reservation, ports and volumes.

    `reservation_id` None: not placed (new, or being replaced: then `avoid_agent` is the
    agent it left, and `failed_since` when its agent went away)."""

    name: str = required()  # kafka-0
    pod: str = required()
    index: int = required()
    reservation_id: str | None = None
    agent_id: str | None = None
    hostname: str | None = None
    ports: dict[str, int] = dataclasses.field(default_factory=dict)
    volumes: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> persistence id
    avoid_agent: str | None = None
    failed_since: float | None = None
    attributes: list[str] = repeated()  # "name:value", for placement rules
    # cpus/mem/disk the reservation holds besides its volumes (a config update that needs
    # other amounts re-reserves); empty in records written before it was kept
    reserved: dict[str, float] = dataclasses.field(default_factory=dict)


@record
class Orphan(Record):
    """A reservation no instance holds any more (its instance was replaced), until it is
    unreserved; `agent_id` is unknown in records written before it was kept."""

    hostname: str = ""
    agent_id: str | None = None


@record
class TargetConfig(Record):
    id: str = required()
    spec: str = required()


class ServiceStore:
    """Typed access to the service's own records, on the library's `SchedulerState`."""

    def __init__(self, state: SchedulerState) -> None:
        self.state = state

    async def pods(self) -> dict[str, PodRecord]:
        raw = await self.state.all_json(_PODS)
        return {name: PodRecord.from_json(value) for name, value in raw.items()}

    async def put_pod(self, pod: PodRecord) -> None:
        await self.state.put_json(_PODS, pod.name, pod.to_json())

    async def remove_pod(self, name: str) -> None:
        await self.state.delete_json(_PODS, name)

    async def plans(self) -> dict[str, Plan]:
        raw = await self.state.all_json(_PLANS)
        return {name: Plan.from_json(value) for name, value in raw.items()}

    async def put_plan(self, name: str, plan: Plan) -> None:
        await self.state.put_json(_PLANS, name, plan.to_json())

    async def target(self) -> TargetConfig | None:
        raw = await self.state.get_json(_CONFIG, "target")
        return None if raw is None else TargetConfig.from_json(raw)

    async def put_target(self, target: TargetConfig) -> None:
        await self.state.put_json(_CONFIG, "target", target.to_json())

    async def orphans(self) -> dict[str, Orphan]:
        """Reservations left behind by replaced instances, by id, until unreserved."""
        raw = await self.state.all_json(_ORPHANS)
        return {
            rid: Orphan(hostname=value) if isinstance(value, str) else Orphan.from_json(value)
            for rid, value in raw.items()
        }

    async def put_orphan(self, reservation_id: str, orphan: Orphan) -> None:
        await self.state.put_json(_ORPHANS, reservation_id, orphan.to_json())

    async def remove_orphan(self, reservation_id: str) -> None:
        await self.state.delete_json(_ORPHANS, reservation_id)

    async def superseded(self) -> dict[str, str]:
        """Running tasks a plan restart replaces (task id -> step), until they have ended."""
        return await self.state.all_json(_SUPERSEDED)

    async def put_superseded(self, task_id: str, step: str) -> None:
        await self.state.put_json(_SUPERSEDED, task_id, step)

    async def remove_superseded(self, task_id: str) -> None:
        await self.state.delete_json(_SUPERSEDED, task_id)

    async def wipe(self) -> None:
        """Remove everything the service stored (uninstall)."""
        store = self.state.store
        for namespace in (
            "tasks",
            "reservations",
            f"data/{_PODS}",
            f"data/{_PLANS}",
            f"data/{_CONFIG}",
            f"data/{_ORPHANS}",
            f"data/{_SUPERSEDED}",
            "data/finished",
            "framework",
        ):
            for name in await store.names(namespace):
                await store.delete(namespace, name)
