"""The uninstall plan (`SDK_UNINSTALL=true`): kill every task, DESTROY the volumes and
UNRESERVE the resources as they are offered, TEARDOWN the framework and wipe the store;
then keep serving `GET /v1/plans/deploy` (the uninstall plan, COMPLETE) until Marathon
deletes the app, as the DC/OS SDK's uninstall scheduler does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from mesos_runtime.scheduler import Framework, SchedulerClient, SchedulerState, TaskTracker
from mesos_runtime.scheduler.offers import reservation_id_of
from mesos_runtime.scheduler.reservations import unreserve_operations
from mesos_runtime.sdk.plan import Phase, Plan, Status, Step
from mesos_runtime.sdk.spec import Strategy
from mesos_runtime.wire.mesos import Offer, TaskStatus
from mesos_runtime.wire.resources import Resources
from mesos_runtime.wire.scheduler import Subscribed

from .config import SchedulerConfig
from .records import ServiceStore

__all__ = ["Uninstaller"]

log = logging.getLogger(__name__)

# a reservation not offered this long after the tasks died is on an agent that is gone
UNOFFERED_TIMEOUT = 30.0
# after the tasks died, how long offers are taken for reservations no record names
SETTLE = 3.0


class Uninstaller(Framework):
    def __init__(self, cfg: SchedulerConfig, state: SchedulerState, webui_url: str) -> None:
        super().__init__()
        self.cfg = cfg
        self.state = state
        self.store = ServiceStore(state)
        self.tracker = TaskTracker(state)
        self.webui_url = webui_url
        self.framework_id: str | None = None
        self.plan = Plan(
            name="deploy",
            strategy=Strategy.SERIAL,
            phases=[
                Phase(name="kill-tasks", strategy=Strategy.PARALLEL),
                Phase(name="unreserve-resources", strategy=Strategy.PARALLEL),
                Phase(name="deregister-service", strategy=Strategy.SERIAL),
            ],
        )
        self.client: SchedulerClient | None = None
        self._tasks_dead_at: float | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.done = asyncio.Event()
        self.connected = asyncio.Event()  # SUBSCRIBED at least once

    async def load(self) -> bool:
        """Read what to undo; False when nothing was ever registered (nothing to do)."""
        framework_id = await self.state.framework_id()
        await self.tracker.load()
        pods = await self.store.pods()
        orphans = await self.store.orphans()
        kill, unreserve, deregister = self.plan.phases
        kill.steps = [
            Step(name=r.task.name, pod="task", index=0, tasks=[r.task_id])
            for r in self.tracker.records.values()
        ]
        unreserve.steps = [
            Step(name=p.reservation_id, pod="reservation", index=0, message=p.hostname)
            for p in pods.values()
            if p.reservation_id
        ] + [
            Step(name=rid, pod="reservation", index=0, message=host)
            for rid, host in sorted(orphans.items())
        ]
        deregister.steps = [Step(name="deregister", pod="framework", index=0)]
        if framework_id is None:
            for step in self.plan.steps():
                step.status = Status.COMPLETE
            await self.store.wipe()
            self.done.set()
            return False
        self.framework_id = framework_id.value
        return True

    # --- the API's view ---------------------------------------------------------------------

    def plan_names(self) -> list[str]:
        return ["deploy"]

    def plan_view(self, name: str) -> Plan:
        if name != "deploy":
            raise KeyError(name)
        return self.plan

    async def plan_changed(self) -> None:
        return None

    def pod_names(self) -> list[str]:
        return []

    def pod_status(self) -> dict[str, Any]:
        return {"service": self.cfg.service_name, "pods": []}

    async def restart_pod(self, instance: str) -> list[str]:
        return []

    async def replace_pod(self, instance: str) -> list[str]:
        return []

    def endpoints(self) -> dict[str, dict[str, list[str]]]:
        return {}

    def target_spec(self) -> dict[str, Any]:
        return {"id": None, "name": self.cfg.service_name, "spec": self.cfg.spec_text}

    def framework_id_value(self) -> str | None:
        return self.framework_id

    def health(self) -> bool:
        return self.plan.status is Status.COMPLETE

    def step_timings(self) -> dict[str, dict[str, float]]:
        return {}

    # --- the framework ----------------------------------------------------------------------

    async def subscribed(self, client: SchedulerClient, subscribed: Subscribed) -> None:
        self.client = client
        self.connected.set()
        self.tracker.adopt(client, interval=0.5)
        for record in list(self.tracker.records.values()):
            await client.kill(record.task.task_id, record.task.agent_id)
        await client.revive([self.cfg.role])
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick())
        await self._check()

    async def update(self, client: SchedulerClient, status: TaskStatus) -> None:
        record = await self.tracker.update(status)
        kill = self.plan.phases[0]
        if record is None and not status.state.is_terminal:
            await client.kill(status.task_id, status.agent_id)
            kill.steps.append(
                Step(name=status.task_id.value, pod="task", index=0, status=Status.STARTING)
            )
        if status.state.is_terminal:
            for step in kill.steps:
                if status.task_id.value in (*step.tasks, step.name):
                    step.status = Status.COMPLETE
        await self._check()

    async def offers(self, client: SchedulerClient, offers: list[Offer]) -> None:
        unreserve = self.plan.phases[1]
        tasks_dead = self.plan.phases[0].status is Status.COMPLETE
        for offer in offers:
            operations = []
            if tasks_dead:
                ids = {
                    rid
                    for key, _ in Resources.from_wire(offer.resources)
                    if key.role == self.cfg.role and (rid := reservation_id_of(key)) is not None
                }
                for rid in sorted(ids):
                    operations.extend(unreserve_operations(offer, rid))
                    step = next((s for s in unreserve.steps if s.name == rid), None)
                    if step is None:
                        step = Step(name=rid, pod="reservation", index=0)
                        unreserve.steps.append(step)
                    step.status, step.message = Status.COMPLETE, f"released on {offer.hostname}"
            if operations:
                await client.accept([offer.id], operations, filters=0)
            else:
                await client.decline([offer.id], 1)
        await self._check()

    async def _tick(self) -> None:
        while not self.done.is_set():
            await asyncio.sleep(1.0)
            await self._check()

    async def _check(self) -> None:
        kill, unreserve, deregister = self.plan.phases
        if kill.status is not Status.COMPLETE:
            return
        if self._tasks_dead_at is None:
            self._tasks_dead_at = time.time()
            for step in unreserve.steps:
                if step.status is Status.PENDING:
                    step.status = Status.STARTING
        waited = time.time() - self._tasks_dead_at
        if waited < SETTLE:
            return  # offers from every agent, with reservations no record knows, come first
        if unreserve.status is not Status.COMPLETE:
            if waited < UNOFFERED_TIMEOUT:
                return
            for step in unreserve.steps:
                if step.status is not Status.COMPLETE:
                    step.status = Status.COMPLETE
                    step.message = "never offered: its agent is gone"
        step = deregister.steps[0]
        if step.status is not Status.PENDING or self.client is None:
            return  # done, or under way (the ticker and the hooks both get here)
        step.status = Status.STARTING
        await self.client.teardown()
        await self.store.wipe()
        step.status = Status.COMPLETE
        log.info(
            "uninstalled %s: tasks killed, resources released, store wiped", self.cfg.service_name
        )
        self.done.set()
        self.stop()
