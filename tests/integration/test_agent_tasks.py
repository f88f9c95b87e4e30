"""A real agent under a real master, driven by a framework over the v1 scheduler API:
registration, command tasks (shell and argv), kills, failures, the sandbox and files API,
task groups, health checks, resource limits and custom executors on the executor API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mesos_runtime.scheduler.client import SchedulerClient
from mesos_runtime.scheduler.framework import Framework, run
from mesos_runtime.wire.mesos import (
    URI,
    CommandInfo,
    DurationInfo,
    Environment,
    ExecutorID,
    ExecutorInfo,
    ExecutorType,
    FrameworkCapability,
    FrameworkCapabilityType,
    FrameworkInfo,
    HealthCheck,
    HealthCheckType,
    KillPolicy,
    Label,
    Labels,
    Offer,
    TaskID,
    TaskInfo,
    TaskState,
    TaskStatus,
    Variable,
    new_id,
)
from mesos_runtime.wire.resources import Resources
from mesos_runtime.wire.scheduler import EventMessage, Failure
from tests.harness import daemons

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
AGENT_RESOURCES = "--resources=cpus:8;mem:8192;disk:10000;ports:[31000-31099]"
CGROUPS_ROOT = f"infinity-test-{os.getpid()}"


class RecordingFramework(Framework):
    """A framework that keeps what it hears: offers, updates (acknowledged), messages."""

    def __init__(self) -> None:
        super().__init__()
        self.offer_queue: asyncio.Queue[Offer] = asyncio.Queue()
        self.updates: list[TaskStatus] = []
        self.messages: list[EventMessage] = []
        self.failures: list[Failure] = []
        self.changed = asyncio.Event()
        self.is_subscribed = asyncio.Event()

    async def subscribed(self, client, subscribed) -> None:
        self.is_subscribed.set()

    async def offers(self, client, offers) -> None:
        for offer in offers:
            self.offer_queue.put_nowait(offer)

    async def update(self, client, status) -> None:
        self.updates.append(status)
        self._notify()

    async def message(self, client, message) -> None:
        self.messages.append(message)
        self._notify()

    async def failure(self, client, failure) -> None:
        self.failures.append(failure)
        self._notify()

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def states(self, task_id: str) -> list[TaskState]:
        return [u.state for u in self.updates if u.task_id.value == task_id]

    async def wait(self, condition, timeout: float = 45.0, what: str = "condition"):
        async def poll():
            while True:
                result = condition()
                if result:
                    return result
                await self.changed.wait()

        try:
            return await asyncio.wait_for(poll(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"timed out waiting for {what}; updates: "
                + ", ".join(f"{u.task_id.value}:{u.state.value}" for u in self.updates)
            ) from None

    async def wait_state(self, task_id: str, state: TaskState, timeout: float = 45.0) -> TaskStatus:
        return await self.wait(
            lambda: next(
                (u for u in self.updates if u.task_id.value == task_id and u.state is state), None
            ),
            timeout,
            f"{task_id} {state.value}",
        )

    async def wait_terminal(self, task_id: str, timeout: float = 45.0) -> TaskStatus:
        return await self.wait(
            lambda: next(
                (u for u in self.updates if u.task_id.value == task_id and u.state.is_terminal),
                None,
            ),
            timeout,
            f"{task_id} terminal",
        )


class Driver:
    """A running framework: its client, recording hooks and the background event loop."""

    def __init__(self, client: SchedulerClient, framework: RecordingFramework) -> None:
        self.client = client
        self.framework = framework
        self.loop_task: asyncio.Task[None] | None = None

    async def offer(self, timeout: float = 30.0) -> Offer:
        return await asyncio.wait_for(self.framework.offer_queue.get(), timeout)

    async def launch(self, *tasks_for_offer) -> tuple[Offer, list[TaskInfo]]:
        offer = await self.offer()
        tasks = [make(offer) for make in tasks_for_offer]
        await self.client.launch([offer.id], tasks, filters=0.0)
        return offer, tasks


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[daemons.Daemon, daemons.Daemon]]:
    base = tmp_path_factory.mktemp("agent-cluster")
    master = daemons.master(base / "master", "--allocation_interval=100ms")
    agent = daemons.agent(
        base / "agent",
        master.address,
        AGENT_RESOURCES,
        "--attributes=rack:r1;zone:a",
        "--executor_shutdown_grace_period=2secs",
        f"--cgroups_root={CGROUPS_ROOT}",
    )
    with daemons.running(master, agent):
        daemons.wait_until(
            lambda: daemons.registered_agents(master), 30, message="agent registered"
        )
        try:
            yield master, agent
        finally:
            kill_leftover_tasks(base / "agent")
    remove_cgroups_root(CGROUPS_ROOT)


def kill_leftover_tasks(work_dir: Path) -> None:
    """Kill task process groups a failed test left behind (by their checkpointed pids)."""
    import json
    import signal

    runs = "meta/slaves/*/frameworks/*/executors/*/runs/*"
    for path in work_dir.glob(f"{runs}/tasks/*.runner"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            os.killpg(json.loads(path.read_text())["process"]["pid"], signal.SIGKILL)
    for path in work_dir.glob(f"{runs}/executor.json"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            os.killpg(json.loads(path.read_text())["pid"], signal.SIGKILL)


def remove_cgroups_root(name: str) -> None:
    """Remove the (empty) cgroup the test agents nested their containers' cgroups under."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for subsystem in ("cpu", "memory"):
            if subsystem in controllers.split(","):
                root = Path("/sys/fs/cgroup", subsystem, path.lstrip("/"), name)
                for cgroup in [*root.glob("*/"), root]:
                    with contextlib.suppress(OSError):
                        cgroup.rmdir()


