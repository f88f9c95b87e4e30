"""`infinity` against a real master given with `--master`: `agent list`, `framework list`,
`task log --json`, `task kill` (a `task run` task, a Marathon task, a task of a framework
running others) and `task run` with no master. Real daemons on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import daemons
from tests.harness.v1_client import V1Client, task_info
from tests.harness.v1_client import framework_info as v1_framework_info
from tests.integration.test_agent_tasks import kill_leftover_tasks
from tests.integration.test_cli_cluster import INFINITY, infinity
from tests.marathon.conftest import api, marathon

pytestmark = pytest.mark.integration


class Cli:
    def __init__(self, master: daemons.Daemon, agent: daemons.Daemon, directory: Path) -> None:
        self.master = master
        self.agent = agent
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "INFINITY_"))
        }
        self.env["INFINITY_CLUSTER_DIR"] = str(directory / "no-local-cluster")
        self.env["INFINITY_MASTER"] = master.address

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return infinity(*args, env=self.env)

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def task_state(self, name: str) -> str | None:
        tasks = self.json("task", "list", "--all")
        return next((t["state"] for t in tasks if t["name"] == name), None)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    root = tmp_path_factory.mktemp("cli-operator")
    master = daemons.master(root / "master", "--allocation_interval=100ms")
    agent = daemons.agent(
        root / "agent", master.address, "--resources=cpus:4;mem:4096;disk:4096;ports:[31000-31099]"
    )
    try:
        with daemons.running(master, agent):
            daemons.wait_until(
                lambda: len(daemons.registered_agents(master)) == 1, 30, message="the agent"
            )
            yield Cli(master, agent, root)
    finally:
        kill_leftover_tasks(agent.work_dir)


def test_agent_list_shows_the_registered_agent(cli: Cli) -> None:
    (agent,) = cli.json("agent", "list")
    assert agent["address"] == cli.agent.address and agent["active"]
    assert agent["total"]["cpus"] == 4
    table = cli.run("agent", "list")
    assert "Agents (1)" in table.stdout and cli.agent.address in table.stdout


def test_a_task_run_is_listed_logged_as_json_and_killed_with_its_framework(
    cli: Cli, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    attached = subprocess.Popen(
        [INFINITY, "task", "run", "--name", "sleeper", "--",
         f"echo awake; touch {marker}; exec sleep 300"],
        env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        daemons.wait_until(marker.exists, 60, message="the task to start")
        (framework,) = [
            f for f in cli.json("framework", "list") if f["name"].startswith("infinity-task-run")
        ]
        assert framework["active"] and framework["tasks"] == 1
        logged = cli.json("task", "log", "sleeper")
        assert logged["data"] == "awake\n" and logged["file"] == "stdout"
        assert logged["state"] == "TASK_RUNNING" and logged["path"].endswith("/stdout")
        assert logged["framework_id"] == framework["id"]

        killed = cli.run("task", "kill", "sleeper")
        assert killed.returncode == 0, killed.stderr
        assert killed.stdout.strip().endswith("TASK_KILLED")
        assert f"tearing down framework {framework['id']}" in killed.stderr
        _, stderr = attached.communicate(timeout=60)
        # torn down, its framework's event stream ends: `task run` fails and says why
        assert attached.returncode != 0
        assert f"error: framework {framework['id']} was torn down" in stderr
    finally:
        if attached.poll() is None:
            attached.kill()
            attached.wait()
    assert cli.task_state("sleeper") == "TASK_KILLED"
    again = cli.run("task", "kill", "sleeper")
    assert again.returncode == 1 and "has already ended (TASK_KILLED)" in again.stderr
    completed = cli.json("framework", "list", "--all")
    assert any(f["id"] == framework["id"] and f.get("completed") for f in completed)


def running_tasks(marathon_url: str) -> set[str]:
    tasks = api(marathon_url, "GET", "/v2/apps/pair/tasks").body["tasks"]
    return {t["id"] for t in tasks if t["state"] == "TASK_RUNNING"}


def test_task_kill_of_a_marathon_task_goes_through_marathon_which_replaces_it(
    cli: Cli, tmp_path: Path
) -> None:
    with daemons.running(marathon(tmp_path, cli.master.address)) as (process,):
        app = {"id": "/pair", "cmd": "sleep 600", "cpus": 0.1, "mem": 16, "instances": 2}
        assert api(process.url, "POST", "/v2/apps", app).status == 201
        try:
            victim, survivor = sorted(
                daemons.wait_until(
                    lambda: len(running_tasks(process.url)) == 2 and running_tasks(process.url),
                    60,
                    message="two running instances",
                )
            )
            killed = cli.run("task", "kill", victim)
            assert killed.returncode == 0, killed.stderr
            assert "through Marathon" in killed.stderr
            assert killed.stdout.strip() == f"{victim} TASK_KILLED"
            # not scaled down: Marathon starts a replacement, the other instance untouched
            daemons.wait_until(
                lambda: (tasks := running_tasks(process.url)) and len(tasks) == 2
                and survivor in tasks and victim not in tasks,
                60,
                message="Marathon replacing the killed instance",
            )  # fmt: skip
        finally:
            api(process.url, "DELETE", "/v2/apps/pair?force=true")
            daemons.wait_until(
                lambda: not api(process.url, "GET", "/v2/tasks").body["tasks"],
                60,
                message="the app's tasks gone",
            )


async def test_task_kill_refuses_a_task_whose_framework_runs_others_unless_teardown(
    cli: Cli,
) -> None:
    async with V1Client(cli.master.url) as client:
        framework = await client.subscribe(v1_framework_info("two-tasks"))
        offer = (await framework.offers())[0]
        ids = ["two-a", "two-b"]
        reply = await framework.launch(offer, *(task_info(i, offer, "sleep 300") for i in ids))
        assert reply.status == 202, reply
        for task_id in ids:
            await framework.acknowledged(task_id, "TASK_RUNNING")

        refused = await asyncio.to_thread(cli.run, "task", "kill", "two-a")
        assert refused.returncode == 1
        assert "runs 1 other task(s)" in refused.stderr and "--teardown" in refused.stderr
        assert await asyncio.to_thread(cli.task_state, "two-a") == "TASK_RUNNING"

        killed = await asyncio.to_thread(cli.run, "task", "kill", "two-a", "--teardown")
        assert killed.returncode == 0, killed.stderr
        assert "and its 1 other task(s)" in killed.stderr
        assert await asyncio.to_thread(cli.task_state, "two-b") == "TASK_KILLED"


def test_task_run_without_a_master_is_one_line_without_client_internals(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "INFINITY_"))}
    env["INFINITY_CLUSTER_DIR"] = str(tmp_path)
    address = f"127.0.0.1:{daemons.free_port()}"
    result = infinity("task", "run", "--master", address, "--", "true", env=env, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: cannot reach the master at http://{address} (Connection refused); is the "
        "cluster up? (`infinity cluster up`, or set --master / INFINITY_MASTER)"
    ]
