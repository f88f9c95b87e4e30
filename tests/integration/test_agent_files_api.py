"""The agent's files API cannot be led out of a sandbox or stalled by what a task puts in
it (issue 11, findings 4, 5 and 9): paths are opened without following links, only regular
files are read, FIFOs and devices are refused, and bad parameters get a 400 that says why.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.harness import daemons
from tests.harness.v1_client import Framework, V1Client, framework_info, task_info
from tests.integration.test_agent_tasks import kill_leftover_tasks

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[daemons.Daemon, ...]]:
    root = tmp_path_factory.mktemp("files-api")
    master = daemons.master(root / "master")
    agent = daemons.agent(
        root / "agent",
        master.address,
        "--resources=cpus:4;mem:2048;disk:1000",
        "--isolation=posix/cpu,posix/mem",
    )
    with daemons.running(master, agent):
        daemons.wait_until(lambda: daemons.registered_agents(master), message="agent registered")
        try:
            yield master, agent
        finally:
            kill_leftover_tasks(root / "agent")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
async def framework(cluster) -> AsyncIterator[Framework]:
    """A framework for one test: its tasks end with it."""
    async with V1Client(cluster[0].url) as client:
        yield await client.subscribe(framework_info("files-api"))


async def _sandbox_of_task(
    cluster: tuple[daemons.Daemon, ...], framework: Framework, command: str, ready: str
) -> Path:
    """Launch `command` as a task; its sandbox once the task has created `ready` in it."""
    _master, agent = cluster
    offer = (await framework.offers())[0]
    task_id = f"t-{offer['id']['value']}"
    reply = await framework.launch(offer, task_info(task_id, offer, command, cpus=0.1))
    assert reply.status == 202, reply
    for state in ("TASK_STARTING", "TASK_RUNNING"):
        await framework.acknowledge(await framework.update(task_id, state))

    def sandbox() -> Path | None:
        state = daemons.http_json(agent.url + "/state")
        for fw in state["frameworks"]:
            for executor in fw["executors"]:
                if any(t["id"] == task_id for t in executor["tasks"]):
                    path = Path(executor["directory"])
                    return path if (path / ready).exists() else None
        return None

    return daemons.wait_until(sandbox, message=f"{ready} in the sandbox of {task_id}")


def _read_url(agent: daemons.Daemon, path: str, **params: str) -> str:
    return f"{agent.url}/files/read?" + urllib.parse.urlencode({"path": path, **params})


async def test_a_directory_swapped_for_a_symlink_never_serves_what_it_points_to(
    cluster, http, framework
) -> None:
    _master, agent = cluster
    # `d` flips between a real directory (with a harmless `passwd`) and a link to /etc
    swap = (
        "mkdir real && echo harmless > real/passwd && ln -s /etc evil && touch ready; "
        "while :; do mv -T real d; mv -T d real; mv -T evil d; mv -T d evil; done"
    )
    sandbox = await _sandbox_of_task(cluster, framework, swap, "ready")
    served = []
    for endpoint in ("read", "download"):
        url = f"{agent.url}/files/{endpoint}?path={sandbox}/d/passwd"
        for _ in range(150):
            async with http.get(url) as response:
                served.append((response.status, await response.text()))
    assert not [body for _status, body in served if "root:" in body]
    assert {status for status, _body in served} <= {200, 404}
    assert any(status == 200 and "harmless" in body for status, body in served)


@pytest.mark.parametrize(
    ("make", "name"),
    [("mkfifo fifo", "fifo"), ("mknod null c 1 3", "null")],
    ids=["fifo", "device"],
)
async def test_fifos_and_devices_are_refused_and_the_agent_keeps_answering(
    cluster, http, framework, make, name
) -> None:
    _master, agent = cluster
    sandbox = await _sandbox_of_task(
        cluster, framework, f"{make} && touch ready && sleep 60", "ready"
    )
    for endpoint in ("read", "download"):
        async with http.get(f"{agent.url}/files/{endpoint}?path={sandbox}/{name}") as response:
            assert response.status == 400
            assert "is not a regular file" in await response.text()
    async with http.get(agent.url + "/health") as response:
        assert response.status == 200


async def test_bad_paths_and_offsets_get_a_400_that_says_why(cluster, http, framework) -> None:
    _master, agent = cluster
    sandbox = await _sandbox_of_task(cluster, framework, "echo hello > out; sleep 60", "out")
    cases = [
        (f"{agent.url}/files/read?path=%00", 400, "NUL"),
        (f"{agent.url}/files/browse?path={sandbox}%00x", 400, "NUL"),
        (_read_url(agent, f"{sandbox}/out", offset="99999999999999999999999"), 400, "'offset'"),
        (_read_url(agent, f"{sandbox}/out", offset="x"), 400, "'offset' must be an integer"),
        (_read_url(agent, f"{sandbox}/out", length="-7"), 400, "'length'"),
        (_read_url(agent, f"{sandbox}/../../../../../etc/passwd"), 404, "not in a sandbox"),
    ]
    for url, status, message in cases:
        async with http.get(url) as response:
            assert (response.status, message in await response.text()) == (status, True), url
    # past the end of the file: nothing more to read (not an error)
    async with http.get(_read_url(agent, f"{sandbox}/out", offset="1000000")) as response:
        assert response.status == 200
        assert await response.json() == {"data": "", "offset": 1000000}
    async with http.get(_read_url(agent, f"{sandbox}/out", offset="0")) as response:
        assert await response.json() == {"data": "hello\n", "offset": 0}


async def test_reads_run_off_the_event_loop(cluster, http, framework) -> None:
    """Many concurrent reads of a large file do not keep /health from answering."""
    _master, agent = cluster
    sandbox = await _sandbox_of_task(
        cluster, framework, "head -c 16000000 /dev/zero > big && touch ready; sleep 60", "ready"
    )
    url = f"{agent.url}/files/read?path={sandbox}/big&offset=0"
    reads = [asyncio.ensure_future(http.get(url)) for _ in range(8)]
    async with http.get(agent.url + "/health") as response:
        assert response.status == 200
    for response in await asyncio.gather(*reads):
        assert response.status == 200
        response.release()
