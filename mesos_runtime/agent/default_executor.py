"""The built-in default executor for task groups (LAUNCH_GROUP), with Mesos' semantics:
every task of a group starts together in the executor's container, each in its own sandbox
`<executor sandbox>/tasks/<task_id>`; when one task fails or is killed the others are
killed; the executor ends once all its tasks are terminal. Like the command executor it
runs inside the agent (see command_executor.py for why).
"""

from __future__ import annotations

from pathlib import Path

from mesos_runtime.wire.mesos import TaskInfo, TaskState

from .command_executor import CommandExecutor
from .paths import task_sandbox
from .task_runner import TaskRunner


class DefaultExecutor(CommandExecutor):
    def task_sandbox(self, task: TaskInfo) -> Path:
        return task_sandbox(self.executor.directory, task.task_id.value)

    def kill_task(self, task_id: str, grace_period: float | None) -> None:
        # killing one task of a group kills the group, as Mesos' default executor does
        if task_id in self.runners:
            for runner in self.runners.values():
                runner.kill(grace_period)

    def task_ended(self, runner: TaskRunner, state: TaskState) -> None:
        if state is not TaskState.TASK_FINISHED:
            for other in self.runners.values():
                other.kill()
        super().task_ended(runner, state)
