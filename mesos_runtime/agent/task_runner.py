"""One task's process under a built-in executor: fetch, start, supervise, kill, recover.

It reports TASK_STARTING, TASK_RUNNING (and health changes), then exactly one terminal
state; it checkpoints the process (pid and start time) and any kill in progress, so that a
restarted agent re-attaches to it and still reports how it ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from mesos_runtime.wire.mesos import (
    StatusReason,
    StatusSource,
    TaskInfo,
    TaskState,
)
from mesos_runtime.wire.record import Record, record

from . import checkpoint
from .containerizer import (
    Containerizer,
    ContainerProcess,
    ExitStatus,
    ProcessCheckpoint,
)
from .fetcher import Fetcher, FetchError
from .health_checks import HealthChecker
from .isolation import IsolationState, Limitation
from .users import TaskUser, UserError, Users

# (state, message, reason, source, healthy)
StatusSink = Callable[[TaskState, str | None, StatusReason | None, StatusSource, bool | None], None]


@record
class RunnerCheckpoint(Record):
    process: ProcessCheckpoint | None = None
    started_at: float | None = None  # wall clock, for max_completion_time
    killing: bool | None = None
    kill_reason: str | None = None  # kill | limitation | max_completion | health | cleanup
    kill_message: str | None = None


class TaskRunner:
    """Runs one TaskInfo with `command` in a container, as Mesos' command executor does."""

    def __init__(
        self,
        task: TaskInfo,
        *,
        containerizer: Containerizer,
        fetcher: Fetcher,
        isolation: IsolationState,
        sandbox: Path,
        meta: Path,
        env: dict[str, str],
        kill_grace: float,
        killing_state: bool,
        partition_aware: bool = False,
        on_status: StatusSink,
        users: Users | None = None,
        user_name: str | None = None,
    ) -> None:
        self.task = task
        self.users = users or Users(switch_user=False)
        self.user_name = user_name  # who the task runs as (--switch_user)
        self.user: TaskUser | None = None
        self.containerizer = containerizer
        self.fetcher = fetcher
        self.isolation = isolation
        self.sandbox = sandbox
        self.meta = meta
        self.env = env
        self.kill_grace = kill_grace
        self.killing_state = killing_state  # the framework has TASK_KILLING_STATE
        self.partition_aware = partition_aware
        self.on_status = on_status
        self.ckpt = RunnerCheckpoint()
        self.process: ContainerProcess | None = None
        self.done: asyncio.Future[TaskState] = asyncio.get_running_loop().create_future()
        self._timers: list[asyncio.TimerHandle] = []
        self._health: HealthChecker | None = None
        self._main: asyncio.Task[None] | None = None
        self._pending_kill: tuple[float, str, str | None] | None = None

    @property
    def task_id(self) -> str:
        return self.task.task_id.value

    @property
    def checkpoint_file(self) -> Path:
        return Path(f"{self.meta}.runner")

    def _save(self) -> None:
        checkpoint.write_record(self.checkpoint_file, self.ckpt)

    # --- launch -------------------------------------------------------------------

    def start(self) -> None:
        self._main = asyncio.get_running_loop().create_task(self._launch())

    async def _launch(self) -> None:
        command = self.task.command
        try:
            if command is None:
                raise ValueError("task has no 'command' for the command executor")
            argv = self.containerizer.command_argv(command)
            self.user = await self.users.resolve(self.user_name)
            if self.user is not None:
                self.user.own_sandbox(self.sandbox)
                self.env = {**self.env, **self.user.environment()}
            if command.uris:
                await self.fetcher.fetch(command.uris, self.sandbox, self.user)
        except (FetchError, UserError, ValueError, OSError, UnicodeError) as e:
            self._finish(
                TaskState.TASK_FAILED,
                str(e),
                StatusReason.REASON_CONTAINER_LAUNCH_FAILED,
                StatusSource.SOURCE_AGENT,
            )
            return
        if self.ckpt.killing:
            self._finish(
                TaskState.TASK_KILLED,
                "Task killed before it was launched",
                StatusReason.REASON_TASK_KILLED_DURING_LAUNCH,
            )
            return
        self.on_status(TaskState.TASK_STARTING, None, None, StatusSource.SOURCE_EXECUTOR, None)
        try:
            process = await self.containerizer.spawn(
                self.isolation,
                argv,
                env=self.env,
                workdir=self.sandbox,
                sandbox=self.sandbox,
                status_file=Path(f"{self.meta}.exit_status"),
                user=self.user,
            )
        except Exception as e:  # noqa: BLE001 - whatever the spawn raised fails the task
            # e.g. ValueError for a NUL in the argv or '=' in an environment name
            self._finish(
                TaskState.TASK_FAILED,
                f"Failed to launch the command: {e}",
                StatusReason.REASON_CONTAINER_LAUNCH_FAILED,
            )
            return
        self.ckpt.process = process.checkpoint
        self.ckpt.started_at = time.time()
        try:
            self._save()
        except OSError as e:
            # without its checkpoint no restarted agent could find the process again: it
            # must not run on untracked (disk full, a name too long for the filesystem)
            process.signal(signal.SIGKILL)
            await process.wait()
            self._finish(
                TaskState.TASK_FAILED,
                f"Failed to checkpoint the task's process: {e}",
                StatusReason.REASON_CONTAINER_LAUNCH_FAILED,
                StatusSource.SOURCE_AGENT,
            )
            return
        self.process = process
        self.on_status(TaskState.TASK_RUNNING, None, None, StatusSource.SOURCE_EXECUTOR, None)
        if self._pending_kill is not None:  # a kill arrived while the process was starting
            self.ckpt.killing = False
            self.kill(*self._pending_kill)
        await self._supervise()

    def recover(self, ckpt: RunnerCheckpoint, state: TaskState) -> None:
        """Re-attach after an agent restart (the task's process may have ended meanwhile)."""
        self.ckpt = ckpt
        if ckpt.process is None:
            self._finish(
                TaskState.TASK_FAILED,
                "The agent restarted while the task was being launched",
                StatusReason.REASON_EXECUTOR_TERMINATED,
                StatusSource.SOURCE_AGENT,
            )
            return
        self.process = self.containerizer.recover(ckpt.process)
        if ckpt.killing:
            self.process.signal(signal.SIGTERM)
            self._timers.append(
                asyncio.get_running_loop().call_later(
                    self.kill_grace, self.process.signal, signal.SIGKILL
                )
            )
        self._main = asyncio.get_running_loop().create_task(self._supervise())

    async def _supervise(self) -> None:
        assert self.process is not None
        loop = asyncio.get_running_loop()
        if self.task.max_completion_time is not None and not self.ckpt.killing:
            elapsed = time.time() - (self.ckpt.started_at or time.time())
            remaining = max(self.task.max_completion_time.seconds - elapsed, 0.0)
            self._timers.append(loop.call_later(remaining, self._max_completion_reached))
        if self.task.health_check is not None and not self.ckpt.killing:
            if self.user is None and self.user_name:  # re-attached after an agent restart
                with contextlib.suppress(UserError):
                    self.user = await self.users.resolve(self.user_name)
            self._health = HealthChecker(
                self.containerizer.health_check(self.task.health_check),
                sandbox=self.sandbox,
                env=self.env,
                user=self.user,
                on_health=self._health_changed,
                on_unhealthy=self._unhealthy,
            )
            self._health.start()
        exit_status = await self.process.wait()
        self._exited(exit_status)

    # --- ending -------------------------------------------------------------------

    def _exited(self, exit_status: ExitStatus) -> None:
        limitation = None
        if not exit_status.success:
            limitation = self.containerizer.limitation(self.isolation)
        reason = self.ckpt.kill_reason
        if reason == "limitation" or (limitation is not None and reason != "kill"):
            self._finish(
                TaskState.TASK_FAILED,
                self.ckpt.kill_message or (limitation.message if limitation else None),
                StatusReason.REASON_CONTAINER_LIMITATION_MEMORY,
            )
        elif reason == "max_completion":
            self._finish(
                TaskState.TASK_FAILED,
                "Task has reached its max completion time",
                StatusReason.REASON_MAX_COMPLETION_TIME_REACHED,
            )
        elif reason == "health":
            self._finish(
                TaskState.TASK_KILLED,
                self.ckpt.kill_message,
                StatusReason.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
                healthy=False,
            )
        elif reason == "cleanup":
            # killed by an agent restarting with --recover=cleanup, not by the framework
            self._finish(
                TaskState.TASK_GONE if self.partition_aware else TaskState.TASK_LOST,
                "Task killed by the agent restarting with --recover=cleanup",
                StatusReason.REASON_AGENT_RESTARTED,
                StatusSource.SOURCE_AGENT,
            )
        elif reason == "kill":
            self._finish(TaskState.TASK_KILLED, exit_status.describe(), None)
        elif exit_status.success:
            self._finish(TaskState.TASK_FINISHED, exit_status.describe(), None)
        else:
            self._finish(
                TaskState.TASK_FAILED,
                exit_status.describe(),
                None if exit_status.code is not None else StatusReason.REASON_EXECUTOR_TERMINATED,
            )

    def _finish(
        self,
        state: TaskState,
        message: str | None,
        reason: StatusReason | None,
        source: StatusSource = StatusSource.SOURCE_EXECUTOR,
        healthy: bool | None = None,
    ) -> None:
        if self.done.done():
            return
        for timer in self._timers:
            timer.cancel()
        if self._health is not None:
            self._health.stop()
        self.on_status(state, message, reason, source, healthy)
        self.done.set_result(state)

    # --- killing ------------------------------------------------------------------

    def kill(
        self, grace: float | None = None, reason: str = "kill", message: str | None = None
    ) -> None:
        """SIGTERM the task's process group, SIGKILL after the grace period."""
        if self.done.done():
            return
        grace = self.kill_grace if grace is None else grace
        if self.ckpt.killing:
            if grace == 0 and self.process is not None:
                self.process.signal(signal.SIGKILL)  # escalate a kill already under way
            return
        self.ckpt.killing = True
        self.ckpt.kill_reason = reason
        self.ckpt.kill_message = message
        if self.process is None:
            self._pending_kill = (grace, reason, message)
            return  # not started yet: _launch sees the kill
        self._save()
        if self._health is not None:
            self._health.stop()
        if reason == "kill" and self.killing_state:
            self.on_status(TaskState.TASK_KILLING, None, None, StatusSource.SOURCE_EXECUTOR, None)
        if grace <= 0:
            self.process.signal(signal.SIGKILL)
            return
        self.process.signal(signal.SIGTERM)
        self._timers.append(
            asyncio.get_running_loop().call_later(grace, self.process.signal, signal.SIGKILL)
        )

    def kill_for_limitation(self, limitation: Limitation) -> None:
        self.kill(0, "limitation", limitation.message)

    def _max_completion_reached(self) -> None:
        self.kill(0, "max_completion")

    def _health_changed(self, healthy: bool, message: str) -> None:
        if not self.done.done() and not self.ckpt.killing:
            self.on_status(
                TaskState.TASK_RUNNING,
                message,
                StatusReason.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
                StatusSource.SOURCE_EXECUTOR,
                healthy,
            )

    def _unhealthy(self, failures: int) -> None:
        self.kill(
            None,
            "health",
            f"Task killed after {failures} consecutive failed health checks",
        )

    def stop_watching(self) -> None:
        """The agent is stopping but the task keeps running (it is recovered later)."""
        for timer in self._timers:
            timer.cancel()
        if self._health is not None:
            self._health.stop()
        if self._main is not None:
            self._main.cancel()


class OomWatch:
    """Calls back when the container's memory cgroup reports an OOM (cgroups isolation)."""

    def __init__(
        self,
        containerizer: Containerizer,
        isolation: IsolationState,
        on_oom: Callable[[Limitation], None],
    ) -> None:
        self._fd = containerizer.watch_oom(isolation)
        self._containerizer = containerizer
        self._isolation = isolation
        self._on_oom = on_oom
        if self._fd is not None:
            asyncio.get_running_loop().add_reader(self._fd, self._fired)

    def _fired(self) -> None:
        with contextlib.suppress(OSError):
            # drain the descriptor: an eventfd (v1) or an inotify watch (v2)
            os.read(self._fd, 4096)  # type: ignore[arg-type]
        limitation = self._containerizer.limitation(self._isolation)
        if limitation is not None:
            self._on_oom(limitation)

    def close(self) -> None:
        if self._fd is not None:
            asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None
