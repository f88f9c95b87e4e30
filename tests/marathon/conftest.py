"""Real Marathon processes beside a real master and agents on loopback.

`MarathonProcess` is one `marathon` daemon (the console script's module under this venv),
ready once `/ping` answers, stopped by its own pid. `api()` speaks to it over HTTP (or
HTTPS, with HTTP Basic credentials) exactly as Marathon's clients do.
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import daemons
from tests.integration.test_agent_tasks import kill_leftover_tasks


class MarathonProcess(daemons.Daemon):
    """A `marathon` daemon; healthy when `/ping` answers pong and the API is served (by this
    instance as the leader, or proxied to one): a leader that is still loading its state
    answers 503. With `auth` ("user:password") the API check presents it."""

    auth: str | None = None

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"marathon exited with {self.process.returncode}:\n{self.log_tail()}"
            )
        try:
            with urllib.request.urlopen(self.url + "/ping", timeout=2, context=self.tls) as r:
                if r.status != 200:
                    return False
            return api(self.url, "GET", "/v2/info", context=self.tls, auth=self.auth).status == 200
        except (urllib.error.URLError, OSError):
            return False


def marathon(
    work_dir: Path,
    master: str,
    *flags: str,
    port: int | None = None,
    zk: str | None = None,
    env: dict[str, str] | None = None,
) -> MarathonProcess:
    """A Marathon on 127.0.0.1:`port` (not yet started); `env` adds e.g. LIBPROCESS_SSL_*."""
    port = port or daemons.free_port()
    args = [
        f"--master={master}",
        "--http_address=127.0.0.1",
        f"--http_port={port}",
        "--hostname=127.0.0.1",
        f"--work_dir={work_dir / 'state'}",
        *([f"--zk={zk}", "--zk_session_timeout=4000"] if zk else []),
        *flags,
    ]
    return MarathonProcess("marathon", port, work_dir, args, daemons._env(env))


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


def api(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    timeout: float = 15.0,
    *,
    context: ssl.SSLContext | None = None,
    auth: str | None = None,
) -> Answer:
    """One HTTP call to Marathon; any status comes back (no exception for 4xx/5xx). `auth`
    ("user:password") is presented as HTTP Basic; `context` verifies an https Marathon."""
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            raw = response.read()
            status, headers = response.status, dict(response.headers)
    except urllib.error.HTTPError as e:
        raw, status, headers = e.read(), e.code, dict(e.headers)
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Answer(status, parsed, headers)


class Marathon:
    """A test's handle on a running Marathon (and the master it uses)."""

    def __init__(self, process: MarathonProcess, master: daemons.Daemon) -> None:
        self.process = process
        self.master = master

    @property
    def url(self) -> str:
        return self.process.url

    def __call__(self, method: str, path: str, body: Any = None) -> Answer:
        return api(self.url, method, path, body, context=self.process.tls, auth=self.process.auth)

    def app(self, app_id: str) -> dict[str, Any]:
        answer = self("GET", f"/v2/apps{app_id}")
        if answer.status != 200:  # not an assertion: polls retry it (e.g. during a failover)
            raise LookupError(answer)
        return answer.body["app"]

    def tasks(self, app_id: str) -> list[dict[str, Any]]:
        answer = self("GET", f"/v2/apps{app_id}/tasks")
        if answer.status != 200:
            raise LookupError(answer)
        return answer.body["tasks"]

    def running(self, app_id: str, count: int) -> list[dict[str, Any]] | None:
        tasks = [t for t in self.tasks(app_id) if t["state"] == "TASK_RUNNING"]
        return tasks if len(tasks) == count else None

    def deployed(self, app_id: str) -> bool:
        return not self.app(app_id)["deployments"]

    def wait_running(self, app_id: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        return daemons.wait_until(
            lambda: self.deployed(app_id) and self.running(app_id, count),
            timeout,
            message=f"{count} running instances of {app_id}",
        )

    def remove(self, app_id: str) -> None:
        self("DELETE", f"/v2/apps{app_id}?force=true")
        daemons.wait_until(
            lambda: not [t for t in self("GET", "/v2/tasks").body["tasks"] if t["appId"] == app_id],
            60,
            message=f"{app_id} gone",
        )


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[daemons.Daemon, list[daemons.Daemon]]]:
    """A master and two agents: 127.0.0.1 (rack r1) and 127.0.0.2 (rack r2)."""
    root: Path = tmp_path_factory.mktemp("marathon-cluster")
    master = daemons.master(root / "master", "--allocation_interval=200ms")
    agents = [
        daemons.agent(
            root / f"agent{n}",
            master.address,
            "--resources=cpus:16;mem:16384;disk:16000;ports:[31000-31999]",
            f"--hostname=127.0.0.{n}",
            f"--attributes=rack:r{n}",
        )
        for n in (1, 2)
    ]
    try:
        with daemons.running(master, *agents):
            daemons.wait_until(
                lambda: len(daemons.registered_agents(master)) == 2, 30, message="two agents"
            )
            yield master, agents
    finally:
        # stopped agents leave their tasks running (to recover them): end those of ours
        for agent in agents:
            kill_leftover_tasks(agent.work_dir)


@pytest.fixture(scope="module")
def marathon_api(cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Marathon]:
    """One standalone Marathon on the module's cluster."""
    master, _agents = cluster
    process = marathon(tmp_path_factory.mktemp("marathon"), master.address)
    with daemons.running(process):
        yield Marathon(process, master)


class EventStream:
    """A `/v2/events` subscriber reading server-sent events in a thread, as a client does."""

    def __init__(self, base: str, *types: str) -> None:
        import http.client
        import threading
        from urllib.parse import urlsplit

        query = "&".join(f"event_type={t}" for t in types)
        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        self.connection.request(
            "GET",
            "/v2/events" + (f"?{query}" if query else ""),
            headers={"Accept": "text/event-stream"},
        )
        self.response = self.connection.getresponse()
        assert self.response.status == 200, self.response.status
        self.content_type = self.response.getheader("Content-Type")
        self.events: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        name = None
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: "):
                    event = json.loads(line[len("data: ") :])
                    assert event["eventType"] == name
                    self.events.append(event)
        except (OSError, ValueError, AttributeError):
            return  # closed by the test

    def of(self, event_type: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["eventType"] == event_type and all(e.get(k) == v for k, v in match.items())
        ]

    def close(self) -> None:
        import socket

        # shut the socket first: the reader thread holds the response's buffer lock
        if self.connection.sock is not None:
            with contextlib.suppress(OSError):
                self.connection.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self.connection.close()
