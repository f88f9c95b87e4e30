"""Where the agent keeps things under `--work_dir`, laid out as Mesos does.

Sandboxes: `slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>` (+ `latest`).
Checkpoints mirror that tree under `meta/`; nothing else in the agent builds these paths.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Layout:
    work_dir: Path

    # --- sandboxes ------------------------------------------------------------------

    @property
    def agents_dir(self) -> Path:
        return self.work_dir / "slaves"

    def framework_dir(self, agent_id: str, framework_id: str) -> Path:
        return self.agents_dir / agent_id / "frameworks" / framework_id

    def executor_dir(self, agent_id: str, framework_id: str, executor_id: str) -> Path:
        return self.framework_dir(agent_id, framework_id) / "executors" / executor_id

    def sandbox(
        self, agent_id: str, framework_id: str, executor_id: str, container_id: str
    ) -> Path:
        return self.executor_dir(agent_id, framework_id, executor_id) / "runs" / container_id

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
        return self.meta / "slaves" / agent_id

    def framework_meta(self, agent_id: str, framework_id: str) -> Path:
        return self.agent_meta(agent_id) / "frameworks" / framework_id

    def executor_meta(self, agent_id: str, framework_id: str, executor_id: str) -> Path:
        return self.framework_meta(agent_id, framework_id) / "executors" / executor_id

    def run_meta(
        self, agent_id: str, framework_id: str, executor_id: str, container_id: str
    ) -> Path:
        return self.executor_meta(agent_id, framework_id, executor_id) / "runs" / container_id

    @property
    def gc_staging(self) -> Path:
        """Where the garbage collector moves what it is removing."""
        return self.work_dir / "gc"

    @property
    def resources_file(self) -> Path:
        return self.meta / "resources" / "resources.info"


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
