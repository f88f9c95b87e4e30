"""Start real `mesos-master` and `mesos-agent` processes on loopback for tests.

Each daemon runs as its own process (the console-script module under this venv's Python),
is stopped by its own pid, and is ready once its `/health` answers. Nothing here is a
stand-in: tests talk to these daemons over HTTP exactly as users do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from mesos_runtime.cli.localcluster import Process

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Poll:
    """One polling loop's bookkeeping, shared by `wait_until` and `eventually`."""

    def __init__(self, timeout: float, message: str) -> None:
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.message = message
        self.last_error: BaseException | None = None

    def pending(self) -> bool:
        return time.monotonic() < self.deadline

    def check(self, condition: Callable[[], T]) -> T | None:
        try:
            return condition() or None
        except AssertionError:
            raise  # the condition itself decided the test has failed (e.g. a daemon exited)
        except Exception as e:  # noqa: BLE001 - the condition may not be observable yet
            self.last_error = e
            return None

    def timed_out(self) -> AssertionError:
        return AssertionError(
            f"timed out after {self.timeout}s waiting for {self.message}"
            + (f" (last error: {self.last_error!r})" if self.last_error else "")
        )


def wait_until(
    condition: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll `condition` until it returns something truthy; fail the test after `timeout`."""
    poll = _Poll(timeout, message)
    while poll.pending():
        if (result := poll.check(condition)) is not None:
            return result
        time.sleep(interval)
    raise poll.timed_out()


async def eventually(
    condition: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """The asyncio twin of `wait_until`: poll without blocking the event loop."""
    poll = _Poll(timeout, message)
    while poll.pending():
        if (result := poll.check(condition)) is not None:
            return result
        await asyncio.sleep(interval)
    raise poll.timed_out()


def http_json(
    url: str, body: Any = None, timeout: float = 10.0, context: ssl.SSLContext | None = None
) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", "Accept": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


@dataclass
class Daemon:
    """One running daemon process; `stop()` ends it by its own pid."""

    kind: str
    port: int
    work_dir: Path
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)
    # RLIMIT_NOFILE (soft and hard) of the daemon, e.g. to show it copes with few descriptors
    nofile: int | None = None
    # the client TLS context when the daemon serves TLS (LIBPROCESS_SSL_* in `env`)
    tls: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        self.log_path = self.work_dir / f"{self.kind}.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, ready_timeout: float = 30.0) -> Daemon:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        # util-linux' prlimit sets the limit (a preexec_fn is unsafe beside threads)
        limit = [] if self.nofile is None else ["prlimit", f"--nofile={self.nofile}", "--"]
        self.process = subprocess.Popen(
            [*limit, sys.executable, "-m", f"mesos_runtime.{self.kind}.main", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )
        log.close()
        wait_until(
            self._healthy,
            ready_timeout,
            message=f"{self.kind} on {self.address} healthy\n" + self.log_tail(),
        )
        return self

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"{self.kind} exited with {self.process.returncode}:\n{self.log_tail()}"
            )
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2, context=self.tls) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal this daemon's own pid (never a pattern match)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> Daemon:
        self.kill(signal.SIGKILL)
        return self.start()


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESOS_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def master(
    work_dir: Path, *flags: str, port: int | None = None, env: dict[str, str] | None = None
) -> Daemon:
    """A standalone master on 127.0.0.1 (not yet started)."""
    port = port or free_port()
    args = [
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--work_dir={work_dir}",
        "--hostname=127.0.0.1",
        *flags,
    ]
    return Daemon("master", port, work_dir, args, _env(env))


def agent(
    work_dir: Path,
    master_address: str,
    *flags: str,
    port: int | None = None,
    env: dict[str, str] | None = None,
) -> Daemon:
    """An agent on 127.0.0.1 registering with `master_address` (not yet started)."""
    port = port or free_port()
    args = [
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--work_dir={work_dir}",
        "--hostname=127.0.0.1",
        f"--master={master_address}",
        *flags,
    ]
    return Daemon("agent", port, work_dir, args, _env(env))


def registered_agents(master_daemon: Daemon) -> list[dict[str, Any]]:
    return http_json(master_daemon.url + "/master/state", context=master_daemon.tls)["slaves"]


@contextlib.contextmanager
def running(*daemons: Daemon):
    """Start daemons in order; stop them all (reverse order) however the test ends."""
    started: list[Daemon] = []
    try:
        for d in daemons:
            started.append(d.start())
        yield daemons
    finally:
        for d in reversed(started):
            d.stop()


def lose_host(agent: Process) -> None:
    """The agent's machine dies: the agent and every process of its tasks are killed at once
    (by their own pids: the processes whose working directory is in the agent's)."""
    work = Path(agent.work_dir).resolve()
    doomed = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = (entry / "cwd").resolve()
            except OSError:
                continue
            if cwd.is_relative_to(work) and int(entry.name) != agent.pid:
                doomed.append(int(entry.name))
    os.kill(agent.pid, signal.SIGKILL)
    for pid in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
