"""Tasks with `TaskInfo.container` on real master and agent daemons, run by the agent's
docker containerizer through this machine's podman (docs/containers.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mesos_runtime.scheduler.client import SchedulerClient
from mesos_runtime.scheduler.framework import run
from mesos_runtime.wire.mesos import (
    URI,
    CommandInfo,
    DurationInfo,
    Environment,
    FrameworkCapability,
    FrameworkCapabilityType,
    FrameworkInfo,
    HealthCheck,
    HealthCheckType,
    KillPolicy,
    Offer,
    StatusReason,
    TaskState,
    Variable,
)
from mesos_runtime.wire.resources import Resources
from tests.harness import daemons
from tests.integration.test_agent_tasks import (
    Driver,
    RecordingFramework,
    command_task,
    find_executor,
    kill_leftover_tasks,
    shell,
)

from .conftest import DOCKER_FLAGS, PREFIX, Images, our_containers, podman, remove_our_containers

pytestmark = pytest.mark.integration

AGENT_RESOURCES = "--resources=cpus:4;mem:4096;disk:10000;ports:[38300-38399]"


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, images: Images
) -> Iterator[tuple[daemons.Daemon, daemons.Daemon]]:
    base = tmp_path_factory.mktemp("docker-cluster")
    master = daemons.master(base / "master", "--allocation_interval=100ms")
    agent = daemons.agent(
        base / "agent",
        master.address,
        AGENT_RESOURCES,
        *DOCKER_FLAGS,
        f"--docker_registry={images.registry}",
        "--isolation=posix/cpu,posix/mem",
        "--registration_backoff_factor=100ms",
        "--executor_reregistration_timeout=5secs",
    )
    with daemons.running(master, agent):
        daemons.wait_until(
            lambda: daemons.registered_agents(master), 30, message="agent registered"
        )
        try:
            yield master, agent
        finally:
            kill_leftover_tasks(base / "agent")
            remove_our_containers()


async def _driver(master: daemons.Daemon) -> tuple[Driver, SchedulerClient]:
    info = FrameworkInfo(
        user="root",
        name="docker-tests",
        checkpoint=True,
        failover_timeout=300,
        capabilities=[FrameworkCapability(type=FrameworkCapabilityType.TASK_KILLING_STATE)],
    )
    client = SchedulerClient(master.address, info)
    framework = RecordingFramework()
    d = Driver(client, framework)
    d.loop_task = asyncio.create_task(run(client, framework))
    await asyncio.wait_for(framework.is_subscribed.wait(), 30)
    return d, client


@pytest.fixture
async def driver(cluster) -> AsyncIterator[Driver]:
    d, client = await _driver(cluster[0])
    try:
        yield d
    finally:
        with contextlib.suppress(Exception):
            await client.teardown()
        d.framework.stop()
        await asyncio.gather(d.loop_task, return_exceptions=True)
        await client.close()


def docker_container(image: str, **docker) -> dict:
    return {"type": "DOCKER", "docker": {"image": image, **docker}}


def free_offered_port(offer: Offer) -> int:
    """An offered port nothing on this machine listens on (other suites share it)."""
    for begin, end in Resources.from_wire(offer.resources).ports():
        for port in range(begin, end + 1):
            with socket.socket() as s:
                try:
                    s.bind(("0.0.0.0", port))
                except OSError:
                    continue
                return port
    raise AssertionError("no free port in the offer")


def container_names() -> set[str]:
    return set(our_containers())


async def test_docker_task_runs_its_image_with_sandbox_env_volume_limits_and_logs(
    tmp_path: Path, images: Images, cluster, driver
) -> None:
    _, agent = cluster
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "note").write_text("from the host\n")
    script = (
        "echo to-stdout; echo to-stderr >&2; "
        'echo "$MESOS_SANDBOX $PWD $GREETING" > $MESOS_SANDBOX/seen; '
        "cat /data/note >> seen; "
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
        " >> seen; "
        "test -e /bin/busybox && echo image-root >> seen; "
        "echo $FROM_PARAMETER >> seen"
    )
    command = shell(
        script, environment=Environment(variables=[Variable(name="GREETING", value="hi there")])
    )
    # `parameters` are `podman run --<key>=<value>` options
    container = docker_container(
        images.busybox, parameters=[{"key": "env", "value": "FROM_PARAMETER=yes"}]
    )
    container["volumes"] = [{"container_path": "/data", "host_path": str(shared), "mode": "RO"}]
    _, (task,) = await driver.launch(
        lambda o: command_task(o, command, cpus=0.5, mem=48, container=container)
    )
    tid = task.task_id.value
    done = await driver.framework.wait_terminal(tid, 60)
    assert done.state is TaskState.TASK_FINISHED, done.message
    assert driver.framework.states(tid)[:2] == [TaskState.TASK_STARTING, TaskState.TASK_RUNNING]
    sandbox = Path(find_executor(agent, tid)["directory"])
    assert (sandbox / "stdout").read_text() == "to-stdout\n"
    assert "to-stderr" in (sandbox / "stderr").read_text()
    seen = (sandbox / "seen").read_text().splitlines()
    assert seen[0] == "/mnt/mesos/sandbox /mnt/mesos/sandbox hi there"
    assert seen[1] == "from the host"
    assert int(seen[2]) == 48 << 20  # --memory from the task's mem
    assert int(seen[3]) == 50000  # --cpus=0.5: half of the 100 ms CFS period
    assert seen[4] == "image-root"
    assert seen[5] == "yes"
    name = f"{PREFIX}{sandbox.name}"
    daemons.wait_until(lambda: name not in container_names(), 60, message="container removed")


async def test_argv_command_runs_after_the_image_and_its_exit_status_fails_the_task(
    images: Images, cluster, driver
) -> None:
    _, agent = cluster
    # shell=false: `podman run IMAGE value arguments...`, as Mesos' docker containerizer
    command = CommandInfo(shell=False, value="/bin/sh", arguments=["-c", "echo argv > ran; exit 7"])
    _, (task,) = await driver.launch(
        lambda o: command_task(o, command, container=docker_container(images.busybox))
    )
    tid = task.task_id.value
    done = await driver.framework.wait_terminal(tid, 60)
    assert done.state is TaskState.TASK_FAILED
    assert done.message == "Command exited with status 7"
    assert (Path(find_executor(agent, tid)["directory"]) / "ran").read_text() == "argv\n"


async def test_kill_stops_the_container(images: Images, cluster, driver) -> None:
    _, agent = cluster
    command = shell("echo started > started; sleep 300")
    _, (task,) = await driver.launch(
        lambda o: command_task(
            o,
            command,
            container=docker_container(images.busybox),
            kill_policy=KillPolicy(grace_period=DurationInfo.of_seconds(10)),
        )
    )
    tid = task.task_id.value
    await driver.framework.wait_state(tid, TaskState.TASK_RUNNING, 60)
    sandbox = Path(find_executor(agent, tid)["directory"])
    daemons.wait_until((sandbox / "started").exists, 30, message="command started")
    name = f"{PREFIX}{sandbox.name}"
    assert name in container_names()
    await driver.client.kill(tid, driver.framework.updates[-1].agent_id)
    killed = await driver.framework.wait_terminal(tid, 30)
    assert killed.state is TaskState.TASK_KILLED
    assert TaskState.TASK_KILLING in driver.framework.states(tid)
    # SIGTERM reached `sleep` through --init: it ended with 128+15, not after the grace
    assert killed.message == "Command exited with status 143"
    daemons.wait_until(lambda: name not in container_names(), 60, message="container removed")


async def test_a_container_over_its_memory_limit_is_killed(images: Images, driver) -> None:
    # dd's 256 MB buffer does not fit the task's 32 MB: the kernel kills it in its cgroup.
    # podman 4.3 on this cgroup v1 host does not report OOMKilled (docs/containers.md), so
    # the task shows the SIGKILL's status
    command = shell("dd if=/dev/zero of=/dev/null bs=256M count=1")
    _, (task,) = await driver.launch(
        lambda o: command_task(o, command, mem=32, container=docker_container(images.busybox))
    )
    done = await driver.framework.wait_terminal(task.task_id.value, 60)
    assert done.state is TaskState.TASK_FAILED
    assert done.message == "Command exited with status 137"


async def test_a_command_health_check_runs_inside_the_container(images: Images, driver) -> None:
    # /www/index.html exists in the image only, not on the host
    check = HealthCheck(
        type=HealthCheckType.COMMAND,
        command=shell("test -f /www/index.html && test $PWD = $MESOS_SANDBOX"),
        delay_seconds=0,
        interval_seconds=1,
        grace_period_seconds=30,
    )
    _, (task,) = await driver.launch(
        lambda o: command_task(
            o, shell("sleep 300"), container=docker_container(images.busybox), health_check=check
        )
    )
    tid = task.task_id.value
    healthy = await driver.framework.wait(
        lambda: [u for u in driver.framework.updates if u.task_id.value == tid and u.healthy],
        60,
        "a healthy update",
    )
    assert healthy[0].state is TaskState.TASK_RUNNING
    await driver.client.kill(tid, healthy[0].agent_id)
    assert (await driver.framework.wait_terminal(tid, 30)).state is TaskState.TASK_KILLED


async def test_bridge_network_publishes_the_port_mapping_on_the_host(
    images: Images, driver
) -> None:
    command = shell("exec httpd -f -p 8080 -h /www")
    ports: list[int] = []

    def task(offer: Offer):
        ports.append(free_offered_port(offer))
        container = docker_container(
            images.busybox,
            network="BRIDGE",
            port_mappings=[{"host_port": ports[0], "container_port": 8080, "protocol": "tcp"}],
        )
        extra = Resources.parse(f"ports:[{ports[0]}-{ports[0]}]")
        role = offer.allocation_info.role if offer.allocation_info else None
        if role:
            extra = extra.allocate(role)
        t = command_task(offer, command, container=container)
        return t.replace(resources=t.resources + extra.to_wire())

    _, (launched,) = await driver.launch(task)
    tid = launched.task_id.value
    await driver.framework.wait_state(tid, TaskState.TASK_RUNNING, 60)

    def fetch() -> str | None:
        ended = [u for u in driver.framework.updates if u.state.is_terminal]
        assert not ended, f"the task ended: {ended[0].state.value} {ended[0].message}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/index.html", timeout=2) as r:
                return r.read().decode()
        except OSError:
            return None

    assert (
        daemons.wait_until(fetch, 30, message="the container's httpd")
        == "hello from the container\n"
    )
    await driver.client.kill(tid, driver.framework.updates[-1].agent_id)
    assert (await driver.framework.wait_terminal(tid, 30)).state is TaskState.TASK_KILLED


async def test_image_archive_fetched_as_a_uri_is_loaded_for_a_mesos_container(
    images: Images, driver
) -> None:
    assert podman("image", "exists", images.archived, check=False).returncode != 0
    command = shell(
        "echo loaded > loaded",
        uris=[URI(value=f"file://{images.archive}", extract=False)],
    )
    container = {
        "type": "MESOS",
        "mesos": {"image": {"type": "DOCKER", "docker": {"name": images.archived}}},
    }
    _, (task,) = await driver.launch(lambda o: command_task(o, command, container=container))
    done = await driver.framework.wait_terminal(task.task_id.value, 90)
    assert done.state is TaskState.TASK_FINISHED, done.message
    assert podman("image", "exists", images.archived, check=False).returncode == 0


async def test_an_image_in_the_docker_registry_directory_is_loaded(images: Images, driver) -> None:
    assert podman("image", "exists", images.registered, check=False).returncode != 0
    done = await _launch_one(driver, docker_container(images.registered))
    assert done.state is TaskState.TASK_FINISHED, done.message
    assert podman("image", "exists", images.registered, check=False).returncode == 0


async def test_bad_images_are_refused_with_a_reason(images: Images, driver) -> None:
    bad = await _launch_one(driver, docker_container("Not A Valid/Image!"))
    assert bad.state is TaskState.TASK_ERROR
    assert bad.reason is StatusReason.REASON_TASK_INVALID
    assert "'TaskInfo.container.docker.image'" in (bad.message or "")

    missing = await _launch_one(driver, docker_container(images.missing))
    assert missing.state is TaskState.TASK_FAILED
    assert missing.reason is StatusReason.REASON_CONTAINER_LAUNCH_FAILED
    assert f"Image '{images.missing}' is not in the local image store" in (missing.message or "")

    # no registry is reachable: a forced pull of an image only in the local store fails
    forced = await _launch_one(driver, docker_container(images.busybox, force_pull_image=True))
    assert forced.state is TaskState.TASK_FAILED
    assert "could not be pulled" in (forced.message or "")

    # podman refuses a bad option value: its own error is the task's message
    refused = await _launch_one(
        driver,
        docker_container(images.busybox, parameters=[{"key": "memory", "value": "lots"}]),
    )
    assert refused.state is TaskState.TASK_FAILED
    assert (refused.message or "").startswith("Failed to run the container: "), refused.message
    assert "lots" in (refused.message or "")

    no_docker = await _launch_one(driver, {"type": "DOCKER"})
    assert no_docker.state is TaskState.TASK_ERROR
    assert "'TaskInfo.container.docker' is required" in (no_docker.message or "")


async def _launch_one(driver: Driver, container: dict):
    _, (task,) = await driver.launch(lambda o: command_task(o, shell("true"), container=container))
    return await driver.framework.wait_terminal(task.task_id.value, 60)


async def test_agent_restart_adopts_running_containers_and_removes_orphans(
    images: Images, cluster
) -> None:
    master, agent = cluster
    d, client = await _driver(master)
    try:
        command = shell("while [ ! -f go ]; do sleep 0.1; done; echo adopted > done")
        _, (task,) = await d.launch(
            lambda o: command_task(o, command, container=docker_container(images.busybox))
        )
        tid = task.task_id.value
        await d.framework.wait_state(tid, TaskState.TASK_RUNNING, 60)
        sandbox = Path(find_executor(agent, tid)["directory"])
        name = f"{PREFIX}{sandbox.name}"
        daemons.wait_until(lambda: name in container_names(), 60, message="container running")
        # an orphan: a container of this agent (its label) that no checkpoint knows
        label = json.loads(podman("container", "inspect", name).stdout)[0]["Config"]["Labels"]
        orphan = f"{PREFIX}orphan"
        podman(
            "run", "--detach", f"--name={orphan}", "--ulimit=nofile=4096:4096",
            "--ulimit=nproc=8192:8192", "--network=none",
            f"--label=infinity.agent.work_dir={label['infinity.agent.work_dir']}",
            images.busybox, "sleep", "300",
        )  # fmt: skip
        agent.kill()
        assert name in container_names()  # the container outlives its agent
        agent.start()
        daemons.wait_until(lambda: orphan not in container_names(), 60, message="orphan removed")
        assert name in container_names()  # adopted, not removed
        (sandbox / "go").write_text("")
        done = await d.framework.wait_terminal(tid, 60)
        assert done.state is TaskState.TASK_FINISHED, done.message
        assert (sandbox / "done").read_text() == "adopted\n"
        daemons.wait_until(lambda: name not in container_names(), 60, message="container removed")
    finally:
        with contextlib.suppress(Exception):
            await client.teardown()
        d.framework.stop()
        await asyncio.gather(d.loop_task, return_exceptions=True)
        await client.close()


async def test_agent_restarted_with_recover_cleanup_kills_its_containers(
    images: Images, cluster
) -> None:
    master, agent = cluster
    d, client = await _driver(master)
    try:
        _, (task,) = await d.launch(
            lambda o: command_task(
                o, shell("sleep 300"), container=docker_container(images.busybox)
            )
        )
        tid = task.task_id.value
        await d.framework.wait_state(tid, TaskState.TASK_RUNNING, 60)
        name = f"{PREFIX}{Path(find_executor(agent, tid)['directory']).name}"
        daemons.wait_until(lambda: name in container_names(), 60, message="container running")
        agent.kill()
        agent.args.append("--recover=cleanup")  # the last flag wins
        try:
            agent.start()
        finally:
            agent.args.pop()
        lost = await d.framework.wait_terminal(tid, 60)
        assert lost.state is TaskState.TASK_LOST
        assert lost.reason is StatusReason.REASON_AGENT_RESTARTED
        daemons.wait_until(lambda: name not in container_names(), 60, message="container removed")
    finally:
        with contextlib.suppress(Exception):
            await client.teardown()
        d.framework.stop()
        await asyncio.gather(d.loop_task, return_exceptions=True)
        await client.close()


async def test_agent_without_the_docker_containerizer_fails_docker_tasks(
    tmp_path: Path, images: Images
) -> None:
    master = daemons.master(tmp_path / "master", "--allocation_interval=100ms")
    agent = daemons.agent(tmp_path / "agent", master.address, AGENT_RESOURCES)
    with daemons.running(master, agent):
        daemons.wait_until(
            lambda: daemons.registered_agents(master), 30, message="agent registered"
        )
        d, client = await _driver(master)
        try:
            failed = await _launch_one(d, docker_container(images.busybox))
        finally:
            d.framework.stop()
            await asyncio.gather(d.loop_task, return_exceptions=True)
            await client.close()
    assert failed.state is TaskState.TASK_FAILED
    assert failed.reason is StatusReason.REASON_CONTAINER_LAUNCH_FAILED
    assert "--containerizers=mesos,docker" in (failed.message or "")
