"""A framework's own executor program (ExecutorInfo with `command`, type CUSTOM), started in
its container and driven over the v1 executor API (`/api/v1/executor`, see executor_api.py).

Tasks wait in a queue until the executor subscribes; it has `--executor_registration_timeout`
to do so (then its tasks fail with REASON_EXECUTOR_REGISTRATION_TIMEOUT). After an agent
restart a still-running executor has `--executor_reregistration_timeout` to subscribe again.
Shutdown sends SHUTDOWN, then kills the process group after the grace period.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from mesos_runtime.security import executor_tokens
from mesos_runtime.security.tls import TlsSettings
from mesos_runtime.wire.executor import (
    ExecutorAcknowledged,
    ExecutorEvent,
    ExecutorEventMessage,
    ExecutorEventType,
    ExecutorKill,
    ExecutorLaunch,
    ExecutorLaunchGroup,
)
from mesos_runtime.wire.flags import format_duration
from mesos_runtime.wire.mesos import (
    DurationInfo,
    ExecutorType,
    FrameworkInfo,
    KillPolicy,
    StatusReason,
    TaskGroupInfo,
    TaskInfo,
)

from . import checkpoint
from .command_executor import BuiltinContext
from .containerizer import ContainerProcess, ProcessCheckpoint, command_argv
from .fetcher import FetchError
from .state import Executor, ExecutorPhase
from .users import UserError, task_user_name

_CLOSE = None  # sentinel put on a subscriber's queue to end its stream


class CustomExecutor:
    """The agent's side of one custom executor."""

    def __init__(
        self,
        ctx: BuiltinContext,
        executor: Executor,
        framework: FrameworkInfo,
        *,
        agent_endpoint: str,
        registration_timeout: float,
        on_registration_timeout: Callable[[Executor], None],
    ) -> None:
        self.ctx = ctx
        self.executor = executor
        self.framework = framework
        self.agent_endpoint = agent_endpoint
        self.registration_timeout = registration_timeout
        self.on_registration_timeout = on_registration_timeout
        self.process: ContainerProcess | None = None
        self.subscriber: asyncio.Queue[ExecutorEvent | None] | None = None
        self._backlog: list[ExecutorEvent] = []  # events while no executor is connected
        self._timers: list[asyncio.TimerHandle] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._task_groups: dict[str, list[TaskInfo]] = {}

    @property
    def process_file(self) -> Path:
        return self.executor.meta / "executor.json"

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- start / recover ----------------------------------------------------------

    def start(self) -> None:
        self._spawn(self._start())

    async def _start(self) -> None:
        info = self.executor.info
        command = info.command
        try:
            if command is None:
                raise ValueError("ExecutorInfo has no 'command' to run")
            argv = command_argv(command)
            user = await self.ctx.users.resolve(task_user_name(command, self.framework))
            if user is not None:
                user.own_sandbox(self.executor.directory)
            if command.uris:
                await self.ctx.fetcher.fetch(command.uris, self.executor.directory, user)
            assert self.executor.isolation is not None
            env = self.ctx.environment(self.executor, None, self.executor.directory)
            env.update(self._executor_env())
            if user is not None:
                env.update(user.environment())
            self.process = await self.ctx.containerizer.spawn(
                self.executor.isolation,
                argv,
                env=env,
                workdir=self.executor.directory,
                sandbox=self.executor.directory,
                status_file=self.executor.meta / "exit_status",
                user=user,
            )
        except (FetchError, UserError, ValueError, OSError, UnicodeError) as e:
            # ValueError: e.g. a NUL in the argv or '=' in an environment name
            self.executor.phase = ExecutorPhase.TERMINATED
            self.ctx.host.executor_launch_failed(self.executor, str(e))
            return
        self.executor.pid = self.process.pid
        checkpoint.write_record(self.process_file, self.process.checkpoint)
        self._arm_registration_timer()
        await self._supervise()

    def recover(self) -> bool:
        """Re-attach to the executor process; False when there is nothing to attach to."""
        ckpt = checkpoint.read_record(self.process_file, ProcessCheckpoint)
        if ckpt is None:
            return False
        self.process = self.ctx.containerizer.recover(ckpt)
        self.executor.pid = ckpt.pid
        self.executor.phase = ExecutorPhase.REGISTERING
        self._arm_registration_timer()
        self._spawn(self._supervise())
        return True

    def _executor_env(self) -> dict[str, str]:
        grace = self._shutdown_grace()
        return {
            "MESOS_AGENT_ENDPOINT": self.agent_endpoint,
            "MESOS_SLAVE_PID": f"slave(1)@{self.agent_endpoint}",
            "MESOS_CHECKPOINT": "1",
            "MESOS_RECOVERY_TIMEOUT": "15mins",
            "MESOS_SUBSCRIPTION_BACKOFF_MAX": "2secs",
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": format_duration(grace),
            "MESOS_HTTP_COMMAND_EXECUTOR": "0",
            # the executor API accepts this executor only with it (executor_tokens.py)
            executor_tokens.ENV: self.ctx.executor_token(self.executor),
            # the executor API speaks TLS when the agent does: the agent's settings, as Mesos
            **TlsSettings.from_environment().environment(),
        }

    def _shutdown_grace(self) -> float:
        period = self.executor.info.shutdown_grace_period
        return period.seconds if period else self.ctx.kill_grace

    def _arm_registration_timer(self) -> None:
        self._timers.append(
            asyncio.get_running_loop().call_later(
                self.registration_timeout, self._registration_timed_out
            )
        )

    def _registration_timed_out(self) -> None:
        if self.executor.phase is ExecutorPhase.REGISTERING:
            self.on_registration_timeout(self.executor)
            self.shutdown()

    async def _supervise(self) -> None:
        assert self.process is not None
        exit_status = await self.process.wait()
        for timer in self._timers:
            timer.cancel()
        self.executor.phase = ExecutorPhase.TERMINATED
        self._close_stream()
        if self.executor.isolation is not None:
            await self.ctx.containerizer.destroy(self.executor.isolation)
        code = exit_status.code if exit_status.code is not None else exit_status.signal
        self.ctx.host.executor_terminated(self.executor, code)

    # --- the subscribed connection --------------------------------------------------

    def subscribed(self) -> asyncio.Queue[ExecutorEvent | None]:
        """The executor (re-)subscribed: a new event queue replaces any older connection."""
        self._close_stream()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.executor.phase = ExecutorPhase.RUNNING
        self.subscriber = asyncio.Queue()
        backlog, self._backlog = self._backlog, []
        for event in backlog:
            self.subscriber.put_nowait(event)
        return self.subscriber

    def disconnected(self, queue: asyncio.Queue[ExecutorEvent | None]) -> None:
        if self.subscriber is queue:
            self.subscriber = None

    def _close_stream(self) -> None:
        if self.subscriber is not None:
            self.subscriber.put_nowait(_CLOSE)
            self.subscriber = None

    def send(self, event: ExecutorEvent) -> None:
        if self.subscriber is not None:
            self.subscriber.put_nowait(event)
        else:
            self._backlog.append(event)

    # --- ExecutorRuntime ----------------------------------------------------------

    def launch(self, tasks: list[TaskInfo]) -> None:
        if self.executor.info.type is ExecutorType.DEFAULT or len(tasks) > 1:
            self.send(
                ExecutorEvent(
                    type=ExecutorEventType.LAUNCH_GROUP,
                    launch_group=ExecutorLaunchGroup(task_group=TaskGroupInfo(tasks=tasks)),
                )
            )
            return
        for task in tasks:
            self.send(
                ExecutorEvent(type=ExecutorEventType.LAUNCH, launch=ExecutorLaunch(task=task))
            )

    def kill_task(self, task_id: str, grace_period: float | None) -> None:
        task = self.executor.task(task_id)
        if task is None:
            return
        policy = (
            KillPolicy(grace_period=DurationInfo.of_seconds(grace_period))
            if grace_period is not None
            else None
        )
        self.send(
            ExecutorEvent(
                type=ExecutorEventType.KILL,
                kill=ExecutorKill(task_id=task.info.task_id, kill_policy=policy),
            )
        )

    def shutdown(self) -> None:
        if self.executor.phase is ExecutorPhase.TERMINATED:
            return
        self.executor.phase = ExecutorPhase.TERMINATING
        self.send(ExecutorEvent(type=ExecutorEventType.SHUTDOWN))
        grace = self._shutdown_grace()
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(grace, self._kill_process))

    def _kill_process(self) -> None:
        if self.process is not None:
            self.process.signal(signal.SIGKILL)
        if self.executor.isolation is not None:
            self.ctx.containerizer.kill_all(self.executor.isolation)

    def acknowledged(self, task_id: str, uuid: bytes) -> None:
        task = self.executor.task(task_id)
        if task is None:
            for done in self.executor.completed:
                if done.id == task_id:
                    task = done
        if task is not None:
            self.send(
                ExecutorEvent(
                    type=ExecutorEventType.ACKNOWLEDGED,
                    acknowledged=ExecutorAcknowledged(task_id=task.info.task_id, uuid=uuid),
                )
            )

    def framework_message(self, data: bytes) -> None:
        self.send(
            ExecutorEvent(type=ExecutorEventType.MESSAGE, message=ExecutorEventMessage(data=data))
        )

    def detach(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for task in self._tasks:
            task.cancel()
        self._close_stream()


REGISTRATION_TIMEOUT_REASON = StatusReason.REASON_EXECUTOR_REGISTRATION_TIMEOUT
