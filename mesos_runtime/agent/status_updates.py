"""The status update manager: one ordered stream of updates per task, delivered to the
master at least once.

Every update gets a uuid and is checkpointed (an append-only log per task) before it is
sent; the head of a stream is resent with backoff until the master relays the framework's
ACKNOWLEDGE for its uuid, and only then is the next update of that task sent, as Mesos'
status update manager does. Streams pause while the master is unreachable and resume (all
heads resent at once) when the agent has re-registered; logs replay after a restart.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from mesos_runtime.wire.mesos import FrameworkID, TaskStatus, status_uuid

from . import checkpoint

# sends (or queues) an update for the master; a coroutine is run as a task
Forward = Callable[[FrameworkID, TaskStatus], Awaitable[None] | None]


@dataclass(slots=True)
class _Stream:
    framework_id: FrameworkID
    log: Path | None
    pending: deque[TaskStatus] = field(default_factory=deque)
    interval: float = 0.0
    timer: asyncio.TimerHandle | None = None
    terminal_acked: bool = False


class StatusUpdateManager:
    """Per-task streams of status updates, retried until acknowledged."""

    def __init__(
        self, forward: Forward, *, retry_interval: float = 2.0, max_retry_interval: float = 60.0
    ) -> None:
        self._forward = forward
        self._min = retry_interval
        self._max = max_retry_interval
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._paused = True  # until the agent is registered
        self._tasks: set[asyncio.Task[None]] = set()
        self._logs = checkpoint.AppendLogs()

    # --- updates in ---------------------------------------------------------------

    def update(
        self,
        framework_id: FrameworkID,
        status: TaskStatus,
        log: Path | None,
        *,
        checkpoint: bool = True,
    ) -> TaskStatus:
        """Queue `status` (a uuid is assigned when it has none); checkpoint it (unless
        `checkpoint` is false: the checkpoint is what failed); send it when it is at the
        head of its task's stream. Returns the status as queued. Raises OSError when the
        checkpoint fails, and then queues nothing."""
        if status.uuid is None:
            status = status.replace(uuid=status_uuid())
        key = (framework_id.value, status.task_id.value)
        stream = self._streams.get(key) or _Stream(framework_id, log)
        if stream.log is not None and checkpoint:
            self._logs.append(stream.log, {"update": status.to_json()})
        self._streams[key] = stream
        stream.pending.append(status)
        if len(stream.pending) == 1:
            self._send_head(key, stream, reset=True)
        return status

    def recover(self, framework_id: FrameworkID, task_id: str, log: Path) -> list[TaskStatus]:
        """Replay a task's checkpointed stream; returns every update it holds (in order),
        and queues again those never acknowledged."""
        updates: list[TaskStatus] = []
        acked: set[bytes] = set()
        for entry in checkpoint.read_json_lines(log):
            if "update" in entry:
                updates.append(TaskStatus.from_json(entry["update"]))
            elif "ack" in entry:
                acked.add(base64.b64decode(entry["ack"]))
        unacked = [u for u in updates if u.uuid not in acked]
        stream = _Stream(framework_id, log, pending=deque(unacked))
        stream.terminal_acked = bool(updates) and not unacked and updates[-1].state.is_terminal
        if unacked:
            self._streams[(framework_id.value, task_id)] = stream
            self._send_head((framework_id.value, task_id), stream, reset=True)
        return updates

    # --- acknowledgements -------------------------------------------------------------

    def acknowledge(
        self, framework_id: FrameworkID, task_id: str, uuid: bytes
    ) -> TaskStatus | None:
        """The framework acknowledged `uuid`: returns the acknowledged update (None when it
        is not the head of the stream: a duplicate or stale acknowledgement)."""
        key = (framework_id.value, task_id)
        stream = self._streams.get(key)
        if stream is None or not stream.pending or stream.pending[0].uuid != uuid:
            return None
        acked = stream.pending.popleft()
        if stream.log is not None:
            self._logs.append(stream.log, {"ack": base64.b64encode(uuid).decode()})
            if acked.state.is_terminal:
                self._logs.close(stream.log)  # nothing follows a terminal update
        if stream.timer is not None:
            stream.timer.cancel()
            stream.timer = None
        if stream.pending:
            self._send_head(key, stream, reset=True)
        else:
            del self._streams[key]
        return acked

    def pending(self, framework_id: FrameworkID, task_id: str) -> list[TaskStatus]:
        stream = self._streams.get((framework_id.value, task_id))
        return list(stream.pending) if stream else []

    def unacknowledged_count(self) -> int:
        return sum(len(s.pending) for s in self._streams.values())

    def has_stream(self, framework_id: FrameworkID, task_id: str) -> bool:
        return (framework_id.value, task_id) in self._streams

    def forget_framework(self, framework_id: FrameworkID) -> None:
        """The framework is gone (removed by the master): its updates can never be acked."""
        for key in [k for k in self._streams if k[0] == framework_id.value]:
            stream = self._streams.pop(key)
            if stream.timer is not None:
                stream.timer.cancel()
            if stream.log is not None:
                self._logs.close(stream.log)

    # --- connection state ---------------------------------------------------------------

    def pause(self) -> None:
        self._paused = True
        for stream in self._streams.values():
            if stream.timer is not None:
                stream.timer.cancel()
                stream.timer = None

    def resume(self) -> None:
        """(Re-)registered: resend every stream's head now."""
        self._paused = False
        for key, stream in list(self._streams.items()):
            if stream.pending:
                self._send_head(key, stream, reset=True)

    def close(self) -> None:
        self.pause()
        self._logs.close_all()
        for task in self._tasks:
            task.cancel()

    # --- sending ----------------------------------------------------------------------

    def _send_head(self, key: tuple[str, str], stream: _Stream, *, reset: bool) -> None:
        if self._paused or not stream.pending:
            return
        if stream.timer is not None:
            stream.timer.cancel()
        stream.interval = self._min if reset else min(stream.interval * 2, self._max)
        head = stream.pending[0]
        sent = self._forward(stream.framework_id, head)
        if inspect.isawaitable(sent):
            task = asyncio.ensure_future(sent)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        stream.timer = asyncio.get_running_loop().call_later(
            stream.interval, self._retry, key, head.uuid
        )

    def _retry(self, key: tuple[str, str], uuid: bytes | None) -> None:
        stream = self._streams.get(key)
        if stream is None or not stream.pending or stream.pending[0].uuid != uuid:
            return
        stream.timer = None
        self._send_head(key, stream, reset=False)
