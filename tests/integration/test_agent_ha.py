"""An agent with `--master=zk://...` follows the leading master: after the leader is
SIGKILLed it re-registers with the new leader, keeps its running task, and that task's
final status still reaches the framework (real 3-node ZooKeeper quorum, two masters)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mesos_runtime.scheduler.client import SchedulerClient
from mesos_runtime.scheduler.framework import run
from mesos_runtime.wire.mesos import FrameworkInfo, TaskState
from tests.harness import daemons, zookeeper
from tests.integration.test_agent_tasks import (
    AGENT_RESOURCES,
    CGROUPS_ROOT,
    Driver,
    RecordingFramework,
    command_task,
    find_executor,
    kill_leftover_tasks,
    remove_cgroups_root,
    shell,
)

pytestmark = [pytest.mark.integration, pytest.mark.zookeeper]


def _leader(master: daemons.Daemon) -> str | None:
    return daemons.http_json(master.url + "/master/state").get("leader")


def _agents(master: daemons.Daemon) -> list[dict]:
    return [a for a in daemons.registered_agents(master) if a.get("active", True)]


async def test_agent_follows_the_new_leader_and_its_task_status_arrives(
    zk_quorum: zookeeper.QuorumHandle, tmp_path: Path
) -> None:
    url = zk_quorum.zk_url(f"/mesos-{tmp_path.name}")
    masters = [
        daemons.master(
            tmp_path / f"m{i}",
            f"--zk={url}",
            "--zk_session_timeout=4secs",
            "--allocation_interval=100ms",
        )
        for i in (1, 2)
    ]
    agent = daemons.agent(
        tmp_path / "agent",
        url,
        AGENT_RESOURCES,
        "--registration_backoff_factor=100ms",
        f"--cgroups_root={CGROUPS_ROOT}",
    )
    with daemons.running(*masters):
        daemons.wait_until(lambda: all(_leader(m) for m in masters), 60, message="a leader")
        leading = next(m for m in masters if _leader(m) == f"master@127.0.0.1:{m.port}")
        standby = next(m for m in masters if m is not leading)
        with daemons.running(agent):
            daemons.wait_until(lambda: _agents(leading), 60, message="agent on the leader")
            info = FrameworkInfo(user="root", name="agent-ha", failover_timeout=300)
            client = SchedulerClient(url, info)
            framework = RecordingFramework()
            driver = Driver(client, framework)
            driver.loop_task = asyncio.create_task(run(client, framework))
            try:
                await asyncio.wait_for(framework.is_subscribed.wait(), 60)
                wait_go = "while [ ! -f go ]; do sleep 0.05; done"
                _, (task,) = await driver.launch(lambda o: command_task(o, shell(wait_go)))
                tid = task.task_id.value
                await framework.wait_state(tid, TaskState.TASK_RUNNING)
                sandbox = Path(find_executor(agent, tid)["directory"])

                leading.kill()
                daemons.wait_until(
                    lambda: _leader(standby) == f"master@127.0.0.1:{standby.port}",
                    60,
                    message="the standby leading",
                )
                daemons.wait_until(lambda: _agents(standby), 60, message="agent re-registered")
                (sandbox / "go").touch()
                finished = await framework.wait_state(tid, TaskState.TASK_FINISHED, 90)
                assert finished.agent_id is not None
            finally:
                framework.stop()
                await asyncio.gather(driver.loop_task, return_exceptions=True)
                await client.close()
                kill_leftover_tasks(tmp_path / "agent")
    remove_cgroups_root(CGROUPS_ROOT)