@pytest.fixture
async def driver(cluster) -> AsyncIterator[Driver]:
    master, _ = cluster
    info = FrameworkInfo(
        user="root",
        name="agent-tests",
        checkpoint=True,
        capabilities=[
            FrameworkCapability(type=FrameworkCapabilityType.TASK_KILLING_STATE),
            FrameworkCapability(type=FrameworkCapabilityType.PARTITION_AWARE),
        ],
    )
    client = SchedulerClient(master.address, info)
    framework = RecordingFramework()
    d = Driver(client, framework)
    d.loop_task = asyncio.create_task(run(client, framework))
    await asyncio.wait_for(framework.is_subscribed.wait(), 30)
    try:
        yield d
    finally:
        with contextlib.suppress(Exception):  # best effort at the end of a test
            await client.teardown()
        framework.stop()
        await asyncio.gather(d.loop_task, return_exceptions=True)
        await client.close()


def command_task(
    offer: Offer,
    command: CommandInfo | None,
    *,
    cpus: float = 0.1,
    mem: float = 32,
    task_id: str | None = None,
    **fields,
) -> TaskInfo:
    task_id = task_id or f"task-{new_id()}"
    resources = Resources.scalars(cpus=cpus, mem=mem)
    role = offer.allocation_info.role if offer.allocation_info else None
    if role:
        resources = resources.allocate(role)
    return TaskInfo(
        name=task_id,
        task_id=TaskID(value=task_id),
        agent_id=offer.agent_id,
        resources=resources.to_wire(),
        command=command,
        **fields,
    )


def shell(value: str, **fields) -> CommandInfo:
    return CommandInfo(value=value, **fields)


def agent_state(agent: daemons.Daemon) -> dict:
    return daemons.http_json(agent.url + "/state")


def find_executor(agent: daemons.Daemon, task_id: str) -> dict:
    state = agent_state(agent)
    for framework in state["frameworks"] + state["completed_frameworks"]:
        for executor in framework["executors"] + framework["completed_executors"]:
            for task in executor["tasks"] + executor["completed_tasks"]:
                if task["id"] == task_id:
                    return executor
    raise AssertionError(f"task {task_id} not in the agent's state")


# --- registration and state -------------------------------------------------------------


def test_agent_registers_and_reports_its_resources_and_attributes(cluster) -> None:
    master, agent = cluster
    state = agent_state(agent)
    assert state["id"] == daemons.registered_agents(master)[0]["id"]
    assert state["resources"]["cpus"] == 8
    assert state["resources"]["ports"] == "[31000-31099]"
    assert state["attributes"] == {"rack": "r1", "zone": "a"}
    assert state["flags"]["executor_shutdown_grace_period"] == "2secs"
    metrics = daemons.http_json(agent.url + "/metrics/snapshot")
    assert metrics["slave/registered"] == 1
    assert metrics["slave/cpus_total"] == 8


