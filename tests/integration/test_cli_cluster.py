"""`infinity` end to end, run as a real subprocess: `cluster up --agents 2`, `cluster status`,
`task run`, `task list`, `task log`, `cluster down` leaving none of its processes running.
The tests share one local cluster and run in file order; `cluster down` comes last."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mesos_runtime.cli.localcluster import ClusterState, stop_processes
from tests.harness.daemons import wait_until

pytestmark = pytest.mark.integration

INFINITY = str(Path(sys.executable).with_name("infinity"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def infinity(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INFINITY, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@dataclass
class LocalCluster:
    directory: Path
    env: dict[str, str]
    up: subprocess.CompletedProcess[str]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return infinity(*args, env=self.env, timeout=timeout)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    directory = tmp_path_factory.mktemp("cli") / "cluster"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "INFINITY_"))}
    env["INFINITY_CLUSTER_DIR"] = str(directory)
    up = infinity(
        "cluster", "up", "--agents", "2", "--port", str(free_port()),
        "--resources", "cpus:2;mem:2048;disk:2048", env=env,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    try:
        yield LocalCluster(directory, env, up)
    finally:
        # a safety net if a test failed before `cluster down`: stop the recorded pids only
        state = ClusterState.load(directory)
        if state is not None:
            stop_processes(state.processes)


def test_cluster_up_prints_the_master_url_and_web_address(cluster: LocalCluster) -> None:
    state = ClusterState.load(cluster.directory)
    assert state is not None and len(state.agents) == 2
    assert f"Master: {state.master.url}" in cluster.up.stdout
    assert f"Web:    {state.master.url}/" in cluster.up.stdout


def test_cluster_up_turns_authentication_on_with_private_generated_credentials(
    cluster: LocalCluster,
) -> None:
    import stat
    import urllib.error
    import urllib.request

    state = ClusterState.load(cluster.directory)
    assert state is not None and state.credential is not None
    credentials = cluster.directory / "credentials"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o700
    for path in credentials.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for url in (state.master.url + "/master/state", state.agents[0].url + "/state"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 401, url
    assert "Auth:   HTTP Basic" in cluster.up.stdout


def test_cluster_status_shows_both_agents_registered(cluster: LocalCluster) -> None:
    status = cluster.run("cluster", "status", "--json")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert len(doc["agents"]) == 2
    assert all(a["active"] and a["total"]["cpus"] == 2 for a in doc["agents"])
    assert all(p["running"] for p in [doc["cluster"]["master"], *doc["cluster"]["agents"]])
    table = cluster.run("cluster", "status")
    assert "Agents (2)" in table.stdout


def test_task_run_prints_state_transitions_and_the_output(cluster: LocalCluster) -> None:
    result = cluster.run(
        "task", "run", "--name", "hello", "--", "echo hello from Infinity on $(hostname)"
    )
    assert result.returncode == 0, result.stderr
    assert f"hello from Infinity on {socket.gethostname()}" in result.stdout
    assert "TASK_RUNNING" in result.stderr and "TASK_FINISHED" in result.stderr


def test_task_run_exits_with_the_commands_failure(cluster: LocalCluster) -> None:
    result = cluster.run("task", "run", "--name", "fails", "--", "echo oops >&2; exit 3")
    assert result.returncode == 3
    assert "TASK_FAILED" in result.stderr and "oops" in result.stderr


def test_task_list_shows_finished_tasks_with_all(cluster: LocalCluster) -> None:
    listed = cluster.run("task", "list", "--all", "--json")
    assert listed.returncode == 0, listed.stderr
    tasks: list[dict[str, Any]] = json.loads(listed.stdout)
    states = {t["name"]: t["state"] for t in tasks}
    assert states.get("hello") == "TASK_FINISHED"
    assert states.get("fails") == "TASK_FAILED"
    active = json.loads(cluster.run("task", "list", "--json").stdout)
    assert all(t["name"] not in ("hello", "fails") for t in active)


def test_task_log_prints_the_sandbox_stdout(cluster: LocalCluster) -> None:
    log = cluster.run("task", "log", "hello")
    assert log.returncode == 0, log.stderr
    assert log.stdout == f"hello from Infinity on {socket.gethostname()}\n"
    last = cluster.run("task", "log", "fails", "--stderr", "--lines", "1")
    assert last.stdout.strip().splitlines()[-1:] == ["oops"]


def test_task_log_of_an_unknown_task_says_so(cluster: LocalCluster) -> None:
    result = cluster.run("task", "log", "no-such-task")
    assert result.returncode == 1
    assert "no task matches 'no-such-task'" in result.stderr


def test_cluster_down_stops_the_recorded_daemons_and_their_tasks(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    state = ClusterState.load(cluster.directory)
    assert state is not None
    pid_file = tmp_path / "task.pid"
    attached = subprocess.Popen(
        [INFINITY, "task", "run", "--name", "long", "--", f"echo $$ > {pid_file}; exec sleep 300"],
        env=cluster.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), 60)
        task_pid = int(pid_file.read_text())
        down = cluster.run("cluster", "down")
        assert down.returncode == 0, down.stderr
        assert all(not p.is_ours() for p in state.processes)
        assert not running(task_pid, "sleep")
        assert attached.wait(timeout=60) != 0  # its task was killed under it
    finally:
        if attached.poll() is None:
            attached.kill()
            attached.wait()
    assert not (cluster.directory / "cluster.json").exists()
    # logs and work dirs stay for inspection
    assert Path(state.master.log).exists()
    after = cluster.run("cluster", "status")
    assert after.returncode == 1 and "no local cluster" in after.stderr


def running(pid: int, command: str) -> bool:
    """Whether `pid` is a live (not zombie) process running `command`."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z" and command.encode() in cmdline


def test_commands_fail_clearly_when_no_master_answers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "INFINITY_"))}
    env["INFINITY_CLUSTER_DIR"] = str(tmp_path / "none")
    address = f"127.0.0.1:{free_port()}"
    for args in (["task", "list"], ["task", "run", "--", "true"], ["task", "log", "x"]):
        result = infinity(*args[:2], "--master", address, *args[2:], env=env, timeout=60)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert "cannot reach" in result.stderr and address in result.stderr
        assert "Traceback" not in result.stderr


def test_cluster_down_never_signals_a_pid_that_is_not_a_recorded_daemon(tmp_path: Path) -> None:
    # a recorded pid now belongs to another program (pid reuse): it must survive `down`
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        record = {
            "kind": "master",
            "pid": bystander.pid,
            "port": free_port(),
            "work_dir": str(tmp_path / "master"),
            "log": str(tmp_path / "master" / "master.log"),
            "argv": [],
            "start_time": 1,
        }
        (tmp_path / "cluster.json").write_text(
            json.dumps({"directory": str(tmp_path), "master": record, "agents": []})
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFINITY_")}
        down = infinity("cluster", "down", "--dir", str(tmp_path), env=env)
        assert down.returncode == 0, down.stderr
        assert "nothing was running" in down.stdout
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
