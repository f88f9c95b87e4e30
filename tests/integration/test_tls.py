"""TLS on every listener and client, configured as libprocess does (`LIBPROCESS_SSL_*`),
with a CA the tests generate (issue 11): the master and agent serve only TLS and demand
client certificates, the agent channel, the executor API (a real custom executor), the
scheduler library and the CLI all speak it; plain HTTP and certificate-less clients are
refused; a half-configured TLS stops a daemon at start, naming what is missing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from mesos_runtime.scheduler.client import SchedulerClient
from mesos_runtime.scheduler.framework import run
from mesos_runtime.wire.mesos import FrameworkInfo, TaskState
from tests.harness import daemons
from tests.harness.tls import TlsFiles, make_pki
from tests.integration.test_agent_tasks import (
    RecordingFramework,
    command_task,
    example_executor,
    kill_leftover_tasks,
    shell,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def cluster(
    pki: TlsFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[daemons.Daemon, daemons.Daemon]]:
    root = tmp_path_factory.mktemp("tls")
    env = pki.environment(require_cert=True)
    master = daemons.master(root / "master", env=env)
    agent = daemons.agent(
        root / "agent",
        master.address,
        "--resources=cpus:2;mem:1024;disk:100",
        "--isolation=posix/cpu,posix/mem",
        env=env,
    )
    master.tls = agent.tls = pki.client_context()
    with daemons.running(master, agent):
        daemons.wait_until(lambda: daemons.registered_agents(master), message="agent over TLS")
        try:
            yield master, agent
        finally:
            kill_leftover_tasks(root / "agent")


async def test_plain_http_and_clients_without_a_certificate_are_refused(cluster, pki) -> None:
    master, agent = cluster
    for daemon in (master, agent):
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{daemon.port}/health") as response:
                    await response.read()
        no_cert = aiohttp.TCPConnector(ssl=pki.client_context(with_cert=False))
        async with aiohttp.ClientSession(connector=no_cert) as http:
            with pytest.raises(aiohttp.ClientError):
                async with http.get(daemon.url + "/health") as response:
                    await response.read()
        with_cert = aiohttp.TCPConnector(ssl=pki.client_context())
        async with (
            aiohttp.ClientSession(connector=with_cert) as http,
            http.get(daemon.url + "/health") as response,
        ):
            assert response.status == 200


async def test_the_scheduler_library_and_a_custom_executor_run_tasks_over_tls(
    cluster, pki, monkeypatch
) -> None:
    master, _agent = cluster
    for name, value in pki.environment().items():
        monkeypatch.setenv(name, value)  # the library reads libprocess' settings itself
    framework = RecordingFramework()
    async with SchedulerClient(master.address, FrameworkInfo(user="root", name="tls")) as client:
        loop = asyncio.create_task(run(client, framework))
        try:
            offer = await asyncio.wait_for(framework.offer_queue.get(), 30)
            executor = example_executor(offer, "tls-executor")
            custom = command_task(offer, None, executor=executor, cpus=0.1, mem=32)
            plain = command_task(offer, shell("echo over tls"), cpus=0.1, mem=32)
            await client.launch([offer.id], [custom, plain])
            await framework.wait_state(plain.task_id.value, TaskState.TASK_FINISHED, 60)
            await framework.wait_state(custom.task_id.value, TaskState.TASK_FINISHED, 60)
        finally:
            framework.stop()
            await asyncio.gather(loop, return_exceptions=True)


def test_the_cli_reads_the_cluster_over_tls(cluster, pki) -> None:
    master, _agent = cluster
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "INFINITY_"))}
    env.update(pki.environment())
    done = subprocess.run(
        [str(Path(sys.executable).with_name("infinity")), "task", "list", "--all", "--json",
         "--master", master.address],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_daemon_with_half_configured_tls_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "LIBPROCESS_"))}
    env["LIBPROCESS_SSL_ENABLED"] = "true"
    for kind in ("master", "agent"):
        done = subprocess.run(
            [sys.executable, "-m", f"mesos_runtime.{kind}.main", f"--work_dir={tmp_path / kind}",
             "--port=0"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert "LIBPROCESS_SSL_CERT_FILE" in done.stderr
