"""The agent: what it runs (frameworks, executors, tasks) and how it reacts to the master,
to its executors and to its own restart.

Master events come in through `handle_event` (from master_link.py), executor calls through
the executor API, task states from the executors' runtimes; every task state goes to the
status update manager. Everything needed to carry on after a restart is checkpointed under
`meta/`; `recover()` (recovery.py) rebuilds the agent from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mesos_runtime.wire.agent_channel import (
    CHANNEL_VERSION,
    AgentCall,
    AgentCallType,
    AgentEvent,
    AgentEventType,
    AgentSubscribe,
    AgentUpdate,
    ExecutorExited,
    Registered,
    RunTask,
    RunTaskGroup,
)
from mesos_runtime.wire.mesos import (
    AgentID,
    AgentInfo,
    CommandInfo,
    ExecutorID,
    ExecutorInfo,
    ExecutorType,
    FrameworkCapabilityType,
    FrameworkID,
    FrameworkInfo,
    MasterInfo,
    Resource,
    StatusReason,
    StatusSource,
    TaskID,
    TaskInfo,
    TaskState,
    TaskStatus,
    new_id,
    now,
)
from mesos_runtime.wire.resources import Resources

from . import checkpoint
from .access import AgentAccess
from .command_executor import BuiltinContext, CommandExecutor
from .containerizer import Containerizer
from .custom_executor import CustomExecutor
from .default_executor import DefaultExecutor
from .docker import docker_runtime, unsupported
from .environment import inherited_environment, task_environment
from .fetcher import Fetcher
from .flags import AgentFlags
from .gc import GarbageCollector
from .isolation import create_isolator
from .paths import Layout, link_latest, task_meta
from .recovery import AgentRecovery
from .state import (
    MAX_COMPLETED_FRAMEWORKS,
    AgentTask,
    Executor,
    ExecutorKind,
    ExecutorPhase,
    Framework,
)
from .status_updates import StatusUpdateManager
from .users import Users
from .volumes import link_volumes, remove_destroyed

log = logging.getLogger("mesos_runtime.agent")


class Agent:
    """The agent's state and behaviour, independent of HTTP."""

    def __init__(self, flags: AgentFlags, info: AgentInfo, access: AgentAccess) -> None:
        self.flags = flags
        self.access = access
        self.info = info  # `id` set once registered
        self.layout = Layout(Path(flags.work_dir))
        self.containerizer = Containerizer(
            create_isolator(
                flags.isolation,
                flags.cgroups_root,
                cfs=flags.cgroups_enable_cfs,
                pids_max=flags.cgroups_pids_max,
            )
        )
        self.docker = docker_runtime(flags)  # --containerizers=mesos,docker (agent/docker.py)
        self.fetcher = Fetcher(
            Path(flags.fetcher_cache_dir or (Path(flags.work_dir) / "fetcher-cache")),
            int(flags.fetcher_cache_size),
        )
        self.status_updates = StatusUpdateManager(
            self._forward_update,
            retry_interval=float(flags.status_update_retry_interval),
            max_retry_interval=60.0,
        )
        # POSTs a call to the master / queues a status update for it: set by the master link
        self.send_call: Callable[[AgentCall], Awaitable[None]] | None = None
        self.send_update: Callable[[AgentUpdate], None] | None = None
        self.frameworks: dict[str, Framework] = {}
        self.completed_frameworks: deque[Framework] = deque(maxlen=MAX_COMPLETED_FRAMEWORKS)
        self.master_info: MasterInfo | None = None
        self.registered = False
        self.checkpointed_resources: list[Resource] = []
        self.start_time = time.time()
        self.recovered_tasks = 0
        self.metrics: dict[str, float] = {
            "slave/tasks_finished": 0,
            "slave/tasks_failed": 0,
            "slave/tasks_killed": 0,
            "slave/tasks_lost": 0,
            "slave/tasks_gone": 0,
            "slave/executors_terminated": 0,
            "slave/valid_status_updates": 0,
            "slave/invalid_status_updates": 0,
            "slave/valid_framework_messages": 0,
            "slave/invalid_framework_messages": 0,
            "slave/recovery_errors": 0,
        }
        self.stopped = asyncio.Event()
        self._base_env = inherited_environment()
        self._checkpointed_frameworks: set[str] = set()
        self._background: set[asyncio.Task[Any]] = set()
        # filesystem work taken off the event loop (see _new_executor)
        self.gc = GarbageCollector(float(flags.gc_delay), self.layout.gc_staging)
        self.ctx = BuiltinContext(
            host=self,
            containerizer=self.containerizer,
            fetcher=self.fetcher,
            agent_id=lambda: self.agent_id_value,
            kill_grace=float(flags.executor_shutdown_grace_period),
            environment=self._environment,
            executor_token=access.executor_token,
            users=Users(flags.switch_user),
            docker=self.docker,
        )

    # --- identity -------------------------------------------------------------------

    @property
    def agent_id(self) -> AgentID | None:
        return self.info.id

    @property
    def agent_id_value(self) -> str:
        return self.info.id.value if self.info.id else ""

    @property
    def endpoint(self) -> str:
        return f"{self.flags.advertise_ip or self.flags.ip or '127.0.0.1'}:{self.flags.port}"

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- master link callbacks ------------------------------------------------------

    def subscribe_payload(self) -> AgentSubscribe:
        """What the agent tells a master when it (re-)registers."""
        frameworks, executors, tasks = [], [], []
        aid = self.agent_id or AgentID(value="")
        for framework in self.frameworks.values():
            frameworks.append(framework.info)
            for executor in framework.executors.values():
                if executor.kind is not ExecutorKind.COMMAND:
                    executors.append(executor.info)
                for task in [*executor.live_tasks(), *executor.terminated.values()]:
                    pending = self.status_updates.pending(framework.id, task.id)
                    reported = task.to_task(aid, pending)
                    if executor.kind is not ExecutorKind.COMMAND:
                        # group tasks name their executor only in the RUN_TASK_GROUP
                        reported.executor_id = executor.info.executor_id
                    tasks.append(reported)
        return AgentSubscribe(
            agent_info=self.info,
            version=CHANNEL_VERSION,
            runtime_version=_runtime_version(),
            frameworks=frameworks,
            executors=executors,
            tasks=tasks,
            checkpointed_resources=self.checkpointed_resources,
        )

    def on_registered(self, registered: Registered) -> None:
        if self.info.id is None or self.info.id != registered.agent_id:
            if self.info.id is not None:
                log.warning(
                    "master assigned a new agent id %s (was %s)",
                    registered.agent_id.value,
                    self.info.id.value,
                )
            self.info = self.info.replace(id=registered.agent_id)
            self._checkpoint_agent()
        self.master_info = registered.master_info
        self.registered = True
        self.status_updates.resume()
        log.info(
            "registered with master %s as agent %s",
            _master_name(registered.master_info),
            registered.agent_id.value,
        )

    def on_disconnected(self) -> None:
        if self.registered:
            log.warning("lost the master; updates are held until re-registration")
        self.registered = False
        self.status_updates.pause()

    def _forward_update(self, framework_id: FrameworkID, status: TaskStatus) -> None:
        if self.send_update is None or self.agent_id is None:
            return
        self.send_update(AgentUpdate(framework_id=framework_id, status=status))

    def send(self, call: AgentCall) -> None:
        """Send a call to the master in the background (best effort)."""
        if self.send_call is not None:
            self._spawn(self.send_call(call))

    def handle_event(self, event: AgentEvent) -> None:
        kind = event.type
        if kind is AgentEventType.RUN_TASK and event.run_task:
            run = event.run_task
            try:
                self.run_task(run)
            except Exception as e:  # noqa: BLE001 - any launch error fails the task, loudly
                self._launch_failed(run.framework_info, [run.task], e)
        elif kind is AgentEventType.RUN_TASK_GROUP and event.run_task_group:
            group = event.run_task_group
            try:
                self.run_task_group(group)
            except Exception as e:  # noqa: BLE001 - as above
                self._launch_failed(group.framework_info, list(group.task_group.tasks), e)
        elif kind is AgentEventType.KILL_TASK and event.kill_task:
            k = event.kill_task
            grace = (
                k.kill_policy.grace_period.seconds
                if k.kill_policy and k.kill_policy.grace_period
                else None
            )
            self.kill_task(k.framework_id, k.task_id.value, grace)
        elif kind is AgentEventType.ACKNOWLEDGE and event.acknowledge:
            a = event.acknowledge
            self.acknowledge(a.framework_id, a.task_id.value, a.uuid)
        elif kind is AgentEventType.SHUTDOWN_EXECUTOR and event.shutdown_executor:
            s = event.shutdown_executor
            executor = self.executor(s.framework_id, s.executor_id.value)
            if executor is not None and executor.runtime is not None:
                executor.runtime.shutdown()
        elif kind is AgentEventType.SHUTDOWN_FRAMEWORK and event.shutdown_framework:
            self.shutdown_framework(event.shutdown_framework.framework_id)
        elif kind is AgentEventType.MESSAGE and event.message:
            m = event.message
            executor = self.executor(m.framework_id, m.executor_id.value)
            if executor is None or executor.runtime is None:
                self.metrics["slave/invalid_framework_messages"] += 1
                log.warning("dropping a message for unknown executor %s", m.executor_id.value)
            else:
                self.metrics["slave/valid_framework_messages"] += 1
                executor.runtime.framework_message(m.data)
        elif kind is AgentEventType.CHECKPOINT_RESOURCES and event.checkpoint_resources:
            new = list(event.checkpoint_resources.resources)
            # a volume gone from the checkpointed set was DESTROYed: remove its directory
            remove_destroyed(self.layout.work_dir, self.checkpointed_resources, new)
            self.checkpointed_resources = new
            checkpoint.write_json(
                self.layout.resources_file, [r.to_json() for r in self.checkpointed_resources]
            )
        elif kind is AgentEventType.UPDATE_FRAMEWORK and event.update_framework:
            info = event.update_framework.framework_info
            framework = self.frameworks.get(info.id.value) if info.id else None
            if framework is not None:
                framework.info = info
                self._checkpoint_framework(framework, force=True)
        elif kind is AgentEventType.SHUTDOWN:
            message = event.shutdown.message if event.shutdown else None
            log.warning("the master asked this agent to shut down: %s", message or "")
            self._spawn(self.shutdown_everything(exit_after=True))

    # --- frameworks and executors -----------------------------------------------------

    def _framework(self, info: FrameworkInfo) -> Framework:
        assert info.id is not None
        framework = self.frameworks.get(info.id.value)
        if framework is None:
            framework = self.frameworks[info.id.value] = Framework(info)
        else:
            framework.info = info
        self._checkpoint_framework(framework)
        return framework

    def executor(self, framework_id: FrameworkID, executor_id: str) -> Executor | None:
        framework = self.frameworks.get(framework_id.value)
        return framework.executors.get(executor_id) if framework else None

    def _find_task(
        self, framework_id: FrameworkID, task_id: str
    ) -> tuple[Executor, AgentTask] | None:
        framework = self.frameworks.get(framework_id.value)
        if framework is None:
            return None
        executor_id = framework.task_executors.get(task_id)
        executor = framework.executors.get(executor_id) if executor_id else None
        task = executor.task(task_id) if executor else None
        return (executor, task) if executor and task else None

    def _new_executor(
        self,
        framework: Framework,
        info: ExecutorInfo,
        kind: ExecutorKind,
        tasks: list[TaskInfo],
    ) -> Executor:
        """A new run: its container (isolation), sandbox, checkpoint directory and run.json.
        Created on the event loop: a worker thread measured slower (the GIL changes hands
        around every syscall of both threads)."""
        container_id = new_id()
        aid, fid, eid = self.agent_id_value, framework.id.value, info.executor_id.value
        executors = self.layout.executor_dir(aid, fid, eid).parent
        # a finished executor's (or framework's) sandbox is kept while the id is in use again
        if self.gc.pending:
            self.gc.unschedule(executors / eid)
            self.gc.unschedule(executors.parent)
        executors_meta = self.layout.executor_meta(aid, fid, eid).parent
        directory = executors / eid / "runs" / container_id
        meta = executors_meta / eid / "runs" / container_id
        _create_run_dirs(executors, executors_meta, eid, container_id)
        for task in tasks:  # persistent volumes, linked into the sandbox (filesystem/posix)
            link_volumes(self.layout.work_dir, directory, task.resources)
        executor = Executor(
            info=info.replace(framework_id=framework.id),
            framework_id=framework.id,
            kind=kind,
            container_id=container_id,
            directory=directory,
            meta=meta,
        )
        resources = Resources.from_wire(info.resources)
        for task in tasks:
            resources = resources + Resources.from_wire(task.resources)
        executor.isolation = self.containerizer.prepare(container_id, resources)
        # one file says everything about the run, including the tasks it starts with; in a
        # new directory, written in place: torn, it is a run that never started (recovery
        # drops a run without a readable run.json)
        try:
            run_json = checkpoint.dumps(
                {
                    "container_id": container_id,
                    "kind": kind.value,
                    "directory": str(directory),
                    "isolation": executor.isolation.to_json(),
                    "executor_info": executor.info.to_json(),
                    "tasks": [t.to_json() for t in tasks],
                }
            )
            checkpoint.create_text(meta / "run.json", run_json)
        except BaseException:
            # nothing runs in this container yet: release its isolation (cgroups)
            self._spawn(self.containerizer.destroy(executor.isolation))
            raise
        framework.executors[eid] = executor
        return executor

    def _add_task(
        self, executor: Executor, task: TaskInfo, *, queued: bool, checkpointed: bool = True
    ) -> AgentTask:
        """Track a task; `checkpointed` when its TaskInfo is already in the run's run.json."""
        entry = AgentTask(task, executor.framework_id, executor.id)
        self.frameworks[executor.framework_id.value].task_executors[entry.id] = executor.id
        if not checkpointed:
            checkpoint.write_record(Path(f"{task_meta(executor.meta, entry.id)}.info"), task)
        (executor.queued if queued else executor.launched)[entry.id] = entry
        return entry

    # --- RUN_TASK / RUN_TASK_GROUP ----------------------------------------------------

    def run_task(self, run: RunTask) -> None:
        framework = self._framework(run.framework_info)
        task = run.task
        if self._find_task(framework.id, task.task_id.value) is not None:
            log.warning("ignoring a second launch of task %s", task.task_id.value)
            return
        if task.executor is not None:
            self._launch_on_custom(framework, task.executor, [task])
            return
        if task.command is None:
            self._reject(framework, task, "Task has neither 'command' nor 'executor'")
            return
        why = unsupported(self.docker, task.container)
        if why is not None:
            self._fail_unlaunched(
                framework.id, task, why, StatusReason.REASON_CONTAINER_LAUNCH_FAILED
            )
            return
        info = ExecutorInfo(
            type=ExecutorType.CUSTOM,
            executor_id=ExecutorID(value=task.task_id.value),
            framework_id=framework.id,
            command=task.command,
            name=f"Command Executor (Task: {task.task_id.value}) "
            f"(Command: {_describe_command(task.command)})",
            source=task.task_id.value,
            labels=task.labels,
        )
        executor = self._new_executor(framework, info, ExecutorKind.COMMAND, [task])
        runtime = CommandExecutor(self.ctx, executor, framework.info)
        executor.runtime = runtime
        self._add_task(executor, task, queued=False)
        runtime.launch([task])

    def run_task_group(self, run: RunTaskGroup) -> None:
        framework = self._framework(run.framework_info)
        tasks = list(run.task_group.tasks)
        for task in tasks:
            if self._find_task(framework.id, task.task_id.value) is not None:
                log.warning("ignoring a task group relaunching task %s", task.task_id.value)
                return
        if run.executor.type is ExecutorType.DEFAULT or run.executor.command is None:
            executor = self.executor(framework.id, run.executor.executor_id.value)
            if executor is None or executor.phase in (
                ExecutorPhase.TERMINATING,
                ExecutorPhase.TERMINATED,
            ):
                executor = self._new_executor(framework, run.executor, ExecutorKind.DEFAULT, tasks)
                executor.runtime = DefaultExecutor(self.ctx, executor, framework.info)
                fresh = True
            else:
                self._grow_container(executor, tasks)
                fresh = False
            for task in tasks:
                self._add_task(executor, task, queued=False, checkpointed=fresh)
            assert executor.runtime is not None
            executor.runtime.launch(tasks)
            return
        self._launch_on_custom(framework, run.executor, tasks)

    def _launch_on_custom(
        self, framework: Framework, info: ExecutorInfo, tasks: list[TaskInfo]
    ) -> None:
        executor = self.executor(framework.id, info.executor_id.value)
        if executor is None or executor.phase in (
            ExecutorPhase.TERMINATING,
            ExecutorPhase.TERMINATED,
        ):
            executor = self._new_executor(framework, info, ExecutorKind.CUSTOM, tasks)
            runtime = CustomExecutor(
                self.ctx,
                executor,
                framework.info,
                agent_endpoint=self.endpoint,
                registration_timeout=float(self.flags.executor_registration_timeout),
                on_registration_timeout=self._registration_timed_out,
            )
            executor.runtime = runtime
            for task in tasks:
                self._add_task(executor, task, queued=True)
            runtime.start()
            return
        self._grow_container(executor, tasks)
        subscribed = executor.phase is ExecutorPhase.RUNNING
        for task in tasks:
            self._add_task(executor, task, queued=not subscribed, checkpointed=False)
        if subscribed:
            assert executor.runtime is not None
            executor.runtime.launch(tasks)

    def _grow_container(self, executor: Executor, tasks: list[TaskInfo]) -> None:
        if executor.isolation is None:
            return
        total = executor.resources()
        for task in tasks:
            total = total + Resources.from_wire(task.resources)
        executor.isolation = self.containerizer.update(executor.isolation, total)

    def _launch_failed(self, info: FrameworkInfo, tasks: list[TaskInfo], error: Exception) -> None:
        """A launch that failed before its tasks ran: each task becomes TASK_FAILED with the
        reason, and whatever the launch created (container, cgroups, sandbox) is released."""
        log.error("launch of %s failed: %s", ", ".join(t.task_id.value for t in tasks), error)
        message = f"Failed to launch: {error}"
        framework = self.frameworks.get(info.id.value) if info.id else None
        for task in tasks:
            found = self._find_task(framework.id, task.task_id.value) if framework else None
            if found is not None:
                executor, _task = found
                if executor.phase is not ExecutorPhase.TERMINATED:
                    self.executor_launch_failed(executor, message)
                    executor.phase = ExecutorPhase.TERMINATED
                continue
            if info.id is not None:
                self._fail_unlaunched(
                    info.id, task, message, StatusReason.REASON_CONTAINER_LAUNCH_FAILED
                )

    def _reject(self, framework: Framework, task: TaskInfo, message: str) -> None:
        self._fail_unlaunched(framework.id, task, message, StatusReason.REASON_TASK_INVALID)

    def _fail_unlaunched(
        self, framework_id: FrameworkID, task: TaskInfo, message: str, reason: StatusReason
    ) -> None:
        """TASK_FAILED for a task that never got an executor (nothing to release)."""
        self.status_updates.update(
            framework_id,
            TaskStatus(
                task_id=task.task_id,
                state=TaskState.TASK_FAILED,
                message=message,
                reason=reason,
                source=StatusSource.SOURCE_AGENT,
                agent_id=self.agent_id,
                timestamp=now(),
            ),
            None,
        )

    # --- the executor API side ----------------------------------------------------------

    def executor_subscribed(self, executor: Executor) -> None:
        """A custom executor subscribed: hand it every queued task."""
        queued = list(executor.queued.values())
        executor.queued.clear()
        for task in queued:
            executor.launched[task.id] = task
        if queued and executor.runtime is not None:
            by_group = executor.info.type is ExecutorType.DEFAULT
            if by_group:
                executor.runtime.launch([t.info for t in queued])
            else:
                for task in queued:
                    executor.runtime.launch([task.info])

    def _registration_timed_out(self, executor: Executor) -> None:
        for task in list(executor.queued.values()):
            self.task_status(
                executor,
                TaskStatus(
                    task_id=task.info.task_id,
                    state=TaskState.TASK_FAILED,
                    message="Executor did not register within "
                    f"{self.flags.executor_registration_timeout}",
                    reason=StatusReason.REASON_EXECUTOR_REGISTRATION_TIMEOUT,
                    source=StatusSource.SOURCE_AGENT,
                ),
            )

    # --- ExecutorHost: statuses and executor ends ---------------------------------------

    def task_status(self, executor: Executor, status: TaskStatus) -> None:
        """A task's new state from its executor (or the agent on its behalf)."""
        task = executor.task(status.task_id.value)
        if task is None:
            self.metrics["slave/invalid_status_updates"] += 1
            log.warning("dropping an update for unknown task %s", status.task_id.value)
            return
        if status.uuid is not None and any(s.uuid == status.uuid for s in task.statuses):
            # an executor re-sending an update (e.g. after re-subscribing): if it was
            # acknowledged while the executor could not hear it, say so again
            if (
                not any(
                    p.uuid == status.uuid
                    for p in self.status_updates.pending(executor.framework_id, task.id)
                )
                and executor.runtime is not None
            ):
                executor.runtime.acknowledged(task.id, status.uuid)
            return
        if task.state.is_terminal:
            self.metrics["slave/invalid_status_updates"] += 1
            return  # Mesos ignores updates after a terminal one
        self.metrics["slave/valid_status_updates"] += 1
        status = status.replace(
            agent_id=self.agent_id,
            executor_id=status.executor_id or executor.info.executor_id,
            source=status.source or StatusSource.SOURCE_EXECUTOR,
            timestamp=status.timestamp or now(),
        )
        task.record_status(status)
        if status.state.is_terminal:
            executor.queued.pop(task.id, None)
            executor.launched.pop(task.id, None)
            executor.terminated[task.id] = task
            self._count_terminal(status.state)
        framework = self.frameworks.get(executor.framework_id.value)
        if framework is not None and framework.removed:
            # nobody will acknowledge it: the task is done as soon as it is terminal
            if status.state.is_terminal:
                executor.terminated.pop(task.id, None)
                executor.completed.append(task)
                self._maybe_complete(executor)
            return
        log_path = Path(f"{task_meta(executor.meta, task.id)}.updates")
        try:
            self.status_updates.update(executor.framework_id, status, log_path)
        except OSError as e:
            self._checkpoint_failed(executor, task, status, e)

    def _checkpoint_failed(
        self, executor: Executor, task: AgentTask, status: TaskStatus, error: OSError
    ) -> None:
        """A status update that cannot be checkpointed (disk full, a name too long, ...):
        the task could not be recovered, so it fails now, loudly, rather than staying in
        STAGING on the master; the failure itself goes out without a checkpoint."""
        log.error("cannot checkpoint an update of task %s: %s", task.id, error)
        if status.state.is_terminal:
            self.status_updates.update(executor.framework_id, status, None, checkpoint=False)
            return
        failed = status.replace(
            state=TaskState.TASK_FAILED,
            message=f"Failed to checkpoint the task's status update: {error}",
            reason=StatusReason.REASON_CONTAINER_LAUNCH_FAILED
            if status.state in (TaskState.TASK_STAGING, TaskState.TASK_STARTING)
            else StatusReason.REASON_EXECUTOR_TERMINATED,
            source=StatusSource.SOURCE_AGENT,
            uuid=None,
            healthy=None,
            timestamp=now(),
        )
        task.record_status(failed)
        executor.queued.pop(task.id, None)
        executor.launched.pop(task.id, None)
        executor.terminated[task.id] = task
        self._count_terminal(failed.state)
        self.status_updates.update(executor.framework_id, failed, None, checkpoint=False)
        if executor.runtime is not None:
            executor.runtime.kill_task(task.id, 0.0)

    def _count_terminal(self, state: TaskState) -> None:
        key = {
            TaskState.TASK_FINISHED: "slave/tasks_finished",
            TaskState.TASK_FAILED: "slave/tasks_failed",
            TaskState.TASK_KILLED: "slave/tasks_killed",
            TaskState.TASK_LOST: "slave/tasks_lost",
            TaskState.TASK_GONE: "slave/tasks_gone",
        }.get(state)
        if key:
            self.metrics[key] += 1

    def executor_launch_failed(self, executor: Executor, message: str) -> None:
        for task in executor.live_tasks():
            self.task_status(
                executor,
                TaskStatus(
                    task_id=task.info.task_id,
                    state=TaskState.TASK_FAILED,
                    message=message,
                    reason=StatusReason.REASON_CONTAINER_LAUNCH_FAILED,
                    source=StatusSource.SOURCE_AGENT,
                ),
            )
        self._spawn(self._destroy_and_terminate(executor))

    async def _destroy_and_terminate(self, executor: Executor) -> None:
        if executor.isolation is not None:
            await self.containerizer.destroy(executor.isolation)
        self.executor_terminated(executor, None)

    def executor_terminated(self, executor: Executor, exit_status: int | None) -> None:
        executor.phase = ExecutorPhase.TERMINATED
        self.metrics["slave/executors_terminated"] += 1
        for task in executor.live_tasks():
            self.task_status(
                executor,
                TaskStatus(
                    task_id=task.info.task_id,
                    state=TaskState.TASK_FAILED,
                    message="Executor terminated"
                    + (f" with status {exit_status}" if exit_status is not None else ""),
                    reason=StatusReason.REASON_EXECUTOR_TERMINATED,
                    source=StatusSource.SOURCE_AGENT,
                ),
            )
        if executor.kind is not ExecutorKind.COMMAND:
            # command executors live inside the agent: their tasks' states say it all
            self.send(
                AgentCall(
                    type=AgentCallType.EXECUTOR_EXITED,
                    agent_id=self.agent_id,
                    executor_exited=ExecutorExited(
                        framework_id=executor.framework_id,
                        executor_id=executor.info.executor_id,
                        status=exit_status if exit_status is not None else 0,
                    ),
                )
            )
        self._maybe_complete(executor)

    # --- acknowledgements ---------------------------------------------------------------

    def acknowledge(self, framework_id: FrameworkID, task_id: str, uuid: bytes) -> None:
        acked = self.status_updates.acknowledge(framework_id, task_id, uuid)
        if acked is None:
            return
        found = self._find_task(framework_id, task_id)
        if found is None:
            return
        executor, task = found
        if executor.kind is ExecutorKind.CUSTOM and executor.runtime is not None:
            executor.runtime.acknowledged(task_id, uuid)
        if acked.state.is_terminal and not self.status_updates.has_stream(framework_id, task_id):
            executor.terminated.pop(task_id, None)
            executor.completed.append(task)
            self._maybe_complete(executor)

    def _maybe_complete(self, executor: Executor) -> None:
        if executor.phase is not ExecutorPhase.TERMINATED or not executor.is_idle():
            return
        framework = self.frameworks.get(executor.framework_id.value)
        if framework is None:
            return
        executor.runtime = None
        # the checkpoint has served its purpose; the sandbox stays for operators to read
        # until the garbage collector's --gc_delay
        now = time.time()
        if framework.executors.get(executor.id) is executor:
            del framework.executors[executor.id]
            framework.completed_executors.append(executor)
            for task in executor.completed:
                if framework.task_executors.get(task.id) == executor.id:
                    del framework.task_executors[task.id]
            self._remove_later(executor.meta.parent.parent)  # executors/<id>: all its runs
            self.gc.schedule(executor.directory.parent.parent, since=now)
        else:
            # a newer run of the same executor id took its place: remove this run only
            framework.completed_executors.append(executor)
            self._remove_later(executor.meta)
            self.gc.schedule(executor.directory, since=now)
        if not framework.executors:
            del self.frameworks[framework.id.value]
            self.completed_frameworks.append(framework)
            self._checkpointed_frameworks.discard(framework.id.value)
            self._remove_later(self.layout.framework_meta(self.agent_id_value, framework.id.value))
            sandbox = self.layout.framework_dir(self.agent_id_value, framework.id.value)
            self.gc.schedule(sandbox, since=now)

    def _remove_later(self, path: Path) -> None:
        """Retire a finished checkpoint: moved into `meta/.trash` at once (so that a new
        executor or framework with the same id starts clean), removed with its sandbox by
        the garbage collector."""
        trash = self.layout.meta / ".trash"
        target = trash / path.name
        try:
            path.rename(target)
        except FileNotFoundError:
            try:
                trash.mkdir(parents=True, exist_ok=True)
                path.rename(target)
            except FileNotFoundError:
                return
        except OSError:  # the name is taken in the trash already
            target = trash / new_id()
            path.rename(target)
        self.gc.schedule(target, since=time.time())

    def start_gc(self) -> None:
        """Watch the disk every `--disk_watch_interval` and prune sandboxes as it fills."""

        async def watch() -> None:
            while True:
                self.gc.watch_disk(self.layout.work_dir, float(self.flags.gc_disk_headroom))
                await asyncio.sleep(float(self.flags.disk_watch_interval))

        self._spawn(watch())

    # --- kills and shutdowns --------------------------------------------------------------

    def kill_task(self, framework_id: FrameworkID, task_id: str, grace: float | None) -> None:
        found = self._find_task(framework_id, task_id)
        if found is None:
            framework = self.frameworks.get(framework_id.value)
            partition_aware = framework is not None and framework.info.has_capability(
                FrameworkCapabilityType.PARTITION_AWARE
            )
            self.status_updates.update(
                framework_id,
                TaskStatus(
                    task_id=TaskID(value=task_id),
                    state=TaskState.TASK_GONE if partition_aware else TaskState.TASK_LOST,
                    message="Task is unknown to the agent",
                    reason=StatusReason.REASON_TASK_UNKNOWN,
                    source=StatusSource.SOURCE_AGENT,
                    agent_id=self.agent_id,
                    timestamp=now(),
                ),
                None,
            )
            return
        executor, task = found
        if task.state.is_terminal:
            return
        if task.id in executor.queued:
            self.task_status(
                executor,
                TaskStatus(
                    task_id=task.info.task_id,
                    state=TaskState.TASK_KILLED,
                    message="Task killed before its executor registered",
                    reason=StatusReason.REASON_TASK_KILLED_DURING_LAUNCH,
                    source=StatusSource.SOURCE_AGENT,
                ),
            )
            if not executor.live_tasks() and executor.runtime is not None:
                executor.runtime.shutdown()
            return
        if executor.runtime is not None:
            executor.runtime.kill_task(task_id, grace)

    def shutdown_framework(self, framework_id: FrameworkID) -> None:
        framework = self.frameworks.get(framework_id.value)
        if framework is None:
            return
        # the framework is gone from the master: its updates can never be acknowledged
        framework.removed = True
        self.status_updates.forget_framework(framework_id)
        for executor in list(framework.executors.values()):
            for task in [*executor.terminated.values()]:
                executor.terminated.pop(task.id, None)
                executor.completed.append(task)
            if executor.runtime is not None:
                executor.runtime.shutdown()
            if executor.phase is ExecutorPhase.TERMINATED:
                self._maybe_complete(executor)

    async def shutdown_everything(self, *, exit_after: bool = False) -> None:
        """Kill every executor (the master removed this agent, or cleanup recovery)."""
        for framework in list(self.frameworks.values()):
            for executor in list(framework.executors.values()):
                if executor.runtime is not None:
                    executor.runtime.shutdown()
        deadline = time.monotonic() + float(self.flags.executor_shutdown_grace_period) + 10
        while time.monotonic() < deadline and any(
            e.phase is not ExecutorPhase.TERMINATED
            for f in self.frameworks.values()
            for e in f.executors.values()
        ):
            await asyncio.sleep(0.05)
        if exit_after:
            shutil.rmtree(self.layout.meta, ignore_errors=True)
            self.stopped.set()

    def detach(self) -> None:
        """Stop watching everything; the tasks keep running for the next agent to recover."""
        for framework in self.frameworks.values():
            for executor in framework.executors.values():
                runtime = executor.runtime
                if runtime is not None and hasattr(runtime, "detach"):
                    runtime.detach()
        self.status_updates.close()
        self.gc.close()
        for task in self._background:
            task.cancel()

    # --- environment ------------------------------------------------------------------

    def _environment(
        self, executor: Executor, task: TaskInfo | None, sandbox: Path
    ) -> dict[str, str]:
        return task_environment(
            self._base_env,
            sandbox=str(sandbox),
            agent_id=self.agent_id_value,
            framework_id=executor.framework_id.value,
            executor_id=executor.id,
            task_id=task.task_id.value if task is not None else None,
            hostname=self.info.hostname,
            resources=task.resources if task is not None else executor.info.resources,
            command=task.command if task is not None else executor.info.command,
        )

    # --- checkpoints ----------------------------------------------------------------------

    def _checkpoint_agent(self) -> None:
        assert self.info.id is not None
        checkpoint.write_text(self.layout.boot_id_file, checkpoint.boot_id())
        checkpoint.write_record(
            self.layout.agent_meta(self.info.id.value) / "slave.info", self.info
        )
        latest = self.layout.latest_agent
        tmp = latest.with_name(".latest.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(self.info.id.value)
        tmp.replace(latest)

    def _checkpoint_framework(self, framework: Framework, *, force: bool = False) -> None:
        if framework.id.value in self._checkpointed_frameworks and not force:
            return
        path = self.layout.framework_meta(self.agent_id_value, framework.id.value)
        checkpoint.write_record(path / "framework.info", framework.info)
        self._checkpointed_frameworks.add(framework.id.value)

    def recover(self) -> None:
        """Rebuild from `meta/` (recovery.py): re-attach to (reconnect) or kill (cleanup)
        what still runs; then schedule what is left of earlier runs for garbage collection."""
        AgentRecovery(self).recover()

    # --- reporting ------------------------------------------------------------------------

    def total_resources(self) -> Resources:
        return Resources.from_wire(self.info.resources)

    def used_resources(self) -> Resources:
        used = Resources()
        for framework in self.frameworks.values():
            for executor in framework.executors.values():
                if executor.phase is not ExecutorPhase.TERMINATED:
                    used = used + executor.resources()
        return used

    def count(self, state: TaskState) -> int:
        return sum(
            1
            for f in self.frameworks.values()
            for e in f.executors.values()
            for t in e.live_tasks()
            if t.state is state
        )


def _create_run_dirs(executors: Path, executors_meta: Path, eid: str, container_id: str) -> None:
    # directories one by one (creating a known chain beats probing with parents=True)
    link_latest(_mkdirs(executors, eid, "runs", container_id))
    _mkdirs(executors_meta, eid, "runs", container_id, "tasks")


def _mkdirs(base: Path, *names: str) -> Path:
    """Create `base/names[0]/names[1]/...`, each level at most once; returns the last."""
    path = base
    try:
        for name in names:
            path = path / name
            with contextlib.suppress(FileExistsError):
                os.mkdir(path)
    except FileNotFoundError:
        base.mkdir(parents=True, exist_ok=True)
        return _mkdirs(base, *names)
    return path


def _describe_command(command: CommandInfo) -> str:
    if command.shell is False:
        return " ".join([command.value or "", *command.arguments[1:]])
    return f"sh -c '{command.value}'"


def _master_name(info: MasterInfo) -> str:
    if info.address is not None:
        return f"{info.address.hostname or info.address.ip}:{info.address.port}"
    return f"{info.hostname}:{info.port}"


def _runtime_version() -> str:
    try:
        from importlib.metadata import version

        return version("infinity-mesos")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return "0.1.0"