# --- command tasks --------------------------------------------------------------------------


async def test_command_task_finishes_with_mesos_environment_in_its_sandbox(cluster, driver) -> None:
    _, agent = cluster
    command = shell(
        'echo "task=$MESOS_TASK_ID fw=$MESOS_FRAMEWORK_ID port=$PORT0 greeting=$GREETING"; '
        'pwd > where; test "$MESOS_SANDBOX" = "$(pwd)"',
        environment=Environment(variables=[Variable(name="GREETING", value="hello")]),
    )
    offer, (task,) = await driver.launch(lambda o: command_task(o, command))
    tid = task.task_id.value
    finished = await driver.framework.wait_state(tid, TaskState.TASK_FINISHED)
    assert driver.framework.states(tid) == [
        TaskState.TASK_STARTING,
        TaskState.TASK_RUNNING,
        TaskState.TASK_FINISHED,
    ]
    assert finished.executor_id is not None and finished.executor_id.value == tid
    assert finished.message == "Command exited with status 0"
    executor = find_executor(agent, tid)
    sandbox = executor["directory"]
    assert f"/frameworks/{offer.framework_id.value}/executors/{tid}/runs/" in sandbox
    stdout = daemons.http_json(agent.url + f"/files/read?path={sandbox}/stdout&offset=0")
    assert f"task={tid} fw={offer.framework_id.value}" in stdout["data"]
    assert "greeting=hello" in stdout["data"]
    size = daemons.http_json(agent.url + f"/files/read?path={sandbox}/stdout&offset=-1")
    assert size == {"data": "", "offset": len(stdout["data"].encode())}
    listing = daemons.http_json(agent.url + f"/files/browse?path={sandbox}")
    assert {Path(e["path"]).name for e in listing} >= {"stdout", "stderr", "where"}


async def test_failing_command_reports_its_exit_status(driver) -> None:
    _, (task,) = await driver.launch(lambda o: command_task(o, shell("echo oops >&2; exit 3")))
    failed = await driver.framework.wait_terminal(task.task_id.value)
    assert failed.state is TaskState.TASK_FAILED
    assert failed.message == "Command exited with status 3"


async def test_argv_command_runs_without_a_shell(cluster, driver) -> None:
    _, agent = cluster
    command = CommandInfo(shell=False, value="/bin/echo", arguments=["echo", "$HOME", "two words"])
    _, (task,) = await driver.launch(lambda o: command_task(o, command))
    await driver.framework.wait_state(task.task_id.value, TaskState.TASK_FINISHED)
    sandbox = find_executor(agent, task.task_id.value)["directory"]
    assert Path(sandbox, "stdout").read_text() == "$HOME two words\n"


async def test_kill_terminates_the_whole_process_group(cluster, driver) -> None:
    _, agent = cluster
    command = shell("sleep 300 & echo $! > child.pid; sleep 300")
    _, (task,) = await driver.launch(
        lambda o: command_task(
            o, command, kill_policy=KillPolicy(grace_period=DurationInfo.of_seconds(1))
        )
    )
    tid = task.task_id.value
    await driver.framework.wait_state(tid, TaskState.TASK_RUNNING)
    sandbox = Path(find_executor(agent, tid)["directory"])
    child = int(daemons.wait_until(lambda: (sandbox / "child.pid").read_text().strip()))
    await driver.client.kill(tid, driver.framework.updates[-1].agent_id)
    killed = await driver.framework.wait_terminal(tid)
    assert killed.state is TaskState.TASK_KILLED
    assert TaskState.TASK_KILLING in driver.framework.states(tid)  # TASK_KILLING_STATE capable
    daemons.wait_until(lambda: not _alive(child), 10, message="background child killed")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


