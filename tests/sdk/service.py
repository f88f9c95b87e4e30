"""A tiny real service for the SDK's tests: `python3 -m http.server` pods (one per host)
that write to a persistent volume, with a readiness check, and the processes around it:
a master, three agents with their own hostnames, and the scheduler itself."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness import daemons
from tests.integration.test_agent_tasks import kill_leftover_tasks

HOSTS = ("host-a", "host-b", "host-c")


def spec(  # noqa: PLR0917 - each is one setting of the spec
    name: str = "hello",
    count: int = 2,
    greeting: str = "hello",
    cpus: float = 0.1,
    memory: int = 32,
    disk: int = 0,
    admin_port: bool = False,
    **extra: Any,
) -> str:
    timeout = extra.get("timeout", 3)
    admin = "\n          admin: {port: 0}" if admin_port else ""
    return f"""
name: {name}
pods:
  web:
    count: {count}
    placement: '[["hostname", "UNIQUE"]]'
    replacement-failure-policy: {{permanent-failure-timeout-secs: {timeout}}}
    volume: {{path: data, type: ROOT, size: 10}}
    tasks:
      server:
        goal: RUNNING
        cpus: {cpus}
        memory: {memory}
        disk: {disk}
        ports:
          http: {{port: 0, advertise: true}}{admin}
        env:
          GREETING: {greeting}
        configs:
          page: {{template: index.html.j2, dest: site/index.html}}
        cmd: |
          echo "$TASK_NAME $(date +%s.%N) $GREETING" >> data/boots
          cd site && exec python3 -m http.server "$PORT_HTTP" --bind 127.0.0.1
        readiness-check:
          cmd: python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT_HTTP/')"
          interval: 0.3
          timeout: 5
"""


TEMPLATE = "{{ task.name }} on {{ task.hostname }} says {{ task.env.GREETING }}\n"


@dataclass
class Cluster:
    root: Path
    master: daemons.Daemon
    agents: list[daemons.Daemon]

    def state(self) -> dict[str, Any]:
        return daemons.http_json(self.master.url + "/master/state")

    def agent_by_host(self, hostname: str) -> daemons.Daemon:
        return self.agents[HOSTS.index(hostname)]

    def stop(self) -> None:
        for agent in self.agents:
            agent.stop()
            # stopped agents leave their tasks running (to recover them): end ours
            kill_leftover_tasks(agent.work_dir)
        self.master.stop()


def start_cluster(root: Path) -> Cluster:
    master = daemons.master(
        root / "master",
        "--agent_ping_timeout=1secs",
        "--max_agent_ping_timeouts=2",
        "--agent_reregister_timeout=2secs",
    )
    master.start()
    agents = []
    # every agent is on 127.0.0.1: give each its own ports, as separate hosts have, and
    # keep clear of the 31000s other tests' agents offer on this machine
    base = random.randrange(20000, 29000, 300)
    for i, host in enumerate(HOSTS):
        first = base + 100 * i
        agent = daemons.agent(
            root / host,
            master.address,
            f"--resources=cpus:2;mem:1024;disk:1024;ports:[{first}-{first + 99}]",
            f"--hostname={host}",
            f"--attributes=zone:{host}",
        )
        agents.append(agent.start())
    daemons.wait_until(
        lambda: len(daemons.registered_agents(master)) == len(HOSTS), 30, message="3 agents"
    )
    return Cluster(root, master, agents)


@dataclass
class Scheduler:
    cluster: Cluster
    name: str
    store: Path | str  # a directory, or a zk:// URL
    spec_text: str
    port: int = field(default_factory=daemons.free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.cluster.root / f"{self.name}-{self.port}-scheduler.log"

    def env(self) -> dict[str, str]:
        templates = self.cluster.root / "templates"
        templates.mkdir(parents=True, exist_ok=True)
        (templates / "index.html.j2").write_text(TEMPLATE)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MESOS_")}
        env.update(
            PYTHONUNBUFFERED="1",
            SERVICE_NAME=self.name,
            SERVICE_SPEC=self.spec_text,
            MESOS_MASTER=self.cluster.master.address,
            SERVICE_STORE=str(self.store),
            PORT_API=str(self.port),
            SERVICE_TEMPLATES_DIR=str(templates),
            SERVICE_FAILOVER_TIMEOUT="300",
        )
        env.update(self.extra_env)
        return env

    def start(self, wait: bool = True) -> Scheduler:
        """Start the process; with `wait`, until its API answers (it serves once elected)."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mesos_runtime.sdk.scheduler"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env(),
            start_new_session=True,
        )
        log.close()
        if wait:
            self.wait_serving()
        return self

    def wait_serving(self, timeout: float = 30) -> None:
        daemons.wait_until(self._serving, timeout, message=f"scheduler API\n{self.log_tail()}")

    def _serving(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"scheduler exited {self.process.returncode}\n{self.log_tail()}")
        return self.get("/v1/plans") is not None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())
        except (urllib.error.URLError, OSError):
            return None

    def post(self, path: str) -> Any:
        request = urllib.request.Request(self.url + path, data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read())

    def plan_status(self, plan: str = "deploy") -> str | None:
        body = self.get(f"/v1/plans/{plan}")
        return body.get("status") if isinstance(body, dict) else None

    def wait_complete(self, plan: str = "deploy", timeout: float = 60) -> dict[str, Any]:
        daemons.wait_until(
            lambda: self.plan_status(plan) == "COMPLETE",
            timeout,
            interval=0.2,
            message=f"{plan} COMPLETE: {self.get('/v1/plans/' + plan)}\n{self.log_tail()}",
        )
        return self.get(f"/v1/plans/{plan}")

    def tasks(self) -> dict[str, dict[str, Any]]:
        """Task name -> the pod status entry of the task."""
        status = self.get("/v1/pod/status")
        return {
            t["name"]: t
            for pod in status["pods"]
            for instance in pod["instances"]
            for t in instance["tasks"]
        }

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
