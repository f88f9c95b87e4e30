"""Where the scheduler's API listens: on the address of the agent that launched it (its
`HOST`, or `LIBPROCESS_IP`), not on every address, so that it shares no port with the
tasks of the other agents of the same machine (the local cluster's agents are 127.0.0.x)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesos_runtime.sdk.scheduler.config import ConfigError, bind_address
from tests.harness import daemons

from .service import TEMPLATE, spec


def scheduler(tmp_path: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    """A scheduler whose master does not answer: its API serves all the same."""
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "index.html.j2").write_text(TEMPLATE)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "SERVICE_"))}
    base.pop("HOST", None)
    base.pop("LIBPROCESS_IP", None)
    base.update(
        SERVICE_NAME="hello",
        SERVICE_SPEC=spec(),
        MESOS_MASTER="127.0.0.1:1",
        SERVICE_STORE=str(tmp_path / "store"),
        SERVICE_TEMPLATES_DIR=str(tmp_path / "templates"),
        PORT_API=str(port),
        **env,
    )
    log = (tmp_path / "scheduler.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "mesos_runtime.sdk.scheduler"],
        env=base,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    return process


@pytest.fixture
def another_agents_task() -> Iterator[tuple[str, int]]:
    """A task of another agent on this machine, listening on 127.0.0.2:<port>."""
    sock = socket.socket()
    sock.bind(("127.0.0.2", 0))
    sock.listen()
    try:
        yield "127.0.0.2", sock.getsockname()[1]
    finally:
        sock.close()


def plans(url: str) -> list[str] | None:
    try:
        with urllib.request.urlopen(url + "/v1/plans", timeout=5) as r:
            return json.loads(r.read())
    except OSError:
        return None


def test_the_api_listens_on_its_agents_address_beside_another_agents_task_on_its_port(
    tmp_path: Path, another_agents_task: tuple[str, int]
) -> None:
    _, port = another_agents_task
    process = scheduler(tmp_path, port, HOST="127.0.0.3")
    try:
        found = daemons.wait_until(
            lambda: process.poll() is None and plans(f"http://127.0.0.3:{port}"),
            30,
            interval=0.2,
            message=f"the API on 127.0.0.3:{port}\n{(tmp_path / 'scheduler.log').read_text()}",
        )
        assert found[:2] == ["deploy", "update"]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        log = (tmp_path / "scheduler.log").read_text()
        assert f"serving the scheduler API on http://127.0.0.3:{port} (listening on " in log
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def test_libprocess_ip_comes_first_then_host_and_a_bad_one_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.7 agent-7.example agent-7  # an agent\n")
    assert bind_address({"LIBPROCESS_IP": "127.0.0.4", "HOST": "127.0.0.3"}) == "127.0.0.4"
    assert bind_address({"HOST": "127.0.0.3"}) == "127.0.0.3"
    assert bind_address({"HOST": "agent-7"}, hosts) == "127.0.0.7"
    # a name the hosts file does not hold is not looked up in the DNS: every address
    assert bind_address({"HOST": "host-a"}, hosts) == "0.0.0.0"
    assert bind_address({}) == "0.0.0.0"
    with pytest.raises(ConfigError, match="LIBPROCESS_IP: 'agent-7' is not an IP address"):
        bind_address({"LIBPROCESS_IP": "agent-7"})
