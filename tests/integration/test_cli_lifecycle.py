"""`infinity cluster up|status|down` through a life a local cluster has: a port picked with
`--port 0`, `down` then `up` again on the same port at once (TIME_WAIT), a master that dies
under `kill -9`, and `up` stopped by SIGTERM while it starts. Real subprocesses, one cluster
directory; the tests run in file order."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesos_runtime.cli.localcluster import ClusterState, stop_processes
from tests.harness.daemons import wait_until
from tests.integration.test_cli_cluster import INFINITY, infinity

pytestmark = pytest.mark.integration

UP = ("cluster", "up", "--agents", "1", "--no-marathon", "--resources", "cpus:1;mem:512;disk:512")


class Lifecycle:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "INFINITY_"))
        }
        self.env["INFINITY_CLUSTER_DIR"] = str(directory)
        self.port = 0  # the master's, once `up --port 0` chose it

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return infinity(*args, env=self.env)

    def state(self) -> ClusterState:
        state = ClusterState.load(self.directory)
        assert state is not None
        return state


@pytest.fixture(scope="module")
def life(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lifecycle]:
    life = Lifecycle(tmp_path_factory.mktemp("lifecycle") / "cluster")
    try:
        yield life
    finally:
        state = ClusterState.load(life.directory)
        if state is not None:
            stop_processes(state.processes)


def test_port_zero_starts_the_master_on_a_free_port_that_is_recorded_and_printed(
    life: Lifecycle,
) -> None:
    up = life.run(*UP, "--port", "0")
    assert up.returncode == 0, up.stderr
    state = life.state()
    assert state.master.port != 0
    assert f"Master: http://127.0.0.1:{state.master.port}\n" in up.stdout
    status = life.run("cluster", "status", "--json")
    assert status.returncode == 0, status.stderr
    life.port = state.master.port


def time_wait_on(port: int) -> bool:
    """Whether a TCP socket on 127.0.0.1:`port` is in TIME_WAIT (state 06 in /proc/net/tcp)."""
    local = f"0100007F:{port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(r.split()[1] == local and r.split()[3] == "06" for r in rows)


def test_down_then_up_on_the_same_port_at_once(life: Lifecycle) -> None:
    # a connection the master closes first (its answer to `Connection: close`, read to the
    # end) leaves TIME_WAIT on the master's port, as a client's requests do
    with socket.create_connection(("127.0.0.1", life.port), timeout=10) as client:
        client.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while client.recv(4096):
            pass
    down = life.run("cluster", "down")
    assert down.returncode == 0, down.stderr
    assert time_wait_on(life.port)
    up = life.run(*UP, "--port", str(life.port))
    assert up.returncode == 0, up.stderr
    assert life.state().master.port == life.port
    # a port with a live listener is still refused
    again = infinity(*UP, "--port", str(life.port), "--dir", str(life.directory / "other"),
                     env=life.env)  # fmt: skip
    assert again.returncode == 1 and f"port {life.port} on 127.0.0.1 is in use" in again.stderr


def test_after_a_master_kill_status_shows_the_processes_and_up_agrees_with_its_hint(
    life: Lifecycle,
) -> None:
    state = life.state()
    os.kill(state.master.pid, signal.SIGKILL)
    wait_until(lambda: not state.master.is_ours(), 30, message="the master gone")
    status = life.run("cluster", "status")
    assert status.returncode == 1
    assert re.search(rf"master\s+{state.master.pid}\s.*\sstopped", status.stdout)
    assert re.search(rf"agent\s+{state.agents[0].pid}\s.*\srunning", status.stdout)
    assert "is not running" in status.stderr and "`infinity cluster down`" in status.stderr
    assert "Traceback" not in status.stderr
    # `up` asks for what `status` said: `down` first
    up = life.run(*UP, "--port", str(life.port))
    assert up.returncode == 1
    assert "partly running" in up.stderr and "`infinity cluster down` first" in up.stderr
    down = life.run("cluster", "down")
    assert down.returncode == 0, down.stderr
    assert f"stopped agent pid {state.agents[0].pid}" in down.stdout


def test_sigterm_while_up_starts_stops_what_it_started(life: Lifecycle) -> None:
    assert ClusterState.load(life.directory) is None  # the record below is this `up`'s
    up = subprocess.Popen(
        [INFINITY, *UP, "--port", "0"],
        env=life.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        state = wait_until(
            lambda: ClusterState.load(life.directory), 60, message="up recording its master"
        )
        up.send_signal(signal.SIGTERM)
        _, stderr = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert up.returncode == 130, stderr
    assert "interrupted: stopped the daemons it had started" in stderr
    assert not state.master.is_ours()
    assert ClusterState.load(life.directory) is None


def test_a_daemon_failing_at_start_up_is_named_with_its_exit_status(life: Lifecycle) -> None:
    up = life.run("cluster", "up", "--agents", "1", "--no-marathon", "--port", "0",
                  "--resources", "cpus:x")  # fmt: skip
    assert up.returncode == 1
    assert "agent on port" in up.stderr and "exited during start-up (exit status 1)" in up.stderr
    assert "'cpus:x' is not a number" in up.stderr  # the end of its log
    assert ClusterState.load(life.directory) is None  # the master it started is stopped too
