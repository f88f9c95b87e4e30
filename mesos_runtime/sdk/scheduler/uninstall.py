"""The uninstall plan (`SDK_UNINSTALL=true`): kill every task, DESTROY the volumes and
UNRESERVE the resources as they are offered, TEARDOWN the framework and wipe the store;
then keep serving `GET /v1/plans/deploy` (the uninstall plan, COMPLETE) until Marathon
deletes the app, as the DC/OS SDK's uninstall scheduler does.

What sits on an agent that is unreachable or gone cannot be removed, and is not waited for:
such a task (TASK_UNREACHABLE, LOST, GONE, UNKNOWN) counts as ended, and a reservation
there is reported, by name, instead of unreserved. Whether a reservation's agent is there
is asked of the master by reconciling a task id that cannot exist on that agent: Mesos
answers TASK_UNREACHABLE for an unreachable agent, TASK_GONE for a gone one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from mesos_runtime.scheduler import (
    CallError,
    Framework,
    SchedulerClient,
    SchedulerState,
    TaskTracker,
)
from mesos_runtime.scheduler.offers import reservation_id_of
from mesos_runtime.scheduler.reservations import unreserve_operations
from mesos_runtime.sdk.plan import Phase, Plan, Status, Step
from mesos_runtime.sdk.spec import Strategy
from mesos_runtime.wire.mesos import (
    AGENT_AWAY_STATES,
    AGENT_GONE_STATES,
    Offer,
    TaskState,
    TaskStatus,
)
from mesos_runtime.wire.resources import Resources
from mesos_runtime.wire.scheduler import Subscribed

from .config import SchedulerConfig
from .records import ServiceStore

__all__ = ["Uninstaller"]

log = logging.getLogger(__name__)

# a reservation not offered this long after the tasks died is on an agent that offers
# nothing (deactivated, or unknown to the master)
UNOFFERED_TIMEOUT = 30.0
# after the tasks died, how long offers are taken for reservations no record names
SETTLE = 3.0
# how often the master is asked again about the agents of reservations still not offered
PROBE_INTERVAL = 5.0
PROBE_SUFFIX = ".uninstall-probe"  # a task id no task of the service ever has

# a task in these states is on an agent that is not there: nothing left to kill
# (or unknown to the master: a task it never heard of is not there to kill either)
_AGENT_AWAY = AGENT_AWAY_STATES | {TaskState.TASK_UNKNOWN}


def _not_killed(state: TaskState, agent: str) -> str:
    """A kill step's message for a task whose agent is not there."""
    if state is TaskState.TASK_UNREACHABLE:
        # it may come back: the master then shuts down the tasks of the removed framework
        return f"not killed: its agent {agent} is unreachable (TASK_UNREACHABLE)"
    if state is TaskState.TASK_UNKNOWN:
        return f"ended: the master knows no such task on agent {agent} (TASK_UNKNOWN)"
    return f"ended with its agent {agent} ({state.value})"


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
        self._agents: dict[str, str | None] = {}  # reservation id -> its agent, when known
        self._last_probe = float("-inf")
        self.left: list[str] = []  # what could not be removed, by name
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
            Step(name=rid, pod="reservation", index=0, message=orphan.hostname)
            for rid, orphan in sorted(orphans.items())
        ]
        self._agents = {p.reservation_id: p.agent_id for p in pods.values() if p.reservation_id}
        self._agents.update({rid: o.agent_id for rid, o in orphans.items()})
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

    async def restart_steps(self, steps: list[Step]) -> None:
        return None  # nothing runs that a restart would replace

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
        task_id = status.task_id.value
        if task_id.endswith(PROBE_SUFFIX):
            self._probed(status)
            await self._check()
            return
        record = await self.tracker.update(status)
        kill = self.plan.phases[0]
        step = next((s for s in kill.steps if task_id in (*s.tasks, s.name)), None)
        away = status.state in _AGENT_AWAY
        terminal = status.state.is_terminal
        if step is None and not terminal:
            step = Step(name=task_id, pod="task", index=0, status=Status.STARTING)
            kill.steps.append(step)
            if not away:
                await client.kill(status.task_id, status.agent_id)
        if step is not None and step.status is not Status.COMPLETE and (terminal or away):
            step.status = Status.COMPLETE
            if away:
                agent = status.agent_id.value if status.agent_id else "unknown"
                step.message = _not_killed(status.state, agent)
                if status.state is TaskState.TASK_UNREACHABLE:
                    self.left.append(f"task {step.name} on agent {agent} (unreachable)")
            if record is not None and not terminal:
                await self.tracker.forget(task_id)  # nothing more to hear from it
        await self._check()

    def _probed(self, status: TaskStatus) -> None:
        """The master's answer about a reservation's agent (see the module's docstring)."""
        rid = status.task_id.value.removesuffix(PROBE_SUFFIX)
        step = next((s for s in self.plan.phases[1].steps if s.name == rid), None)
        if step is None or step.status is Status.COMPLETE:
            return
        agent = self._agents.get(rid)
        host = f" on {step.message}" if step.message else ""
        if status.state is TaskState.TASK_UNREACHABLE:
            # it stays reserved for the role if the agent comes back
            step.message = f"not removed: reservation {rid}{host}: its agent {agent} is unreachable"
            self.left.append(f"reservation {rid}{host} (agent {agent} unreachable)")
            log.warning("%s: %s", self.cfg.service_name, step.message)
        elif status.state in AGENT_GONE_STATES:
            step.message = f"gone with its agent {agent}{host} ({status.state.value})"
        else:
            return  # its agent is there (or unknown to the master): wait for its offers
        step.status = Status.COMPLETE

    async def _probe(self) -> None:
        """Ask the master about the agents of the reservations not yet released."""
        if self.client is None or time.monotonic() - self._last_probe < PROBE_INTERVAL:
            return
        self._last_probe = time.monotonic()
        pending = [
            (f"{s.name}{PROBE_SUFFIX}", agent)
            for s in self.plan.phases[1].steps
            if s.status is not Status.COMPLETE and (agent := self._agents.get(s.name))
        ]
        if pending:
            try:
                await self.client.reconcile(pending)
            except CallError as e:
                log.warning(
                    "asking about the agents of %d reservations refused: %s", len(pending), e
                )

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
                    self._agents[rid] = offer.agent_id.value
            if operations:
                await client.accept([offer.id], operations, filters=0)
            else:
                await client.decline([offer.id], 1)
        await self._check()

    async def _tick(self) -> None:
        while not self.done.is_set():
            await asyncio.sleep(1.0)
            try:
                await self._check()
            except ConnectionError as e:  # the stream is gone: the next subscription goes on
                log.info("uninstall check postponed: %s", e)
            except Exception:
                log.exception("uninstall check failed")

    async def _check(self) -> None:
        kill, unreserve, deregister = self.plan.phases
        if kill.status is not Status.COMPLETE:
            return
        if self._tasks_dead_at is None:
            self._tasks_dead_at = time.time()
            for step in unreserve.steps:
                if step.status is Status.PENDING:
                    step.status = Status.STARTING
        if unreserve.status is not Status.COMPLETE:
            await self._probe()
        waited = time.time() - self._tasks_dead_at
        if waited < SETTLE:
            return  # offers from every agent, with reservations no record knows, come first
        if unreserve.status is not Status.COMPLETE:
            if waited < UNOFFERED_TIMEOUT:
                return
            for step in unreserve.steps:
                if step.status is not Status.COMPLETE:
                    step.status = Status.COMPLETE
                    host = f" on {step.message}" if step.message else ""
                    agent = self._agents.get(step.name) or "unknown"
                    step.message = (
                        f"not removed: reservation {step.name}{host}: never offered within "
                        f"{UNOFFERED_TIMEOUT:.0f}s (its agent {agent} offers nothing: "
                        "deactivated, or unknown to the master)"
                    )
                    self.left.append(f"reservation {step.name}{host} (never offered)")
                    log.warning("%s: %s", self.cfg.service_name, step.message)
        step = deregister.steps[0]
        if step.status is not Status.PENDING or self.client is None:
            return  # done, or under way (the ticker and the hooks both get here)
        step.status = Status.STARTING
        await self.client.teardown()
        await self.store.wipe()
        step.status = Status.COMPLETE
        if self.left:
            step.message = f"left behind: {', '.join(self.left)}"
            log.warning("uninstalled %s, %s", self.cfg.service_name, step.message)
        else:
            log.info(
                "uninstalled %s: tasks killed, resources released, store wiped",
                self.cfg.service_name,
            )
        self.done.set()
        self.stop()