async def test_fetcher_failure_names_the_uri_and_fails_the_launch(tmp_path, driver) -> None:
    artifact = tmp_path / "tool.sh"
    artifact.write_text("echo tool\n")
    uri = URI(value=str(artifact), checksum="sha256:" + "0" * 64)
    _, (task,) = await driver.launch(lambda o: command_task(o, shell("true", uris=[uri])))
    failed = await driver.framework.wait_terminal(task.task_id.value)
    assert failed.state is TaskState.TASK_FAILED
    assert failed.reason is not None and failed.reason.value == "REASON_CONTAINER_LAUNCH_FAILED"
    assert str(artifact) in (failed.message or "")
    assert "checksum mismatch" in (failed.message or "")


async def test_fetched_executable_runs_from_the_sandbox(tmp_path, driver) -> None:
    artifact = tmp_path / "tool.sh"
    artifact.write_text("#!/bin/sh\nexit 0\n")
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    uri = URI(value=f"file://{artifact}", executable=True, checksum=f"sha256:{digest}")
    _, (task,) = await driver.launch(lambda o: command_task(o, shell("./tool.sh", uris=[uri])))
    done = await driver.framework.wait_terminal(task.task_id.value)
    assert done.state is TaskState.TASK_FINISHED


async def test_max_completion_time_fails_the_task(driver) -> None:
    _, (task,) = await driver.launch(
        lambda o: command_task(
            o, shell("sleep 300"), max_completion_time=DurationInfo.of_seconds(0.5)
        )
    )
    failed = await driver.framework.wait_terminal(task.task_id.value)
    assert failed.state is TaskState.TASK_FAILED
    assert failed.reason is not None
    assert failed.reason.value == "REASON_MAX_COMPLETION_TIME_REACHED"


async def test_failing_health_check_reports_unhealthy_and_kills_the_task(driver) -> None:
    check = HealthCheck(
        type=HealthCheckType.COMMAND,
        command=CommandInfo(value="test -f healthy"),
        delay_seconds=0,
        interval_seconds=0.2,
        grace_period_seconds=30,  # failures count once it has been healthy
        consecutive_failures=2,
    )
    # healthy for a while, then the file goes away
    command = shell("touch healthy; sleep 1; rm healthy; sleep 300")
    _, (task,) = await driver.launch(lambda o: command_task(o, command, health_check=check))
    tid = task.task_id.value
    done = await driver.framework.wait_terminal(tid)
    health = [u.healthy for u in driver.framework.updates if u.task_id.value == tid]
    assert True in health and False in health
    assert done.state is TaskState.TASK_KILLED
    assert done.healthy is False


async def test_memory_hog_is_killed_with_a_memory_limitation(cluster, driver) -> None:
    _, agent = cluster
    if agent_state(agent)["isolation"] != "cgroups":
        pytest.skip("cgroups are not writable here")
    hog = shell(f"{sys.executable} -c 'x = bytearray(400 << 20); import time; time.sleep(30)'")
    _, (task,) = await driver.launch(lambda o: command_task(o, hog, mem=64))
    failed = await driver.framework.wait_terminal(task.task_id.value)
    assert failed.state is TaskState.TASK_FAILED
    assert failed.reason is not None
    assert failed.reason.value == "REASON_CONTAINER_LIMITATION_MEMORY"
    assert "Memory limit exceeded" in (failed.message or "")


# --- task groups ------------------------------------------------------------------------------


async def test_task_group_runs_in_per_task_sandboxes_and_a_failure_kills_the_rest(
    cluster,
    driver,
) -> None:
    _, agent = cluster
    offer = await driver.offer()
    executor = ExecutorInfo(
        type=ExecutorType.DEFAULT,
        executor_id=ExecutorID(value=f"group-{new_id()}"),
        resources=Resources.scalars(cpus=0.1, mem=32)
        .allocate(offer.allocation_info.role if offer.allocation_info else "*")
        .to_wire(),
    )
    sleeper = command_task(offer, shell("echo $MESOS_SANDBOX > sandbox; sleep 300"))
    failer = command_task(offer, shell("sleep 0.5; exit 7"))
    await driver.client.launch_group([offer.id], executor, [sleeper, failer], filters=0.0)
    failed = await driver.framework.wait_terminal(failer.task_id.value)
    killed = await driver.framework.wait_terminal(sleeper.task_id.value)
    assert failed.state is TaskState.TASK_FAILED
    assert killed.state is TaskState.TASK_KILLED
    directory = Path(find_executor(agent, sleeper.task_id.value)["directory"])
    task_sandbox = directory / "tasks" / sleeper.task_id.value
    assert (task_sandbox / "sandbox").read_text().strip() == str(task_sandbox)
    await driver.framework.wait(lambda: driver.framework.failures, 30, "executor exited")
    assert driver.framework.failures[0].executor_id == executor.executor_id


