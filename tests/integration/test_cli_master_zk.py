"""`infinity --master zk://...`: the CLI finds the leading master through ZooKeeper as the
agent and the scheduler library do (mesos_runtime.discovery). Two real masters on the real
quorum; the CLI reaches the leader whichever it is, and says in one line when none leads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.harness import daemons, zookeeper
from tests.integration.test_agent_tasks import kill_leftover_tasks
from tests.integration.test_cli_cluster import infinity

pytestmark = [pytest.mark.integration, pytest.mark.zookeeper]


def leader_pid(master: daemons.Daemon) -> str | None:
    return daemons.http_json(master.url + "/master/state").get("leader")


def test_agent_list_and_task_run_through_zookeeper(
    zk_quorum: zookeeper.QuorumHandle, tmp_path: Path
) -> None:
    url = zk_quorum.zk_url(f"/mesos-{tmp_path.name}")
    masters = [
        daemons.master(tmp_path / f"m{i}", f"--zk={url}", "--zk_session_timeout=4secs")
        for i in (1, 2)
    ]
    agent = daemons.agent(tmp_path / "agent", url, "--resources=cpus:2;mem:1024;disk:1024")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "INFINITY_"))}
    env["INFINITY_CLUSTER_DIR"] = str(tmp_path / "no-local-cluster")
    try:
        with daemons.running(*masters, agent):
            daemons.wait_until(lambda: all(leader_pid(m) for m in masters), 60, message="leader")
            leading = next(m for m in masters if leader_pid(m) == f"master@{m.address}")
            daemons.wait_until(
                lambda: daemons.registered_agents(leading), 60, message="the agent registered"
            )
            listed = infinity("agent", "list", "--master", url, "--json", env=env)
            assert listed.returncode == 0, listed.stderr
            assert [a["address"] for a in json.loads(listed.stdout)] == [agent.address]

            run = infinity(
                "task", "run", "--master", url, "--name", "via-zk", "--", "echo found it",
                env=env,
            )  # fmt: skip
            assert run.returncode == 0, run.stderr
            assert "found it" in run.stdout
            frameworks = infinity("framework", "list", "--all", "--master", url, env=env)
            assert frameworks.returncode == 0, frameworks.stderr
            assert "infinity-task-run (via-zk)" in frameworks.stdout
    finally:
        kill_leftover_tasks(agent.work_dir)


def test_a_zookeeper_path_where_no_master_leads_is_one_line(
    zk_quorum: zookeeper.QuorumHandle, tmp_path: Path
) -> None:
    url = zk_quorum.zk_url(f"/nobody-{tmp_path.name}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "INFINITY_"))}
    env["INFINITY_CLUSTER_DIR"] = str(tmp_path)
    result = infinity("task", "list", "--master", url, env=env, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: no leading master advertised at {url} within 10s "
        "(is ZooKeeper up, and a master elected there?)"
    ]
