"""The built-in command executor: runs a TaskInfo with `command` in its own container.

Mesos runs its command executor as a separate process per task; Infinity runs it inside
the agent (one TaskRunner per task), because a Python process per task costs ~30 MB and
~100 ms of CPU and the runtime aims at hundreds of tasks per second per agent. Task
processes still live apart from the agent (own session, cgroups) and survive its death.
Executor id = task id, as in Mesos.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mesos_runtime.wire.container import runs_image
from mesos_runtime.wire.mesos import (
    FrameworkCapabilityType,
    FrameworkInfo,
    TaskInfo,
    TaskState,
    TaskStatus,
    now,
)

from .containerizer import Containerizer
from .docker import DockerRuntime
from .fetcher import Fetcher
from .isolation import Limitation
from .paths import task_meta
from .state import Executor, ExecutorHost, ExecutorPhase
from .task_runner import OomWatch, RunnerCheckpoint, TaskRunner
from .users import Users, task_user_name


@dataclass(slots=True)
class BuiltinContext:
    """What the built-in executors need from the agent."""

    host: ExecutorHost
    containerizer: Containerizer
    fetcher: Fetcher
    agent_id: Callable[[], str]
    kill_grace: float
    environment: Callable[[Executor, TaskInfo | None, Path], dict[str, str]]
    executor_token: Callable[[Executor], str]  # what a custom executor authenticates with
    users: Users  # who tasks run as (--switch_user)
    docker: DockerRuntime | None = None  # --containerizers=mesos,docker


class CommandExecutor:
    """One task in one container; the executor ends when the task does."""

    def __init__(self, ctx: BuiltinContext, executor: Executor, framework: FrameworkInfo) -> None:
        self.ctx = ctx
        self.executor = executor
        self.framework = framework
        self.runners: dict[str, TaskRunner] = {}
        self._oom: OomWatch | None = None
        self._waiters: set[asyncio.Task[None]] = set()

    # --- ExecutorRuntime ----------------------------------------------------------

    def launch(self, tasks: list[TaskInfo]) -> None:
        self._watch_oom()
        self.executor.phase = ExecutorPhase.RUNNING
        for task in tasks:
            runner = self._runner(task)
            runner.start()

    def recover(self, task: TaskInfo, ckpt: RunnerCheckpoint, state: TaskState) -> None:
        self._watch_oom()
        self.executor.phase = ExecutorPhase.RUNNING
        self._runner(task).recover(ckpt, state)

    def kill_task(self, task_id: str, grace_period: float | None) -> None:
        runner = self.runners.get(task_id)
        if runner is not None:
            runner.kill(grace_period)

    def shutdown(self) -> None:
        self.executor.phase = ExecutorPhase.TERMINATING
        if not self.runners:
            self._schedule_termination()
        for runner in self.runners.values():
            runner.kill()

    def acknowledged(self, task_id: str, uuid: bytes) -> None:
        return None

    def framework_message(self, data: bytes) -> None:
        return None  # as Mesos' command executor: frameworks cannot message it

    def detach(self) -> None:
        """The agent is stopping; the tasks keep running and are recovered later."""
        for runner in self.runners.values():
            runner.stop_watching()
        if self._oom is not None:
            self._oom.close()
        for waiter in self._waiters:
            waiter.cancel()

    # --- internals ----------------------------------------------------------------

    def task_sandbox(self, task: TaskInfo) -> Path:
        return self.executor.directory

    def task_meta(self, task: TaskInfo) -> Path:
        """The prefix of the task's checkpoint files (`.runner`, `.exit_status`, ...)."""
        return task_meta(self.executor.meta, task.task_id.value)

    def _runner(self, task: TaskInfo) -> TaskRunner:
        sandbox = self.task_sandbox(task)
        if sandbox != self.executor.directory:
            sandbox.mkdir(parents=True, exist_ok=True)
        assert self.executor.isolation is not None
        containerizer = self.ctx.containerizer
        if self.ctx.docker is not None and runs_image(task.container):
            containerizer = self.ctx.docker.containerizer(
                containerizer, task, self.executor.container_id, sandbox
            )
        runner = TaskRunner(
            task,
            containerizer=containerizer,
            fetcher=self.ctx.fetcher,
            isolation=self.executor.isolation,
            sandbox=sandbox,
            meta=self.task_meta(task),
            env=self.ctx.environment(self.executor, task, sandbox),
            kill_grace=self._grace(task),
            killing_state=self.framework.has_capability(FrameworkCapabilityType.TASK_KILLING_STATE),
            partition_aware=self.framework.has_capability(FrameworkCapabilityType.PARTITION_AWARE),
            users=self.ctx.users,
            user_name=task_user_name(task.command, self.framework),
            on_status=lambda state, message, reason, source, healthy: self.ctx.host.task_status(
                self.executor,
                TaskStatus(
                    task_id=task.task_id,
                    state=state,
                    message=message,
                    reason=reason,
                    source=source,
                    healthy=healthy,
                    executor_id=self.executor.info.executor_id,
                    timestamp=now(),
                ),
            ),
        )
        self.runners[task.task_id.value] = runner
        waiter = asyncio.get_running_loop().create_task(self._await_runner(runner))
        self._waiters.add(waiter)
        waiter.add_done_callback(self._waiters.discard)
        return runner

    def _grace(self, task: TaskInfo) -> float:
        if task.kill_policy and task.kill_policy.grace_period:
            return task.kill_policy.grace_period.seconds
        if self.executor.info.shutdown_grace_period:
            return self.executor.info.shutdown_grace_period.seconds
        return self.ctx.kill_grace

    async def _await_runner(self, runner: TaskRunner) -> None:
        state = await runner.done
        self.task_ended(runner, state)

    def task_ended(self, runner: TaskRunner, state: TaskState) -> None:
        if all(r.done.done() for r in self.runners.values()):
            self._schedule_termination()

    def _schedule_termination(self) -> None:
        waiter = asyncio.get_running_loop().create_task(self._terminate())
        self._waiters.add(waiter)
        waiter.add_done_callback(self._waiters.discard)

    async def _terminate(self) -> None:
        if self.executor.phase is ExecutorPhase.TERMINATED:
            return
        self.executor.phase = ExecutorPhase.TERMINATED
        if self._oom is not None:
            self._oom.close()
            self._oom = None
        if self.executor.isolation is not None:
            await self.ctx.containerizer.destroy(self.executor.isolation)
        self.ctx.host.executor_terminated(self.executor, None)

    def _watch_oom(self) -> None:
        if self._oom is None and self.executor.isolation is not None:
            self._oom = OomWatch(self.ctx.containerizer, self.executor.isolation, self._on_oom)

    def _on_oom(self, limitation: Limitation) -> None:
        for runner in self.runners.values():
            runner.kill_for_limitation(limitation)
