"""The tasks a scheduler launched, kept in its store so that a restarted (or newly
elected) instance adopts them: it re-subscribes with the stored framework id and
reconciles the stored tasks until each has answered.

A record is written when a task is launched, when it first runs and when its health or
terminal state arrives; other updates (STARTING, repeats) change only memory.
"""

from __future__ import annotations

import asyncio
import logging
import time

from mesos_runtime.wire.mesos import Offer, TaskInfo, TaskState, TaskStatus

from .client import SchedulerClient
from .reconcile import reconcile_until_settled
from .state import SchedulerState, TaskRecord

__all__ = ["TaskTracker"]

log = logging.getLogger(__name__)


class TaskTracker:
    """Launched tasks by id; `load()` them, `launched()` each, feed it every `update()`."""

    def __init__(self, state: SchedulerState) -> None:
        self.state = state
        self.records: dict[str, TaskRecord] = {}
        self._unanswered: set[str] = set()
        self._reconciler: asyncio.Task[None] | None = None

    async def load(self) -> dict[str, TaskRecord]:
        """Read the stored tasks (on start, or on being elected)."""
        self.records = await self.state.tasks()
        return self.records

    def active(self) -> list[TaskRecord]:
        return list(self.records.values())

    async def launched(self, task: TaskInfo, offer: Offer) -> TaskRecord:
        """Record a task about to be launched on `offer` (before the ACCEPT goes out)."""
        record = TaskRecord(
            task=task,
            hostname=offer.hostname,
            attributes=list(offer.attributes),
            staged_at=time.time(),
            status=TaskStatus(
                task_id=task.task_id, state=TaskState.TASK_STAGING, agent_id=task.agent_id
            ),
        )
        self.records[record.task_id] = record
        await self.state.put_task(record)
        return record

    async def forget(self, task_id: str) -> None:
        self.records.pop(task_id, None)
        self._unanswered.discard(task_id)
        await self.state.remove_task(task_id)

    async def update(self, status: TaskStatus) -> TaskRecord | None:
        """Apply a status update; the record (None for a task this scheduler never launched).

        A terminal state removes the task from the store; the record returned carries it.
        """
        task_id = status.task_id.value
        self._unanswered.discard(task_id)
        record = self.records.get(task_id)
        if record is None:
            return None
        previous = record.status
        record.status = status
        if status.state.is_terminal:
            del self.records[task_id]
            await self.state.remove_task(task_id)
            return record
        first_run = status.state is TaskState.TASK_RUNNING and record.started_at is None
        if first_run:
            record.started_at = time.time()
        health_changed = previous is None or previous.healthy != status.healthy
        if first_run or (health_changed and status.healthy is not None):
            await self.state.put_task(record)
        return record

    # --- adoption ----------------------------------------------------------------------

    def adopt(self, client: SchedulerClient, **options: float) -> asyncio.Task[None]:
        """On SUBSCRIBED: reconcile every known task until each has answered, then
        implicitly (answers for tasks not in `records` come back as unknown updates)."""
        if self._reconciler is not None:
            self._reconciler.cancel()
        self._unanswered = set(self.records)
        self._reconciler = asyncio.create_task(
            reconcile_until_settled(client, self.unanswered, **options),  # type: ignore[arg-type]
            name="reconcile",
        )
        return self._reconciler

    def unanswered(self) -> list[tuple[str, str]]:
        """(task, agent) of the known tasks with no update since the last subscription."""
        return [
            (task_id, self.records[task_id].agent_id)
            for task_id in self._unanswered
            if task_id in self.records
        ]

    def stop(self) -> None:
        if self._reconciler is not None:
            self._reconciler.cancel()
            self._reconciler = None
