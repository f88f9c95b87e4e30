"""The status update manager: per-task ordered streams, a uuid per update, retries with
backoff until acknowledged, the next update only after the previous is acknowledged, held
while the master is away, and replayed from the checkpoint after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mesos_runtime.agent.status_updates import StatusUpdateManager
from mesos_runtime.wire.mesos import FrameworkID, TaskID, TaskState, TaskStatus

FW = FrameworkID(value="fw")


def status(task: str, state: TaskState) -> TaskStatus:
    return TaskStatus(task_id=TaskID(value=task), state=state)


class Master:
    """Records what the manager forwards, as the master would receive it."""

    def __init__(self) -> None:
        self.received: list[TaskStatus] = []
        self.arrived = asyncio.Event()

    async def forward(self, framework_id: FrameworkID, update: TaskStatus) -> None:
        self.received.append(update)
        self.arrived.set()

    async def next(self) -> TaskStatus:
        while True:
            await asyncio.wait_for(self.arrived.wait(), 10)
            self.arrived.clear()
            return self.received[-1]


async def test_updates_of_a_task_are_sent_one_at_a_time_in_order(tmp_path: Path) -> None:
    master = Master()
    manager = StatusUpdateManager(master.forward, retry_interval=30)
    manager.resume()
    log = tmp_path / "task.updates"
    running = manager.update(FW, status("t", TaskState.TASK_RUNNING), log)
    finished = manager.update(FW, status("t", TaskState.TASK_FINISHED), log)
    assert running.uuid and finished.uuid and running.uuid != finished.uuid
    assert (await master.next()).state is TaskState.TASK_RUNNING
    await asyncio.sleep(0)
    assert len(master.received) == 1  # FINISHED waits for RUNNING's acknowledgement
    assert manager.acknowledge(FW, "t", finished.uuid) is None  # not the head: ignored
    assert manager.acknowledge(FW, "t", running.uuid) == running
    assert (await master.next()).state is TaskState.TASK_FINISHED
    assert manager.acknowledge(FW, "t", finished.uuid) == finished
    assert not manager.has_stream(FW, "t")
    manager.close()


async def test_unacknowledged_update_is_retried_with_backoff() -> None:
    master = Master()
    manager = StatusUpdateManager(master.forward, retry_interval=0.05, max_retry_interval=0.1)
    manager.resume()
    update = manager.update(FW, status("t", TaskState.TASK_RUNNING), None)
    for _ in range(3):
        assert (await master.next()).uuid == update.uuid
    manager.acknowledge(FW, "t", update.uuid)  # type: ignore[arg-type]
    count = len(master.received)
    await asyncio.sleep(0.3)
    assert len(master.received) == count
    manager.close()


async def test_updates_are_held_while_disconnected_and_sent_on_resume() -> None:
    master = Master()
    manager = StatusUpdateManager(master.forward, retry_interval=30)
    manager.update(FW, status("a", TaskState.TASK_RUNNING), None)
    manager.update(FW, status("b", TaskState.TASK_RUNNING), None)
    await asyncio.sleep(0.05)
    assert master.received == []
    manager.resume()
    await asyncio.sleep(0.05)
    assert {u.task_id.value for u in master.received} == {"a", "b"}  # streams are independent
    manager.close()


async def test_pending_updates_are_replayed_from_the_checkpoint(tmp_path: Path) -> None:
    log = tmp_path / "task.updates"
    first = StatusUpdateManager(Master().forward, retry_interval=30)
    first.resume()
    running = first.update(FW, status("t", TaskState.TASK_RUNNING), log)
    first.acknowledge(FW, "t", running.uuid)  # type: ignore[arg-type]
    finished = first.update(FW, status("t", TaskState.TASK_FINISHED), log)
    first.close()

    master = Master()
    second = StatusUpdateManager(master.forward, retry_interval=30)  # "after a restart"
    history = second.recover(FW, "t", log)
    assert [u.state for u in history] == [TaskState.TASK_RUNNING, TaskState.TASK_FINISHED]
    assert second.pending(FW, "t") == [finished]
    second.resume()
    assert (await master.next()).uuid == finished.uuid
    second.acknowledge(FW, "t", finished.uuid)  # type: ignore[arg-type]
    assert StatusUpdateManager(master.forward).recover(FW, "t", log)[-1] == finished
    assert not StatusUpdateManager(master.forward).pending(FW, "t")
    second.close()