# --- custom executors on the executor API ---------------------------------------------------


def example_executor(offer: Offer, executor_id: str) -> ExecutorInfo:
    role = offer.allocation_info.role if offer.allocation_info else "*"
    return ExecutorInfo(
        type=ExecutorType.CUSTOM,
        executor_id=ExecutorID(value=executor_id),
        name="example executor",
        command=CommandInfo(
            value=f"{sys.executable} -m tests.harness.example_executor",
            environment=Environment(variables=[Variable(name="PYTHONPATH", value=str(REPO))]),
        ),
        resources=Resources.scalars(cpus=0.1, mem=64).allocate(role).to_wire(),
    )


async def test_custom_executor_runs_tasks_and_exchanges_messages(driver) -> None:
    offer = await driver.offer()
    executor = example_executor(offer, f"example-{new_id()}")
    task = command_task(
        offer,
        None,
        executor=executor,
        data=b"payload",
        labels=Labels(
            labels=[
                Label(key="exit_when_done", value="true"),
                Label(key="command", value="sleep 0.5"),
            ]
        ),
    )
    await driver.client.launch([offer.id], [task], filters=0.0)
    tid = task.task_id.value
    await driver.framework.wait_state(tid, TaskState.TASK_RUNNING)
    await driver.framework.wait(
        lambda: any(m.data == b"task-data:payload" for m in driver.framework.messages),
        30,
        "the executor's message",
    )
    await driver.client.message(offer.agent_id, executor.executor_id, b"ping")
    echoed = await driver.framework.wait(
        lambda: next((m for m in driver.framework.messages if m.data == b"echo:ping"), None),
        30,
        "echoed message",
    )
    assert echoed.executor_id == executor.executor_id
    finished = await driver.framework.wait_state(tid, TaskState.TASK_FINISHED)
    assert finished.executor_id == executor.executor_id
    # the executor exits once its updates are acknowledged: acks reached it
    failure = await driver.framework.wait(
        lambda: driver.framework.failures, 30, "the executor's exit"
    )
    assert failure[0].executor_id == executor.executor_id
    assert failure[0].status == 0


async def test_executor_api_rejects_malformed_calls(cluster) -> None:
    import aiohttp

    _, agent = cluster
    async with aiohttp.ClientSession() as session:
        async with session.post(agent.url + "/api/v1/executor", json={"type": "SUBSCRIBE"}) as r:
            assert r.status == 400
            assert "executor_id" in await r.text()
        call = {
            "type": "UPDATE",
            "framework_id": {"value": "nope"},
            "executor_id": {"value": "nope"},
            "update": {"status": {"task_id": {"value": "t"}, "state": "TASK_RUNNING"}},
        }
        async with session.post(agent.url + "/api/v1/executor", json=call) as r:
            assert r.status == 400
            assert "not running on this agent" in await r.text()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_framework_teardown_kills_its_tasks_on_the_agent(cluster, driver) -> None:
    _, agent = cluster
    _, (task,) = await driver.launch(lambda o: command_task(o, shell("echo $$ > pid; sleep 300")))
    tid = task.task_id.value
    await driver.framework.wait_state(tid, TaskState.TASK_RUNNING)
    sandbox = Path(find_executor(agent, tid)["directory"])
    pid = int(daemons.wait_until(lambda: (sandbox / "pid").read_text().strip()))
    framework_id = driver.client.framework_id.value
    await driver.client.teardown()
    daemons.wait_until(lambda: not _alive(pid), 30, message="task killed")

    def framework_completed() -> bool:
        state = agent_state(agent)
        return not any(f["id"] == framework_id for f in state["frameworks"]) and any(
            f["id"] == framework_id for f in state["completed_frameworks"]
        )

    daemons.wait_until(framework_completed, 30, message="framework completed on the agent")
