"""A stand-in for the agent's task launch, for the package tests that have no cluster yet
(the SDK's scheduler comes in phase 2): it lays out a sandbox as the fetcher would (the
package's verified, unpacked artifacts linked in), writes the task's rendered config
files, and runs the spec's own `cmd` and checks with the environment the SDK promises.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesos_runtime.sdk.context import PodInstance, TaskLaunch, task_environment
from mesos_runtime.sdk.spec import ServiceSpec, TaskSpec
from mesos_runtime.universe.package import Package
from mesos_runtime.universe.render import ClusterInfo, ServiceIdentity, render_configs
from tests.harness.daemons import wait_until


@dataclass
class SandboxTask:
    """One task of a rendered service, run as a plain process in its own sandbox."""

    launch: TaskLaunch
    sandbox: Path
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        spec: ServiceSpec,
        instance: PodInstance,
        task: str,
        peers: dict[str, list[PodInstance]],
        sandbox: Path,
    ) -> SandboxTask:
        """Task `task` of the placed pod instance `instance`, to run in `sandbox`."""
        pod = spec.pod(instance.pod)
        launch = TaskLaunch(
            service=spec.name,
            pod=pod,
            task=pod.task(task),
            instance=instance,
            peers=peers,
            sandbox=str(sandbox),
        )
        return cls(launch, sandbox)

    @property
    def task(self) -> TaskSpec:
        return self.launch.task

    def prepare(
        self,
        package: Package,
        options: dict[str, Any],
        service: ServiceIdentity,
        unpacked: list[Path],
        cluster: ClusterInfo | None = None,
    ) -> SandboxTask:
        """Fetch (link the unpacked artifacts' entries in), render configs, build the env."""
        self.sandbox.mkdir(parents=True, exist_ok=True)
        for tree in unpacked:
            for entry in tree.iterdir():
                if not entry.name.startswith("."):
                    link = self.sandbox / entry.name
                    if not link.exists():
                        link.symlink_to(entry)
        for volume in [*self.launch.pod.volumes, *self.task.volumes]:
            (self.sandbox / volume.path).mkdir(parents=True, exist_ok=True)
        for dest, text in render_configs(package, options, service, self.launch, cluster).items():
            target = self.sandbox / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "SPARK_", "PYSPARK"))
        }
        env.update(task_environment(self.launch))
        env["MESOS_SANDBOX"] = str(self.sandbox)
        self.env = env
        return self

    def start(self) -> SandboxTask:
        with open(self.sandbox / "stdout", "ab") as out, open(self.sandbox / "stderr", "ab") as err:
            self.process = subprocess.Popen(
                ["sh", "-c", self.task.cmd],
                cwd=self.sandbox,
                env=self.env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        return self

    def check(self, cmd: str, timeout: float) -> bool:
        """Run a check command as the agent would: exit status 0 passes."""
        try:
            done = subprocess.run(
                ["sh", "-c", cmd],
                cwd=self.sandbox,
                env=self.env,
                timeout=timeout,
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    def ready(self) -> bool:
        assert self.task.readiness_check is not None
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"{self.launch.task_name} exited with {self.process.returncode}:\n{self.log_tail()}"
            )
        return self.check(self.task.readiness_check.cmd, self.task.readiness_check.timeout)

    def wait_ready(self, timeout: float) -> None:
        assert self.task.readiness_check is not None
        wait_until(
            self.ready,
            timeout,
            interval=min(self.task.readiness_check.interval, 1.0),
            message=f"{self.launch.task_name} ready",
        )

    def log_tail(self, lines: int = 30) -> str:
        text = ""
        for name in ("stdout", "stderr"):
            path = self.sandbox / name
            if path.exists():
                text += f"--- {name}\n" + "\n".join(
                    path.read_text(errors="replace").splitlines()[-lines:]
                )
        return text

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM this task's own pid (the command execs the service), then SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        # what the service itself started (Spark's executors) is in the session we made
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
