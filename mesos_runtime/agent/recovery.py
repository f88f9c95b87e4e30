"""Agent recovery, as Mesos' `slave/state.cpp`: rebuild frameworks, executors and tasks
from the checkpoints under `meta/` after a restart, re-attach to (`--recover=reconnect`)
or kill (`--recover=cleanup`) what still runs, and hand what earlier runs left behind to
the garbage collector.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mesos_runtime.wire.mesos import (
    AgentInfo,
    ExecutorInfo,
    FrameworkInfo,
    Resource,
    TaskInfo,
)

from . import checkpoint
from .command_executor import CommandExecutor
from .custom_executor import CustomExecutor
from .default_executor import DefaultExecutor
from .isolation import IsolationState
from .paths import task_meta
from .state import (
    AgentTask,
    Executor,
    ExecutorKind,
    ExecutorPhase,
    Framework,
)
from .task_runner import RunnerCheckpoint

if TYPE_CHECKING:
    from .agent import Agent

log = logging.getLogger("mesos_runtime.agent")


class AgentRecovery:
    """Recovery from `meta/`, once, when the agent starts."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def recover(self) -> None:
        """Rebuild from `meta/`: re-attach to (reconnect) or kill (cleanup) what still runs;
        then schedule what is left of earlier runs for garbage collection."""
        try:
            self._recover_checkpoint()
        finally:
            self._schedule_leftovers()
        agent = self.agent
        if agent.docker is not None:  # adopt the recovered tasks' containers, remove the rest
            agent._spawn(agent.docker.reap_orphans(self._runs_container))

    def _runs_container(self, container_id: str) -> bool:
        return any(
            e.container_id == container_id and e.phase is not ExecutorPhase.TERMINATED
            for f in self.agent.frameworks.values()
            for e in f.executors.values()
        )

    def _schedule_leftovers(self) -> None:
        """Finished checkpoints in the trash, and sandboxes of executors that are not running
        (of this agent id or an earlier one), removed `--gc_delay` after their last change."""
        self.agent.gc.recover()
        trash = self.agent.layout.meta / ".trash"
        if trash.is_dir():
            for entry in trash.iterdir():
                self.agent.gc.schedule(entry)
        live = {
            executor.directory
            for framework in self.agent.frameworks.values()
            for executor in framework.executors.values()
        }
        live_parents = {p for d in live for p in d.parents}
        for framework_dir in self.agent.layout.agents_dir.glob("*/frameworks/*"):
            if framework_dir not in live_parents:
                self.agent.gc.schedule(framework_dir)
                continue
            for executor_dir in framework_dir.glob("executors/*"):
                if executor_dir not in live_parents:
                    self.agent.gc.schedule(executor_dir)
                    continue
                for run in executor_dir.glob("runs/*"):
                    if run.name != "latest" and run not in live:
                        self.agent.gc.schedule(run)

    def _recover_checkpoint(self) -> None:
        latest = self.agent.layout.latest_agent
        if not latest.exists():
            return
        agent_id = os.readlink(latest) if latest.is_symlink() else latest.read_text().strip()
        info = checkpoint.read_record(
            self.agent.layout.agent_meta(agent_id) / "slave.info", AgentInfo
        )
        if info is None:
            return
        saved_boot = (
            self.agent.layout.boot_id_file.read_text().strip()
            if self.agent.layout.boot_id_file.exists()
            else ""
        )
        if saved_boot and saved_boot != checkpoint.boot_id():
            log.warning("the host rebooted since the last run: starting afresh")
            shutil.rmtree(self.agent.layout.meta, ignore_errors=True)
            return
        # keep the id: the master knows this agent and its tasks by it
        self.agent.info = self.agent.info.replace(id=info.id)
        self.agent._checkpoint_agent()
        resources = checkpoint.read_json(self.agent.layout.resources_file)
        if isinstance(resources, list):
            self.agent.checkpointed_resources = [Resource.from_json(r) for r in resources]
        cleanup = self.agent.flags.recover == "cleanup"
        frameworks_dir = self.agent.layout.agent_meta(agent_id) / "frameworks"
        for fw_dir in sorted(frameworks_dir.glob("*")):
            try:
                self._recover_framework(fw_dir, cleanup)
            except Exception:
                self.agent.metrics["slave/recovery_errors"] += 1
                if self.agent.flags.strict:
                    raise  # --strict: refuse to start rather than lose track of tasks
                log.exception("could not recover framework checkpoint %s", fw_dir)
        log.info(
            "recovered %d tasks of %d frameworks (%s)",
            self.agent.recovered_tasks,
            len(self.agent.frameworks),
            self.agent.flags.recover,
        )

    def _recover_framework(self, fw_dir: Path, cleanup: bool) -> None:
        info = checkpoint.read_record(fw_dir / "framework.info", FrameworkInfo)
        if info is None or info.id is None:
            shutil.rmtree(fw_dir, ignore_errors=True)
            return
        framework = Framework(info)
        self.agent.frameworks[info.id.value] = framework
        self.agent._checkpointed_frameworks.add(info.id.value)
        for run in sorted((fw_dir / "executors").glob("*/runs/*")):
            run_info = checkpoint.read_json(run / "run.json")
            if not isinstance(run_info, dict):
                shutil.rmtree(run, ignore_errors=True)
                continue
            self._recover_executor(framework, run, run_info, cleanup)
        if not framework.executors:
            del self.agent.frameworks[info.id.value]
            self.agent._checkpointed_frameworks.discard(info.id.value)
            shutil.rmtree(fw_dir, ignore_errors=True)

    def _recover_executor(
        self, framework: Framework, meta: Path, run_info: dict[str, Any], cleanup: bool
    ) -> None:
        info = ExecutorInfo.from_json(run_info["executor_info"])
        kind = ExecutorKind(run_info["kind"])
        isolation = IsolationState.from_json(run_info["isolation"])
        executor = Executor(
            info=info,
            framework_id=framework.id,
            kind=kind,
            container_id=run_info["container_id"],
            directory=Path(run_info["directory"]),
            meta=meta,
            isolation=isolation,
            phase=ExecutorPhase.RUNNING,
        )
        framework.executors[executor.id] = executor
        # tasks and their update streams
        recovered: list[tuple[AgentTask, RunnerCheckpoint | None]] = []
        task_infos = [TaskInfo.from_json(t) for t in run_info.get("tasks", [])]
        for path in sorted((meta / "tasks").glob("*.info")):
            later = checkpoint.read_record(path, TaskInfo)
            if later is not None:
                task_infos.append(later)
        for task_info in task_infos:
            task = AgentTask(task_info, framework.id, executor.id)
            prefix = task_meta(meta, task.id)
            updates = self.agent.status_updates.recover(
                framework.id, task.id, Path(f"{prefix}.updates")
            )
            for update in updates:
                task.record_status(update)
            pending = self.agent.status_updates.has_stream(framework.id, task.id)
            if task.state.is_terminal:
                if pending:
                    executor.terminated[task.id] = task
                    framework.task_executors[task.id] = executor.id
                else:
                    executor.completed.append(task)
                continue
            executor.launched[task.id] = task
            framework.task_executors[task.id] = executor.id
            recovered.append(
                (task, checkpoint.read_record(Path(f"{prefix}.runner"), RunnerCheckpoint))
            )
            self.agent.recovered_tasks += 1
        if kind is ExecutorKind.CUSTOM:
            runtime = CustomExecutor(
                self.agent.ctx,
                executor,
                framework.info,
                agent_endpoint=self.agent.endpoint,
                registration_timeout=float(self.agent.flags.executor_reregistration_timeout),
                on_registration_timeout=self.agent._registration_timed_out,
            )
            executor.runtime = runtime
            if not runtime.recover():
                executor.phase = ExecutorPhase.TERMINATED
                self.agent._spawn(self.agent._destroy_and_terminate(executor))
            elif cleanup:
                runtime.shutdown()
            return
        builtin: CommandExecutor = (
            CommandExecutor(self.agent.ctx, executor, framework.info)
            if kind is ExecutorKind.COMMAND
            else DefaultExecutor(self.agent.ctx, executor, framework.info)
        )
        executor.runtime = builtin
        if not recovered:
            executor.phase = ExecutorPhase.TERMINATED
            self.agent._spawn(self.agent._destroy_and_terminate(executor))
            return
        for task, ckpt in recovered:
            builtin.recover(task.info, ckpt or RunnerCheckpoint(), task.state)
        if cleanup:
            for task, _ in recovered:
                runner = builtin.runners.get(task.id)
                if runner is not None:
                    runner.kill(0, "cleanup")
