"""The launcher: one small process per agent that starts the containers' processes and
stays their parent, so that no shell sits between a task and the agent.

A task's process is spawned (vfork + exec) by the launcher into its own process group,
with its sandbox's stdout/stderr, from inside the container's cgroups (or rlimits), which
the launcher joins for the spawn and leaves again: one fork and one exec, where the old
`sh` wrapper took two forks and two execs. Being the
parent, the launcher learns every exit status and writes it to the process's status file
before reaping it, and it lives on in its own session when the agent dies: a restarted
agent re-attaches to its tasks by pid and reads how they ended from those files, as it did
with the wrapper. It exits once the agent is gone and its last child has ended.

The agent speaks to it over a socket pair, one JSON object a line:
    -> {"id": 1, "argv": [...], "env": {...}, "cwd": ..., "sandbox": ..., "status_file": ...,
        "cgroup_procs": [...], "cgroup_procs_after": [...], "rlimit_as": null}
    <- {"id": 1, "pid": 4242, "start_time": 123456}   or {"id": 1, "error": "..."}
       (an error: the process could not be started, e.g. a missing executable)
    <- {"exit": 4242, "code": 0}   (a signal N is reported as 128+N, as a shell would)
This module imports only the standard library: it is the launcher's whole program.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def start_time_of(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat (what tells a process from a later one with its pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat[stat.rindex(")") + 2 :].split()[19])


# --- the launcher process -------------------------------------------------------------------


def _write_self(procs: str) -> None:
    fd = os.open(procs, os.O_WRONLY | os.O_CREAT, 0o644)  # (O_CREAT: as sh's `>` did)
    try:
        os.write(fd, b"0")  # "0": the writing process itself
    finally:
        os.close(fd)


def cgroup_homes() -> list[tuple[str, str]]:
    """(mount point/, this process's own cgroup.procs there) for each cgroup hierarchy."""
    own: dict[str, str] = {}  # the controllers of a hierarchy ("" for v2) -> our cgroup
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            own[controllers] = path
    homes = []
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 4 or fields[2] not in ("cgroup", "cgroup2"):
                continue
            options = set(fields[3].split(","))
            for controllers, path in own.items():
                v2 = fields[2] == "cgroup2"
                if (v2 and controllers == "") or (
                    not v2 and controllers and set(controllers.split(",")) <= options
                ):
                    point = fields[1].rstrip("/") + "/"
                    homes.append(
                        (point, f"{point}{path.strip('/')}/cgroup.procs".replace("//", "/"))
                    )
    return sorted(homes, key=lambda h: -len(h[0]))  # the longest mount point first


@contextlib.contextmanager
def _joined(request: dict[str, Any], homes: list[tuple[str, str]]) -> Iterator[None]:
    """The launcher inside the container while it spawns, so that the child starts there:
    posix_spawn (vfork: no Python in the child) then needs no code between fork and exec.
    Moving a process costs ~0.1 ms here; a fork of the launcher ~0.6 ms of system time."""
    limit = request.get("rlimit_as")
    saved = resource.getrlimit(resource.RLIMIT_AS)
    joined: list[str] = []
    try:
        for procs in request.get("cgroup_procs") or ():
            joined.append(procs)
            _write_self(procs)
        if limit:
            hard = saved[1]
            soft = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        yield
    finally:
        if limit:
            resource.setrlimit(resource.RLIMIT_AS, saved)
        for procs in joined:  # back where the launcher was started, hierarchy by hierarchy
            home = next((h for point, h in homes if procs.startswith(point)), None)
            if home is not None:
                _write_self(home)


@contextlib.contextmanager
def _working_directory(path: str, home: int) -> Iterator[None]:
    os.chdir(path)
    try:
        yield
    finally:
        os.fchdir(home)


class _Launcher:
    def __init__(self, channel: socket.socket) -> None:
        self.channel = channel
        self.children: dict[int, str] = {}  # pid -> its status file
        self.devnull = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        self.homes = cgroup_homes()
        self.cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # to return to
        self.agent_gone = False
        self._buffer = b""
        self._out = b""

    def handle(self, request: dict[str, Any]) -> None:
        try:
            pid = self._spawn(request)
        except (OSError, ValueError) as e:
            self._send({"id": request.get("id"), "error": str(e)})
            return
        self.children[pid] = request["status_file"]
        self._send({"id": request.get("id"), "pid": pid, "start_time": start_time_of(pid)})

    def _spawn(self, request: dict[str, Any]) -> int:
        argv, env = request["argv"], request["env"]
        # the task's PATH, as a shell would search it (posix_spawnp would use ours)
        executable = argv[0]
        if "/" not in executable:
            found = shutil.which(executable, path=env.get("PATH", os.defpath))
            if found is None:
                raise FileNotFoundError(f"{executable}: not found in the task's PATH")
            executable = found
        sandbox = request["sandbox"]
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        out = os.open(f"{sandbox}/stdout", flags, 0o644)
        try:
            err = os.open(f"{sandbox}/stderr", flags, 0o644)
            try:
                # the child inherits the launcher's cgroups, rlimits and working directory
                # at the spawn: posix_spawn (vfork + exec) has no chdir action of its own
                with _joined(request, self.homes), _working_directory(request["cwd"], self.cwd):
                    pid = os.posix_spawn(
                        executable,
                        argv,
                        env,
                        file_actions=[
                            (os.POSIX_SPAWN_DUP2, self.devnull, 0),
                            (os.POSIX_SPAWN_DUP2, out, 1),
                            (os.POSIX_SPAWN_DUP2, err, 2),
                        ],
                        setpgroup=0,
                        # Python ignores these; tasks expect the defaults
                        setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
                    )
                try:
                    for procs in request.get("cgroup_procs_after") or ():
                        with open(procs, "w") as f:
                            f.write(str(pid))
                except OSError:
                    os.kill(pid, signal.SIGKILL)  # not where it must run: reaped, unreported
                    raise
                return pid
            finally:
                os.close(err)
        finally:
            os.close(out)

    def reap(self) -> None:
        while True:
            try:
                # peek first: the status file is written while the pid still exists, so a
                # pid gone from /proc means its status file is complete
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid == 0:
                return
            pid = info.si_pid
            code = info.si_status if info.si_code == os.CLD_EXITED else 128 + info.si_status
            path = self.children.pop(pid, None)
            if path is not None:
                with contextlib.suppress(OSError), open(path, "w") as f:
                    f.write(f"{code}\n")
            os.waitpid(pid, 0)
            self._send({"exit": pid, "code": code})

    def readable(self) -> None:
        try:
            data = self.channel.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.agent_gone = True
            return
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line:
                self.handle(json.loads(line))

    def _send(self, message: dict[str, Any]) -> None:
        if self.agent_gone:
            return
        self._out += json.dumps(message, separators=(",", ":")).encode() + b"\n"
        self.flush()

    def flush(self) -> None:
        while self._out and not self.agent_gone:
            try:
                sent = self.channel.send(self._out)
            except BlockingIOError:
                return
            except OSError:
                self.agent_gone = True
                return
            self._out = self._out[sent:]


def serve(channel: socket.socket) -> None:
    """The launcher's loop: requests from the agent, SIGCHLD from the children."""
    channel.setblocking(False)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    launcher = _Launcher(channel)
    selector = selectors.DefaultSelector()
    selector.register(channel, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    listening = True
    while True:
        for key, _ in selector.select(timeout=None if not launcher.agent_gone else 1.0):
            if key.fd == wake_r:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
            elif not launcher.agent_gone:
                launcher.readable()
        launcher.reap()
        launcher.flush()
        if launcher.agent_gone and listening:  # (noticed by a read or by a failed send)
            selector.unregister(channel)
            listening = False
        if launcher.agent_gone and not launcher.children:
            return


# --- the agent's side ---------------------------------------------------------------------


class LauncherLost(Exception):
    """The launcher process went away: its children's exits come from their status files."""


class LauncherClient:
    """Starts the launcher on first use and turns its replies into futures."""

    def __init__(self) -> None:
        self._writer: asyncio.StreamWriter | None = None
        self._starting: asyncio.Task[asyncio.StreamWriter] | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._next_id = 0
        self._replies: dict[int, asyncio.Future[tuple[int, int, asyncio.Future[int]]]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}
        self.pid: int | None = None

    async def _start(self) -> asyncio.StreamWriter:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.pid = os.posix_spawn(
                sys.executable,
                [sys.executable, "-m", "mesos_runtime.agent.launcher"],
                dict(os.environ),
                file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 0)],
                setsid=True,
            )
        finally:
            theirs.close()
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))
        return writer

    async def spawn(self, request: dict[str, Any]) -> tuple[int, int, asyncio.Future[int]]:
        """Start a process: its pid, start time and a future of its exit code."""
        if self._writer is None or self._writer.is_closing():
            # one launcher however many spawns arrive while it starts
            if self._starting is None or self._starting.done():
                self._starting = asyncio.get_running_loop().create_task(self._start())
            self._writer = await asyncio.shield(self._starting)
        self._next_id += 1
        request = {**request, "id": self._next_id}
        reply: asyncio.Future[tuple[int, int, asyncio.Future[int]]]
        reply = asyncio.get_running_loop().create_future()
        self._replies[self._next_id] = reply
        self._writer.write(json.dumps(request, separators=(",", ":")).encode() + b"\n")
        return await reply

    async def _read(self, reader: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        try:
            while line := await reader.readline():
                message = json.loads(line)
                if "exit" in message:
                    done = self._exits.pop(message["exit"], None)
                    if done is not None and not done.done():
                        done.set_result(message["code"])
                    continue
                reply = self._replies.pop(message["id"], None)
                if reply is None or reply.done():
                    continue
                if "error" in message:
                    reply.set_exception(OSError(message["error"]))
                else:
                    # the exit may be read before the spawner resumes: it gets the future now
                    exited = self._exits[message["pid"]] = loop.create_future()
                    reply.set_result((message["pid"], message["start_time"], exited))
        finally:
            # the launcher died: whoever waits learns it (and reads the status files)
            pending: list[asyncio.Future[Any]] = [*self._replies.values(), *self._exits.values()]
            for future in pending:
                if not future.done():
                    future.set_exception(LauncherLost())
            self._replies.clear()
            self._exits.clear()
            if self._writer is not None:
                self._writer.close()
            if self.pid is not None:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.pid, os.WNOHANG)

    def close(self) -> None:
        """Let the launcher go (it ends once its children have)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._reader_task is not None:
            self._reader_task.cancel()


if __name__ == "__main__":
    serve(socket.socket(fileno=0))
