"""Agent recovery (issue 3): an agent killed with SIGKILL and restarted re-attaches to the
tasks it ran (`--recover=reconnect`) so that their final states still reach the framework,
or kills them (`--recover=cleanup`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mesos_runtime.scheduler.client import SchedulerClient
from mesos_runtime.scheduler.framework import run
from mesos_runtime.wire.mesos import (
    FrameworkCapability,
    FrameworkCapabilityType,
    FrameworkInfo,
    Label,
    Labels,
    TaskState,
    new_id,
)
from tests.harness import daemons
from tests.integration.test_agent_tasks import (
    AGENT_RESOURCES,
    CGROUPS_ROOT,
    Driver,
    RecordingFramework,
    command_task,
    example_executor,
    find_executor,
    kill_leftover_tasks,
    remove_cgroups_root,
    shell,
)

pytestmark = pytest.mark.integration

# each task waits for a file named `go` in its sandbox, then says which process finished
WAIT_FOR_GO = "echo $$ > started; while [ ! -f go ]; do sleep 0.05; done; echo $$ > finished"


@pytest.fixture
async def recovery_cluster(
    tmp_path: Path,
) -> AsyncIterator[tuple[daemons.Daemon, daemons.Daemon, Driver]]:
    master = daemons.master(tmp_path / "master", "--allocation_interval=100ms")
    agent = daemons.agent(
        tmp_path / "agent",
        master.address,
        AGENT_RESOURCES,
        "--registration_backoff_factor=100ms",
        "--executor_reregistration_timeout=10secs",
        f"--cgroups_root={CGROUPS_ROOT}",
    )
    with daemons.running(master, agent):
        daemons.wait_until(
            lambda: daemons.registered_agents(master), 30, message="agent registered"
        )
        info = FrameworkInfo(
            user="root",
            name="recovery-tests",
            checkpoint=True,
            failover_timeout=300,
            capabilities=[FrameworkCapability(type=FrameworkCapabilityType.PARTITION_AWARE)],
        )
        client = SchedulerClient(master.address, info)
        framework = RecordingFramework()
        driver = Driver(client, framework)
        driver.loop_task = asyncio.create_task(run(client, framework))
        await asyncio.wait_for(framework.is_subscribed.wait(), 30)
        try:
            yield master, agent, driver
        finally:
            framework.stop()
            await asyncio.gather(driver.loop_task, return_exceptions=True)
            await client.close()
            kill_leftover_tasks(tmp_path / "agent")
    remove_cgroups_root(CGROUPS_ROOT)


def _sandbox(agent: daemons.Daemon, task_id: str) -> Path:
    return Path(find_executor(agent, task_id)["directory"])


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


async def test_agent_restart_keeps_running_tasks(recovery_cluster) -> None:
    _master, agent, driver = recovery_cluster
    _, (early, late) = await driver.launch(
        lambda o: command_task(o, shell(WAIT_FOR_GO)),
        lambda o: command_task(o, shell(WAIT_FOR_GO)),
    )
    for task in (early, late):
        await driver.framework.wait_state(task.task_id.value, TaskState.TASK_RUNNING)
    sandboxes = {t.task_id.value: _sandbox(agent, t.task_id.value) for t in (early, late)}
    pids = {
        tid: int(daemons.wait_until(lambda s=s: (s / "started").read_text().strip()))
        for tid, s in sandboxes.items()
    }

    agent.kill()  # SIGKILL: no chance to clean up
    assert all(_alive(pid) for pid in pids.values())
    # one task ends while the agent is down, the other after it is back
    (sandboxes[early.task_id.value] / "go").touch()
    daemons.wait_until((sandboxes[early.task_id.value] / "finished").exists)
    agent.start()

    (sandboxes[late.task_id.value] / "go").touch()
    for task in (early, late):
        tid = task.task_id.value
        finished = await driver.framework.wait_state(tid, TaskState.TASK_FINISHED, 60)
        assert finished.message == "Command exited with status 0"
        assert int((sandboxes[tid] / "finished").read_text()) == pids[tid]  # same process
    assert daemons.http_json(agent.url + "/metrics/snapshot")["slave/recovered_tasks"] == 2
    assert all(
        driver.framework.states(t.task_id.value).count(TaskState.TASK_FINISHED) >= 1
        for t in (early, late)
    )


async def test_agent_restart_with_cleanup_kills_running_tasks(recovery_cluster) -> None:
    _master, agent, driver = recovery_cluster
    _, (task,) = await driver.launch(lambda o: command_task(o, shell(WAIT_FOR_GO)))
    tid = task.task_id.value
    await driver.framework.wait_state(tid, TaskState.TASK_RUNNING)
    sandbox = _sandbox(agent, tid)
    pid = int(daemons.wait_until(lambda: (sandbox / "started").read_text().strip()))

    agent.kill()
    agent.args.append("--recover=cleanup")
    agent.start()

    gone = await driver.framework.wait_terminal(tid, 60)
    assert gone.state is TaskState.TASK_GONE  # the framework is PARTITION_AWARE
    assert gone.reason is not None and gone.reason.value == "REASON_AGENT_RESTARTED"
    daemons.wait_until(lambda: not _alive(pid), 15, message="task process killed")


async def test_custom_executor_resubscribes_after_agent_restart(recovery_cluster) -> None:
    _master, agent, driver = recovery_cluster
    offer = await driver.offer()
    executor = example_executor(offer, f"example-{new_id()}")
    task = command_task(
        offer,
        None,
        executor=executor,
        labels=Labels(
            labels=[
                Label(key="exit_when_done", value="true"),
                Label(key="command", value="while [ ! -f go ]; do sleep 0.05; done"),
            ]
        ),
    )
    await driver.client.launch([offer.id], [task], filters=0.0)
    tid = task.task_id.value
    await driver.framework.wait_state(tid, TaskState.TASK_RUNNING)
    sandbox = _sandbox(agent, tid)

    agent.kill()
    agent.start()
    (sandbox / "go").touch()  # the executor's task runs in the executor's sandbox

    finished = await driver.framework.wait_state(tid, TaskState.TASK_FINISHED, 60)
    assert finished.executor_id == executor.executor_id
    await driver.framework.wait(lambda: driver.framework.failures, 30, "the executor's exit")


async def test_a_kill_sent_while_the_agent_is_down_reaches_it_when_it_is_back(
    recovery_cluster,
) -> None:
    master, agent, driver = recovery_cluster
    offer, (task,) = await driver.launch(lambda o: command_task(o, shell(WAIT_FOR_GO)))
    tid = task.task_id.value
    await driver.framework.wait_state(tid, TaskState.TASK_RUNNING)
    sandbox = _sandbox(agent, tid)
    pid = int(daemons.wait_until(lambda: (sandbox / "started").read_text().strip()))

    agent.kill()
    daemons.wait_until(
        lambda: not any(a["active"] for a in daemons.registered_agents(master)),
        30,
        message="the master sees the agent disconnected",
    )
    await driver.client.kill(tid, offer.agent_id)  # nobody to deliver it to, yet
    agent.start()

    killed = await driver.framework.wait_terminal(tid, 60)
    assert killed.state is TaskState.TASK_KILLED
    daemons.wait_until(lambda: not _alive(pid), 15, message="task process killed")
