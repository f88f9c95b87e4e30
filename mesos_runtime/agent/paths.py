"""Where the agent keeps things under `--work_dir`, laid out as Mesos does.

Sandboxes: `slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>` (+ `latest`).
Checkpoints mirror that tree under `meta/`; nothing else in the agent builds these paths,
and every id becomes one checked path component: a layout path is always inside the work
dir, whatever id a master, framework or executor sent.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from mesos_runtime.wire.bounds import check_id


class UnsafePath(ValueError):
    """An id that cannot be a path component under the work dir."""


def component(kind: str, value: str) -> str:
    """`value` as one path component, or UnsafePath naming what is wrong with it."""
    try:
        return check_id(value, kind)
    except ValueError as e:
        raise UnsafePath(f"refusing {kind} as a path component: {e}") from None


@dataclass(frozen=True, slots=True)
class Layout:
    work_dir: Path

    # --- sandboxes ------------------------------------------------------------------

    @property
    def agents_dir(self) -> Path:
        return self.work_dir / "slaves"

    def framework_dir(self, agent_id: str, framework_id: str) -> Path:
        return (
            self.agents_dir
            / component("agent id", agent_id)
            / "frameworks"
            / component("framework id", framework_id)
        )

    def executor_dir(self, agent_id: str, framework_id: str, executor_id: str) -> Path:
        return (
            self.framework_dir(agent_id, framework_id)
            / "executors"
            / component("executor id", executor_id)
        )

    def sandbox(
        self, agent_id: str, framework_id: str, executor_id: str, container_id: str
    ) -> Path:
        return (
            self.executor_dir(agent_id, framework_id, executor_id)
            / "runs"
            / component("container id", container_id)
        )

    # --- checkpoints ------------------------------------------------------------------

    @property
    def meta(self) -> Path:
        return self.work_dir / "meta"

    @property
    def boot_id_file(self) -> Path:
        return self.meta / "boot_id"

    @property
    def latest_agent(self) -> Path:
        return self.meta / "slaves" / "latest"

    def agent_meta(self, agent_id: str) -> Path:
        return self.meta / "slaves" / component("agent id", agent_id)

    def framework_meta(self, agent_id: str, framework_id: str) -> Path:
        return self.agent_meta(agent_id) / "frameworks" / component("framework id", framework_id)

    def executor_meta(self, agent_id: str, framework_id: str, executor_id: str) -> Path:
        return (
            self.framework_meta(agent_id, framework_id)
            / "executors"
            / component("executor id", executor_id)
        )

    @property
    def gc_staging(self) -> Path:
        """Where the garbage collector moves what it is removing."""
        return self.work_dir / "gc"

    @property
    def resources_file(self) -> Path:
        return self.meta / "resources" / "resources.info"


def task_meta(run_meta: Path, task_id: str) -> Path:
    """The prefix of a task's checkpoint files (`.info`, `.updates`, `.runner`, ...)."""
    return run_meta / "tasks" / component("task id", task_id)


def task_sandbox(run_dir: Path, task_id: str) -> Path:
    """A task group member's own directory in its executor's sandbox."""
    return run_dir / "tasks" / component("task id", task_id)


def link_latest(run_dir: Path) -> None:
    """Point `<runs>/latest` at `run_dir` (atomically: symlink then rename)."""
    latest = run_dir.parent / "latest"
    try:
        os.symlink(run_dir.name, latest)  # the executor's first run: one syscall
        return
    except FileExistsError:
        pass
    tmp = run_dir.parent / f".latest.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    tmp.replace(latest)
