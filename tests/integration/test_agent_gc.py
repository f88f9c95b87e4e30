"""Sandbox garbage collection: a finished executor's sandbox and checkpoint are removed
`--gc_delay` after it ended, sooner when the disk is fuller than `--gc_disk_headroom`
allows, and an agent restarted with a shorter delay collects what earlier runs left.
Running tasks' sandboxes are never touched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from mesos_runtime.scheduler.client import SchedulerClient
from mesos_runtime.scheduler.framework import run
from mesos_runtime.wire.mesos import FrameworkInfo, TaskState
from tests.harness import daemons
from tests.integration.test_agent_tasks import (
    AGENT_RESOURCES,
    Driver,
    RecordingFramework,
    command_task,
    find_executor,
    kill_leftover_tasks,
    shell,
)

pytestmark = pytest.mark.integration


@asynccontextmanager
async def gc_cluster(
    tmp_path: Path, *agent_flags: str
) -> AsyncIterator[tuple[daemons.Daemon, Driver]]:
    master = daemons.master(tmp_path / "master", "--allocation_interval=100ms")
    agent = daemons.agent(
        tmp_path / "agent",
        master.address,
        AGENT_RESOURCES,
        "--isolation=posix/cpu,posix/mem",
        "--registration_backoff_factor=100ms",
        *agent_flags,
    )
    with daemons.running(master, agent):
        daemons.wait_until(
            lambda: daemons.registered_agents(master), 30, message="agent registered"
        )
        client = SchedulerClient(master.address, FrameworkInfo(user="root", name="gc-tests"))
        framework = RecordingFramework()
        driver = Driver(client, framework)
        driver.loop_task = asyncio.create_task(run(client, framework))
        await asyncio.wait_for(framework.is_subscribed.wait(), 30)
        try:
            yield agent, driver
        finally:
            framework.stop()
            await asyncio.gather(driver.loop_task, return_exceptions=True)
            await client.close()
            kill_leftover_tasks(tmp_path / "agent")


def _metric(agent: daemons.Daemon, name: str) -> float:
    return daemons.http_json(agent.url + "/metrics/snapshot")[name]


def _trash(agent: daemons.Daemon) -> list[Path]:
    trash = agent.work_dir / "meta" / ".trash"
    return list(trash.iterdir()) if trash.exists() else []


@pytest.mark.parametrize(
    "flags",
    [
        ["--gc_delay=1secs"],
        # a week's delay, but the disk is "full": any headroom of 100% prunes at once
        ["--gc_delay=1weeks", "--gc_disk_headroom=1", "--disk_watch_interval=100ms"],
    ],
    ids=["gc_delay", "disk_headroom"],
)
async def test_finished_sandbox_is_collected_and_running_one_kept(tmp_path, flags) -> None:
    async with gc_cluster(tmp_path, *flags) as (agent, driver):
        _, (done, running) = await driver.launch(
            lambda o: command_task(o, shell("echo bye")),
            lambda o: command_task(o, shell("sleep 300")),
        )
        await driver.framework.wait_state(done.task_id.value, TaskState.TASK_FINISHED)
        await driver.framework.wait_state(running.task_id.value, TaskState.TASK_RUNNING)
        done_sandbox = Path(find_executor(agent, done.task_id.value)["directory"])
        running_sandbox = Path(find_executor(agent, running.task_id.value)["directory"])

        await daemons.eventually(
            lambda: not done_sandbox.exists(), 30, message="finished sandbox collected"
        )
        await daemons.eventually(lambda: not _trash(agent), 30, message="checkpoint collected")
        # the sandbox and the checkpoint, removed for good (not only moved aside)
        await daemons.eventually(lambda: _metric(agent, "gc/path_removals_succeeded") >= 2, 30)
        assert not list((agent.work_dir / "gc").iterdir())
        assert _metric(agent, "gc/path_removals_failed") == 0
        assert (running_sandbox / "stdout").exists()
        assert _metric(agent, "slave/tasks_running") == 1


async def test_restarted_agent_collects_what_earlier_runs_left(tmp_path) -> None:
    async with gc_cluster(tmp_path) as (agent, driver):  # default --gc_delay: a week
        _, (task,) = await driver.launch(lambda o: command_task(o, shell("echo bye")))
        await driver.framework.wait_state(task.task_id.value, TaskState.TASK_FINISHED)
        sandbox = Path(find_executor(agent, task.task_id.value)["directory"])
        await daemons.eventually(lambda: _metric(agent, "gc/path_removals_pending") >= 2, 30)
        assert (sandbox / "stdout").read_text() == "bye\n"

        agent.stop()
        agent.args.append("--gc_delay=1secs")
        agent.start()
        await daemons.eventually(lambda: not sandbox.exists(), 30, message="sandbox collected")
        await daemons.eventually(lambda: not _trash(agent), 30, message="checkpoint collected")
