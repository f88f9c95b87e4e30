"""A load framework for the chaos suite and the failover benchmark, on mesos_runtime.scheduler.

It launches short command tasks, at most `in_flight` at a time, until `total` logical tasks
have FINISHED; an attempt reported LOST/GONE/UNREACHABLE/DROPPED/FAILED/ERROR is relaunched
under a new id. It records every offer, rescind, status update and acknowledgement, and
checks offers as they arrive (`violations`), so a test can assert what the framework saw.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from dataclasses import dataclass, field

from mesos_runtime.scheduler import (
    Framework,
    SchedulerClient,
    command_task,
    reconcile_until_settled,
    run,
)
from mesos_runtime.wire.mesos import (
    FrameworkCapability,
    FrameworkCapabilityType,
    FrameworkInfo,
    Offer,
    OfferID,
    TaskState,
    TaskStatus,
)
from mesos_runtime.wire.resources import Resources

RELAUNCH = {
    TaskState.TASK_LOST,
    TaskState.TASK_GONE,
    TaskState.TASK_UNREACHABLE,
    TaskState.TASK_DROPPED,
    TaskState.TASK_FAILED,
    TaskState.TASK_ERROR,
    TaskState.TASK_KILLED,
    TaskState.TASK_UNKNOWN,
    TaskState.TASK_GONE_BY_OPERATOR,
}
# what settles an attempt for this framework (UNREACHABLE is not terminal in Mesos, but the
# framework gives up on the attempt and relaunches it)
SETTLED = RELAUNCH | {TaskState.TASK_FINISHED}


@dataclass
class Attempt:
    task_id: str
    logical: int
    agent_id: str
    states: list[TaskState] = field(default_factory=list)
    launched: float = field(default_factory=time.monotonic)

    @property
    def settled(self) -> bool:
        return any(s in SETTLED for s in self.states)


class LoadFramework(Framework):
    """Launch `total` tasks of `command`, `in_flight` at a time; relaunch the lost ones."""

    def __init__(
        self,
        total: int = 60,
        in_flight: int = 6,
        command: str = "sleep 0.5",
        agent_total: Resources | None = None,
    ) -> None:
        super().__init__()
        self.total = total
        self.in_flight = in_flight
        self.command = command
        self.pending: collections.deque[int] = collections.deque(range(total))
        self.attempts: dict[str, Attempt] = {}
        self.finished: dict[int, str] = {}  # logical task -> the attempt that finished
        self.subscriptions: list[str] = []  # framework id at each SUBSCRIBED
        self.updates: list[TaskStatus] = []
        self.uuids: dict[tuple[str, str], TaskStatus] = {}  # (task id, uuid) -> update
        self.acknowledged: set[tuple[str, str]] = set()
        self.outstanding: dict[str, Offer] = {}  # offer id -> offer, until answered
        self.offers_seen: list[tuple[float, str, str, Resources]] = []  # (t, offer, agent, res)
        self.violations: list[str] = []
        self.agent_total = agent_total  # every agent's --resources (scalars), if known
        self.done = asyncio.Event()
        self.progress = asyncio.Event()
        self._reconciler: asyncio.Task[None] | None = None

    # --- views -----------------------------------------------------------------------

    def running_attempts(self) -> list[Attempt]:
        return [a for a in self.attempts.values() if not a.settled]

    def attempts_on(self, agent_id: str) -> list[Attempt]:
        return [a for a in self.attempts.values() if a.agent_id == agent_id]

    def count_in(self, state: TaskState) -> int:
        return sum(1 for a in self.attempts.values() if state in a.states)

    # --- hooks -----------------------------------------------------------------------

    async def subscribed(self, client: SchedulerClient, subscribed) -> None:
        self.subscriptions.append(subscribed.framework_id.value)
        # offers of a previous subscription (or master) are void now
        self.outstanding.clear()
        # learn what became of attempts launched before a failover. The master answers for
        # tasks on agents it knows and stays silent for re-registering ones, so ask again
        # until every attempt is settled, as Mesos' reconciliation guide says to
        if self._reconciler is not None:
            self._reconciler.cancel()
        self._reconciler = asyncio.create_task(
            reconcile_until_settled(
                client,
                self._unsettled,
                interval=2.0,
                backoff=1.0,
                implicit=False,
                until=self.done.is_set,
            )
        )

    def _unsettled(self) -> list[tuple[str, str]]:
        stale = time.monotonic() - 2.0
        return [(a.task_id, a.agent_id) for a in self.running_attempts() if a.launched < stale]

    def stop(self) -> None:
        if self._reconciler is not None:
            self._reconciler.cancel()
        super().stop()

    async def offers(self, client: SchedulerClient, offers: list[Offer]) -> None:
        for offer in offers:
            self._check_offer(offer)
        for offer in offers:
            tasks = []
            available = Resources.from_wire(offer.resources).unallocated()
            need = Resources.scalars(cpus=0.2, mem=64)  # task + command executor
            while (
                self.pending
                and len(self.running_attempts()) + len(tasks) < self.in_flight
                and available.contains(need)
            ):
                logical = self.pending.popleft()
                attempt_no = sum(1 for a in self.attempts.values() if a.logical == logical)
                task = command_task(
                    offer,
                    self.command,
                    task_id=f"load-{logical}.{attempt_no}",
                    cpus=0.1,
                    mem=32,
                )
                tasks.append(task)
                available = available - need
            self.outstanding.pop(offer.id.value, None)
            if tasks:
                for task in tasks:
                    self.attempts[task.task_id.value] = Attempt(
                        task.task_id.value,
                        int(task.task_id.value[5:].split(".")[0]),
                        offer.agent_id.value,
                    )
                await client.launch([offer.id], tasks)
            else:
                await client.decline([offer.id], filters=0.5)

    async def rescind(self, client: SchedulerClient, offer_id: OfferID) -> None:
        self.outstanding.pop(offer_id.value, None)

    async def update(self, client: SchedulerClient, status: TaskStatus) -> None:
        self.updates.append(status)
        task_id = status.task_id.value
        if status.uuid is not None:
            self.uuids[(task_id, str(status.uuid))] = status
        attempt = self.attempts.get(task_id)
        if attempt is None:
            self.violations.append(f"update for a task never launched: {task_id}")
        else:
            was_settled = attempt.settled
            attempt.states.append(status.state)
            if not was_settled and status.state is TaskState.TASK_FINISHED:
                if attempt.logical in self.finished:
                    self.violations.append(
                        f"logical task {attempt.logical} finished twice: "
                        f"{self.finished[attempt.logical]} and {task_id}"
                    )
                self.finished[attempt.logical] = task_id
            elif not was_settled and status.state in RELAUNCH:
                if attempt.logical not in self.finished:
                    self.pending.append(attempt.logical)
            elif (
                was_settled
                and status.state is TaskState.TASK_FINISHED
                and TaskState.TASK_FINISHED not in attempt.states[:-1]
            ):
                # an attempt given up on (e.g. UNREACHABLE) finished after all
                self.violations.append(f"{task_id} finished after it was relaunched")
        if status.uuid is not None and status.agent_id is not None:
            with contextlib.suppress(Exception):  # the agent re-sends unacknowledged updates
                await client.acknowledge(status)
                self.acknowledged.add((task_id, str(status.uuid)))
        self.progress.set()
        if len(self.finished) == self.total:
            self.done.set()
        if self.pending:
            with contextlib.suppress(Exception):
                await client.revive()

    # --- offer checks ----------------------------------------------------------------

    def _check_offer(self, offer: Offer) -> None:
        offer_id, agent_id = offer.id.value, offer.agent_id.value
        resources = Resources.from_wire(offer.resources)
        if any(o == offer_id for _, o, _, _ in self.offers_seen):
            self.violations.append(f"offer {offer_id} offered twice")
        self.offers_seen.append((time.monotonic(), offer_id, agent_id, resources))
        self.outstanding[offer_id] = offer
        total = self.agent_total
        if total is None:
            return
        offered = Resources()
        for other in self.outstanding.values():
            if other.agent_id.value == agent_id:
                offered = offered + Resources.from_wire(other.resources)
        # compare what `agent_total` names (cpus, mem): the agent adds disk and ports itself
        offered = offered.unallocated().filter(lambda k: k.name in ("cpus", "mem"))
        if not total.contains(offered):
            self.violations.append(
                f"agent {agent_id} offered {offered} at once, more than its {total}"
            )


def framework_info(name: str = "load") -> FrameworkInfo:
    return FrameworkInfo(
        user="root",
        name=name,
        failover_timeout=600,
        capabilities=[FrameworkCapability(type=FrameworkCapabilityType.PARTITION_AWARE)],
    )


async def run_load(
    master: str, framework: LoadFramework, name: str = "load"
) -> tuple[SchedulerClient, asyncio.Task[None]]:
    """Subscribe `framework` to `master` (any --master value) and drive it in a task."""
    client = SchedulerClient(master, framework_info(name), subscribe_timeout=120)
    return client, asyncio.create_task(run(client, framework, auto_acknowledge=False))
