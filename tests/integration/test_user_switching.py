"""Tasks run as their user (issue 11, `--switch_user` as in Mesos): CommandInfo.user, else
FrameworkInfo.user; the sandbox and its stdout/stderr belong to that user; an unknown user
fails the task saying so; local `file://` fetches read with the user's permissions; with
`--no-switch_user` tasks run as the agent. Real agent (as root), real user `nobody`."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import daemons
from tests.harness.v1_client import Framework, V1Client, framework_info, task_info
from tests.integration.test_agent_tasks import kill_leftover_tasks

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root"),
]

NOBODY = pwd.getpwnam("nobody")


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    """A work area other users can traverse (pytest's own tmp dir is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="infinity-users-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(root: Path) -> Iterator[tuple[daemons.Daemon, ...]]:
    master = daemons.master(root / "master")
    agents = [
        daemons.agent(
            root / name,
            master.address,
            "--resources=cpus:2;mem:1024;disk:100",
            "--isolation=posix/cpu,posix/mem",
            f"--attributes=name:{name}",
            *extra,
        )
        for name, extra in (("switching", []), ("not-switching", ["--no-switch_user"]))
    ]
    with daemons.running(master, *agents):
        daemons.wait_until(lambda: len(daemons.registered_agents(master)) == 2)
        try:
            yield master, *agents
        finally:
            for agent in agents:
                kill_leftover_tasks(agent.work_dir)


@pytest.fixture
async def framework(cluster) -> AsyncIterator[Framework]:
    async with V1Client(cluster[0].url) as client:
        yield await client.subscribe(framework_info("users", user="nobody"))


async def _run(framework: Framework, agent_name: str, command: dict[str, Any]) -> dict[str, Any]:
    """Launch `command` on the named agent; its terminal status, acknowledging as we go."""
    while True:
        offers = await framework.offers()
        mine = [o for o in offers if o["attributes"][0]["text"]["value"] == agent_name]
        for offer in offers:
            if offer not in mine:
                await framework.decline(offer, refuse_seconds=0.5)
        if mine:
            break
    offer = mine[0]
    task = task_info(f"t-{offer['id']['value']}", offer, "true")
    task["command"] = command
    assert (await framework.launch(offer, task, filters={"refuse_seconds": 0})).status == 202
    while True:
        status = await framework.update(task["task_id"]["value"])
        await framework.acknowledge(status)
        if status["state"] in ("TASK_FINISHED", "TASK_FAILED", "TASK_ERROR", "TASK_LOST"):
            return status


def _sandbox(agent: daemons.Daemon, status: dict[str, Any]) -> Path:
    state = daemons.http_json(agent.url + "/state")
    for fw in state["frameworks"] + state["completed_frameworks"]:
        for executor in fw["executors"] + fw["completed_executors"]:
            if executor["id"] == status["task_id"]["value"]:
                return Path(executor["directory"])
    raise AssertionError("no sandbox")


async def test_a_task_runs_as_the_framework_user_and_owns_its_sandbox(cluster, framework) -> None:
    _master, switching, _other = cluster
    status = await _run(framework, "switching", {"value": "id -u > uid; id -g > gid; echo $USER"})
    assert status["state"] == "TASK_FINISHED", status
    sandbox = _sandbox(switching, status)
    assert (sandbox / "uid").read_text().strip() == str(NOBODY.pw_uid)
    assert (sandbox / "gid").read_text().strip() == str(NOBODY.pw_gid)
    assert (sandbox / "stdout").read_text().strip() == "nobody"
    for path in (sandbox, sandbox / "stdout", sandbox / "stderr", sandbox / "uid"):
        assert path.stat().st_uid == NOBODY.pw_uid, path


async def test_command_user_wins_over_the_framework_user(cluster, framework) -> None:
    _master, switching, _other = cluster
    status = await _run(framework, "switching", {"value": "id -un > who", "user": "root"})
    assert status["state"] == "TASK_FINISHED", status
    assert (_sandbox(switching, status) / "who").read_text().strip() == "root"


async def test_an_unknown_user_fails_the_task_saying_so(cluster, framework) -> None:
    status = await _run(framework, "switching", {"value": "true", "user": "no-such-user"})
    assert status["state"] == "TASK_FAILED"
    assert status["reason"] == "REASON_CONTAINER_LAUNCH_FAILED"
    assert "user 'no-such-user' does not exist on this agent" in status["message"]


async def test_local_fetches_read_as_the_task_user(cluster, framework, root: Path) -> None:
    _master, switching, _other = cluster
    public = root / "public.txt"
    public.write_text("for everyone\n")
    public.chmod(0o644)
    private = root / "private.txt"
    private.write_text("root only\n")
    private.chmod(0o600)
    status = await _run(
        framework,
        "switching",
        {"value": "cat public.txt", "uris": [{"value": f"file://{public}"}]},
    )
    assert status["state"] == "TASK_FINISHED", status
    fetched = _sandbox(switching, status) / "public.txt"
    assert fetched.stat().st_uid == NOBODY.pw_uid
    status = await _run(
        framework, "switching", {"value": "true", "uris": [{"value": f"file://{private}"}]}
    )
    assert status["state"] == "TASK_FAILED"
    assert "as user 'nobody'" in status["message"]
    assert "Permission denied" in status["message"]


async def test_without_switch_user_tasks_run_as_the_agent(cluster, framework) -> None:
    _master, _switching, other = cluster
    status = await _run(framework, "not-switching", {"value": "id -u > uid"})
    assert status["state"] == "TASK_FINISHED", status
    assert (_sandbox(other, status) / "uid").read_text().strip() == str(os.geteuid())
