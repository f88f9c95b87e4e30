"""A launch that fails on the agent (issue 11, finding 6): whatever the spawn or the set-up
raises, the task becomes TASK_FAILED with the reason and its executor releases everything
(resources, container), instead of staying in TASK_STARTING for good. The agent here is the
real one, in-process, with rlimits isolation; its master is whoever reads `send_update`."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesos_runtime.agent.flags import AgentFlags
from mesos_runtime.agent.main import build_agent
from mesos_runtime.wire.agent_channel import AgentEvent, AgentEventType, AgentUpdate, RunTask
from mesos_runtime.wire.flags import parse_flags
from mesos_runtime.wire.mesos import (
    AgentID,
    CommandInfo,
    Environment,
    FrameworkID,
    FrameworkInfo,
    Resource,
    Scalar,
    StatusReason,
    TaskID,
    TaskInfo,
    TaskState,
    ValueType,
    Variable,
)
from tests.harness.daemons import eventually


def _task(command: CommandInfo) -> TaskInfo:
    return TaskInfo(
        name="t",
        task_id=TaskID(value="t1"),
        agent_id=AgentID(value="a1"),
        resources=[
            Resource(name="cpus", type=ValueType.SCALAR, scalar=Scalar(value=0.5)),
            Resource(name="mem", type=ValueType.SCALAR, scalar=Scalar(value=64)),
        ],
        command=command,
    )


@pytest.mark.parametrize(
    "command",
    [
        CommandInfo(value="true", environment=Environment(variables=[Variable(name="A=B")])),
        CommandInfo(value="echo a\0b"),
        CommandInfo(shell=False, value="/bin/echo", arguments=["echo", "x\0"]),
    ],
    ids=["equals-in-env-name", "nul-in-command", "nul-in-argument"],
)
async def test_a_spawn_that_raises_fails_the_task_and_releases_its_resources(
    tmp_path: Path, command: CommandInfo
) -> None:
    flags = parse_flags(
        AgentFlags,
        [f"--work_dir={tmp_path}", "--isolation=posix/cpu,posix/mem", "--resources=cpus:2;mem:512"],
        environ={},
    )
    agent = build_agent(flags)
    agent.info = agent.info.replace(id=AgentID(value="a1"))
    sent: list[AgentUpdate] = []
    agent.send_update = sent.append
    agent.status_updates.resume()
    framework = FrameworkInfo(user="root", name="f", id=FrameworkID(value="f1"))
    try:
        agent.handle_event(
            AgentEvent(
                type=AgentEventType.RUN_TASK,
                run_task=RunTask(framework_info=framework, task=_task(command)),
            )
        )

        def failed() -> AgentUpdate | None:
            for u in sent:  # acknowledge, as the framework would: the next update follows
                assert u.status.uuid is not None
                agent.acknowledge(u.framework_id, u.status.task_id.value, u.status.uuid)
            return next((u for u in sent if u.status.state is TaskState.TASK_FAILED), None)

        update = await eventually(failed, 10, message="TASK_FAILED")
        assert update.status.reason is StatusReason.REASON_CONTAINER_LAUNCH_FAILED
        assert "Failed to launch" in (update.status.message or "")
        await eventually(lambda: not agent.used_resources(), 10, message="resources released")
        assert agent.count(TaskState.TASK_STARTING) == 0
    finally:
        agent.detach()
        await agent.fetcher.close()


async def test_a_task_whose_updates_cannot_be_checkpointed_fails_instead_of_staying_staged(
    tmp_path: Path,
) -> None:
    """A task id the master accepts (255 bytes) but whose checkpoint file name is too long
    for the filesystem: the first update cannot be written, the task fails with why."""
    flags = parse_flags(
        AgentFlags,
        [f"--work_dir={tmp_path}", "--isolation=posix/cpu,posix/mem", "--resources=cpus:2;mem:512"],
        environ={},
    )
    agent = build_agent(flags)
    agent.info = agent.info.replace(id=AgentID(value="a1"))
    sent: list[AgentUpdate] = []
    agent.send_update = sent.append
    agent.status_updates.resume()
    framework = FrameworkInfo(user="root", name="f", id=FrameworkID(value="f1"), checkpoint=True)
    task = _task(CommandInfo(value="sleep 1000")).replace(task_id=TaskID(value="x" * 250))
    try:
        agent.handle_event(
            AgentEvent(
                type=AgentEventType.RUN_TASK,
                run_task=RunTask(framework_info=framework, task=task),
            )
        )
        update = await eventually(
            lambda: next((u for u in sent if u.status.state.is_terminal), None),
            10,
            message="a terminal update",
        )
        assert update.status.state is TaskState.TASK_FAILED
        assert update.status.reason is StatusReason.REASON_CONTAINER_LAUNCH_FAILED
        assert "File name too long" in (update.status.message or "")
        await eventually(lambda: not agent.used_resources(), 10, message="resources released")
        # the failed task's process does not outlive it
        runners = [
            runner
            for executor in agent.frameworks["f1"].executors.values()
            for runner in getattr(executor.runtime, "runners", {}).values()
        ]
        assert runners
        await eventually(lambda: all(r.done.done() for r in runners), 10, message="task killed")
    finally:
        agent.detach()
        await agent.fetcher.close()
