"""What happens to a task on the master in-process (real allocator, real file registry, no
HTTP): a KILL for a task on a disconnected agent waits for the agent to come back, the
terminal counters count, a task's history ends with how it ended, and the per-agent ping
loop outlives an agent that fails."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mesos_runtime.master import metrics, views
from mesos_runtime.master.allocator import Allocator
from mesos_runtime.master.flags import MasterFlags
from mesos_runtime.master.master import Master
from mesos_runtime.master.registry import FileStore, Registry
from mesos_runtime.master.state import Agent, EventStream, Framework
from mesos_runtime.wire.agent_channel import AgentSubscribe, AgentUpdate
from mesos_runtime.wire.mesos import (
    AgentID,
    AgentInfo,
    CommandInfo,
    FrameworkID,
    FrameworkInfo,
    Launch,
    OfferID,
    Operation,
    OperationType,
    Task,
    TaskID,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from mesos_runtime.wire.resources import Resources
from mesos_runtime.wire.scheduler import Accept, Kill, Subscribe
from tests.unit.test_master_state import TOTAL, events, settle


def new_master(tmp_path: Path, **flags: object) -> Master:
    return Master(
        MasterFlags(work_dir=str(tmp_path), **flags),  # type: ignore[arg-type]
        Registry(FileStore(tmp_path)),
        Allocator(),
        hostname="localhost",
        advertise_ip="127.0.0.1",
        advertise_port=5050,
    )


async def add_agent(master: Master, stream: EventStream, agent_id: str | None = None) -> Agent:
    info = AgentInfo(
        hostname="h",
        resources=TOTAL.to_wire(),
        id=AgentID(value=agent_id) if agent_id else None,
    )
    return await master.agent_subscribe(AgentSubscribe(agent_info=info), stream, "127.0.0.1")


async def framework_with_task(master: Master, agent: Agent, copies: int = 1) -> Framework:
    """A framework that launched task `t` (`copies` times: all but the first are refused)."""
    framework = await master.subscribe(
        Subscribe(framework_info=FrameworkInfo(user="u", name="n")), EventStream("fw")
    )
    assert framework is not None
    await settle()
    (offer_id,) = list(framework.offers)
    task = TaskInfo(
        name="t",
        task_id=TaskID(value="t"),
        agent_id=AgentID(value=agent.id),
        resources=Resources.parse("cpus:1;mem:128").to_wire(),
        command=CommandInfo(value="sleep 1000"),
    )
    master.accept(
        framework,
        Accept(
            offer_ids=[OfferID(value=offer_id)],
            operations=[
                Operation(type=OperationType.LAUNCH, launch=Launch(task_infos=[task] * copies))
            ],
        ),
    )
    return framework


def update(master: Master, agent: Agent, framework: Framework, state: TaskState) -> None:
    master.agent_update(
        agent,
        AgentUpdate(
            framework_id=FrameworkID(value=framework.id),
            status=TaskStatus(task_id=TaskID(value="t"), state=state),
        ),
    )


async def test_a_kill_for_a_task_on_a_disconnected_agent_is_delivered_when_it_returns(
    tmp_path: Path,
) -> None:
    master = new_master(tmp_path)
    await master.recover()
    first = EventStream("agent")
    agent = await add_agent(master, first)
    framework = await framework_with_task(master, agent)
    update(master, agent, framework, TaskState.TASK_RUNNING)
    master.agent_disconnected(agent, first)

    master.kill(framework, Kill(task_id=TaskID(value="t")))

    again = EventStream("agent-again")
    reported = Task(
        name="t",
        task_id=TaskID(value="t"),
        framework_id=FrameworkID(value=framework.id),
        agent_id=AgentID(value=agent.id),
        state=TaskState.TASK_RUNNING,
        resources=Resources.parse("cpus:1;mem:128").to_wire(),
    )
    info = agent.info
    await master.agent_subscribe(
        AgentSubscribe(agent_info=info, tasks=[reported], frameworks=[framework.info]),
        again,
        "127.0.0.1",
    )
    kills = [e for e in events(again) if e["type"] == "KILL_TASK"]
    assert [k["kill_task"]["task_id"]["value"] for k in kills] == ["t"]


async def test_a_kill_is_not_replayed_for_a_task_that_ended_meanwhile(tmp_path: Path) -> None:
    master = new_master(tmp_path)
    await master.recover()
    first = EventStream("agent")
    agent = await add_agent(master, first)
    framework = await framework_with_task(master, agent)
    master.agent_disconnected(agent, first)
    master.kill(framework, Kill(task_id=TaskID(value="t")))

    again = EventStream("agent-again")
    reported = Task(
        name="t",
        task_id=TaskID(value="t"),
        framework_id=FrameworkID(value=framework.id),
        agent_id=AgentID(value=agent.id),
        state=TaskState.TASK_FINISHED,
        resources=Resources.parse("cpus:1;mem:128").to_wire(),
    )
    await master.agent_subscribe(
        AgentSubscribe(agent_info=agent.info, tasks=[reported], frameworks=[framework.info]),
        again,
        "127.0.0.1",
    )
    assert [e for e in events(again) if e["type"] == "KILL_TASK"] == []


async def test_killed_and_error_tasks_are_counted(tmp_path: Path) -> None:
    master = new_master(tmp_path)
    await master.recover()
    agent = await add_agent(master, EventStream("agent"))
    framework = await framework_with_task(master, agent, copies=2)  # one TASK_ERROR
    await master.remove_framework(framework, "teardown")  # its running task is KILLED

    snapshot = metrics.snapshot(master, is_leader=True)
    assert snapshot["master/tasks_error"] == 1
    assert snapshot["master/tasks_killed"] == 1


async def test_a_tasks_statuses_end_with_its_terminal_state(tmp_path: Path) -> None:
    master = new_master(tmp_path)
    await master.recover()
    agent = await add_agent(master, EventStream("agent"))
    framework = await framework_with_task(master, agent)
    update(master, agent, framework, TaskState.TASK_RUNNING)
    await master.remove_framework(framework, "teardown")

    (completed,) = master.completed_frameworks
    (task,) = views.legacy_framework(master, completed)["completed_tasks"]
    assert task["state"] == "TASK_KILLED"
    assert [s["state"] for s in task["statuses"]] == ["TASK_RUNNING", "TASK_KILLED"]


class _BrokenStream(EventStream):
    """An agent channel whose writes fail (a stand-in for a bug in the send path)."""

    def send(self, event: object) -> None:  # type: ignore[override]
        raise RuntimeError("broken channel")


async def test_the_ping_loop_goes_on_after_an_agent_fails(tmp_path: Path) -> None:
    master = new_master(tmp_path, agent_ping_timeout=0.02, max_agent_ping_timeouts=1000)
    await master.recover()
    broken = await add_agent(master, EventStream("broken"))
    healthy_stream = EventStream("healthy")
    await add_agent(master, healthy_stream)
    broken.stream = _BrokenStream("broken")
    master.start()
    try:
        pings = 0
        for _ in range(500):
            await asyncio.sleep(0.01)
            pings += sum(1 for e in events(healthy_stream) if e["type"] == "PING")
            if pings >= 3:
                break
        assert pings >= 3
    finally:
        await master.stop()
