"""The master's core in-process (real allocator, real file registry, no HTTP): what an
agent's report rebuilds, how launches and terminal updates move resources, and what a
framework's removal gives back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from mesos_runtime.master.allocator import Allocator
from mesos_runtime.master.flags import MasterFlags
from mesos_runtime.master.master import Master
from mesos_runtime.master.registry import FileStore, Registry
from mesos_runtime.master.state import EventStream
from mesos_runtime.wire import recordio
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
    Resource,
    Task,
    TaskID,
    TaskInfo,
    TaskState,
    TaskStatus,
    status_uuid,
)
from mesos_runtime.wire.resources import Resources
from mesos_runtime.wire.scheduler import Accept, Event, EventType, Subscribe

TOTAL = Resources.parse("cpus:4;mem:1024")


def new_master(tmp_path: Path) -> Master:
    flags = MasterFlags(work_dir=str(tmp_path))
    return Master(
        flags,
        Registry(FileStore(tmp_path)),
        Allocator(),
        hostname="localhost",
        advertise_ip="127.0.0.1",
        advertise_port=5050,
    )


def events(stream: EventStream) -> list[dict]:
    return [json.loads(record) for record in recordio.Decoder().feed(stream.drain())]


async def settle() -> None:
    """Let the batched allocation run (it is scheduled with call_soon)."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_reported_tasks_of_an_unknown_framework_wait_for_it(tmp_path: Path) -> None:
    master = new_master(tmp_path)
    await master.recover()
    framework_id = "fw-from-before"
    task = Task(
        name="old",
        task_id=TaskID(value="old"),
        framework_id=FrameworkID(value=framework_id),
        agent_id=AgentID(value="a-1"),
        state=TaskState.TASK_RUNNING,
        resources=Resources.parse("cpus:1;mem:256").to_wire(),
    )
    agent_stream = EventStream("agent")
    agent = await master.agent_subscribe(
        AgentSubscribe(
            agent_info=AgentInfo(hostname="h", resources=TOTAL.to_wire(), id=task.agent_id),
            tasks=[task],
            frameworks=[FrameworkInfo(user="u", name="old", id=FrameworkID(value=framework_id))],
        ),
        agent_stream,
        "127.0.0.1",
    )
    assert master.frameworks[framework_id].recovered
    assert list(master.frameworks[framework_id].tasks) == ["old"]
    assert agent.used() == Resources.parse("cpus:1;mem:256").allocate("*")

    stream = EventStream("fw")
    info = FrameworkInfo(user="u", name="old", id=FrameworkID(value=framework_id))
    await master.subscribe(Subscribe(framework_info=info), stream)
    await settle()
    offers = [e for e in events(stream) if e["type"] == "OFFERS"]
    (offer,) = offers[0]["offers"]["offers"]
    offered = Resources.from_wire(Resource.from_json(r) for r in offer["resources"]).unallocated()
    assert offered == Resources.parse("cpus:3;mem:768")
    assert not master.frameworks[framework_id].recovered


async def test_terminal_update_returns_the_tasks_resources(tmp_path: Path) -> None:
    master = new_master(tmp_path)
    await master.recover()
    agent = await master.agent_subscribe(
        AgentSubscribe(agent_info=AgentInfo(hostname="h", resources=TOTAL.to_wire())),
        EventStream("agent"),
        "127.0.0.1",
    )
    stream = EventStream("fw")
    framework = await master.subscribe(
        Subscribe(framework_info=FrameworkInfo(user="u", name="n")), stream
    )
    assert framework is not None
    await settle()
    (offer_id,) = list(master.offers)
    task = TaskInfo(
        name="t",
        task_id=TaskID(value="t"),
        agent_id=AgentID(value=agent.id),
        resources=Resources.parse("cpus:1;mem:128").to_wire(),
        command=CommandInfo(value="true"),
    )
    master.accept(
        framework,
        Accept(
            offer_ids=[OfferID(value=offer_id)],
            operations=[Operation(type=OperationType.LAUNCH, launch=Launch(task_infos=[task]))],
        ),
    )
    assert agent.used().unallocated() == Resources.parse("cpus:1;mem:128")
    assert master.allocator.available(agent.id) == Resources.parse("cpus:3;mem:896")

    uuid = status_uuid()
    master.agent_update(
        agent,
        AgentUpdate(
            framework_id=FrameworkID(value=framework.id),
            status=TaskStatus(task_id=TaskID(value="t"), state=TaskState.TASK_FINISHED, uuid=uuid),
        ),
    )
    assert agent.used() == Resources()
    assert master.allocator.available(agent.id) == TOTAL
    # the task stays known until the terminal update is acknowledged
    assert "t" in framework.tasks


async def test_removing_a_framework_returns_its_offers(tmp_path: Path) -> None:
    master = new_master(tmp_path)
    await master.recover()
    agent = await master.agent_subscribe(
        AgentSubscribe(agent_info=AgentInfo(hostname="h", resources=TOTAL.to_wire())),
        EventStream("agent"),
        "127.0.0.1",
    )
    framework = await master.subscribe(
        Subscribe(framework_info=FrameworkInfo(user="u", name="n")), EventStream("fw")
    )
    assert framework is not None
    await settle()
    assert master.offers
    await master.remove_framework(framework, "test")
    assert master.offers == {}
    assert master.allocator.available(agent.id) == TOTAL
    assert framework.id not in master.frameworks
    assert master.registry.document.frameworks == []


async def test_event_stream_delivers_what_was_queued_before_it_closed() -> None:
    stream = EventStream("s")
    assert await stream.next(0.01) == b""  # quiet: the handler writes a heartbeat
    reader = asyncio.create_task(stream.next(None))
    await asyncio.sleep(0)  # the reader is waiting now
    stream.send(Event(type=EventType.HEARTBEAT))
    assert await asyncio.wait_for(reader, 30) == b'20\n{"type":"HEARTBEAT"}'
    stream.send_json({"type": "TASK_ADDED"})
    stream.send(Event(type=EventType.HEARTBEAT))
    stream.close()
    stream.send(Event(type=EventType.HEARTBEAT))  # after close: dropped
    assert events(stream) == [{"type": "TASK_ADDED"}, {"type": "HEARTBEAT"}]
    assert await stream.next(None) is None


async def test_a_closing_stream_wakes_its_waiting_reader() -> None:
    stream = EventStream("s")
    reader = asyncio.create_task(stream.next(None))
    await asyncio.sleep(0)
    stream.close()
    assert await asyncio.wait_for(reader, 30) is None
