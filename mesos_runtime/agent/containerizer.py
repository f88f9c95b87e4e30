"""The containerizer: starts a container's processes so that they outlive the agent, waits
for them, re-attaches to them after an agent restart, and kills whole process groups.

`spawn` hands the process to the agent's launcher (see `launcher`): forked there in its
own session (its process group is the unit we signal), it joins the container's isolation
and execs the command; the launcher reports its exit and writes it to a status file. A
restarted agent re-attaches to the checkpointed pid (checked against the process start time
in /proc), is woken by a pidfd when it exits and reads the status file.

`launch` (synchronous, for callers without an event loop) uses the older way: a tiny
`/bin/sh` wrapper that joins the isolation, traps TERM/INT (a trapped disposition resets to
default in the child on exec, and sh runs the trap only after its foreground command ends),
runs the command in the foreground, then writes the exit status to a file and exits with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from mesos_runtime.wire.mesos import CommandInfo, HealthCheck
from mesos_runtime.wire.record import Record, record, required
from mesos_runtime.wire.resources import Resources

from .isolation import IsolationState, Isolator, Limitation, isolator_for
from .launcher import LauncherClient, LauncherLost
from .users import TaskUser

# $1: status file, $2: working directory, $3: sandbox (stdout/stderr), the rest: the argv.
# stdout/stderr are opened here rather than as spawn file actions: the agent is blocked
# until the child execs, and creating files is the slow part of that on a busy disk
_WRAPPER = """f=$1; d=$2; o=$3; shift 3
command exec >>"$o/stdout" 2>>"$o/stderr" || {{ echo 125 > "$f"; exit 125; }}
{prelude}cd "$d" || {{ echo 126 > "$f"; exit 126; }}
trap : TERM INT
"$@"
s=$?
echo $s > "$f"
exit $s
"""


@record
class ProcessCheckpoint(Record):
    """What identifies a launched process across agent restarts."""

    pid: int = required()
    start_time: int = required()  # field 22 of /proc/<pid>/stat, in clock ticks since boot
    status_file: str = required()


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a container process ended: an exit code as the shell reports it (128+N when its
    command died of signal N), a signal when the wrapper itself was killed, or neither when
    a re-attached process vanished without writing its status."""

    code: int | None = None
    signal: int | None = None

    @property
    def success(self) -> bool:
        return self.code == 0

    def describe(self) -> str:
        if self.code is not None:
            return f"Command exited with status {self.code}"
        if self.signal is not None:
            return f"Command terminated with signal {signal.Signals(self.signal).name}"
        return "Command exited with an unknown status"


def command_argv(command: CommandInfo) -> list[str]:
    """Shell form (`shell` true or absent): `value` run by /bin/sh -c. Argv form: `value` is
    the executable, `arguments` its argv (argv[0] is replaced by `value`)."""
    if command.shell is False:
        if not command.value:
            raise ValueError("CommandInfo with shell=false needs 'value' (the executable)")
        return [command.value, *command.arguments[1:]]
    if command.value is None:
        raise ValueError("CommandInfo needs 'value'")
    return ["/bin/sh", "-c", command.value]


def process_start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])  # field 22 overall


class ContainerProcess:
    """One running (or re-attached) wrapper process, the leader of its process group."""

    def __init__(self, checkpoint: ProcessCheckpoint, *, is_child: bool) -> None:
        self.checkpoint = checkpoint
        self.is_child = is_child
        self._exit: asyncio.Future[ExitStatus] | None = None
        self.launched: asyncio.Future[int] | None = None  # its exit code, from the launcher

    @property
    def pid(self) -> int:
        return self.checkpoint.pid

    def signal(self, sig: int) -> None:
        """Signal the whole process group (the task and everything it forked)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def wait(self) -> ExitStatus:
        if self._exit is None:
            self._exit = asyncio.get_running_loop().create_future()
            self._watch(self._exit)
        return await asyncio.shield(self._exit)

    def _watch(self, done: asyncio.Future[ExitStatus]) -> None:
        if self.launched is not None:
            launched = self.launched
            self.launched = None

            def landed(f: asyncio.Future[int]) -> None:
                if done.done():
                    return
                if f.cancelled() or isinstance(f.exception(), LauncherLost):
                    self._watch(done)  # the launcher is gone: pidfd and status file
                elif (error := f.exception()) is not None:
                    done.set_exception(error)
                else:
                    done.set_result(ExitStatus(code=f.result()))

            launched.add_done_callback(landed)
            return
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            done.set_result(self._reap())
            return

        def on_exit() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            if self.is_child:
                if not done.done():
                    done.set_result(self._reap())
            else:
                self._from_status_file(done)

        if not self.is_child and process_start_time(self.pid) != self.checkpoint.start_time:
            os.close(pidfd)  # the pid was reused: our process is long gone
            done.set_result(self._reap())
            return
        loop.add_reader(pidfd, on_exit)

    def _from_status_file(self, done: asyncio.Future[ExitStatus], tries: int = 0) -> None:
        """A non-child's exit: its launcher writes the status file before it reaps the
        process, so while the pid still names our (zombie) process the file may be due."""
        if done.done():
            return
        # in this order: once the pid is gone, a launcher has written the file (if any will)
        alive = process_start_time(self.pid) == self.checkpoint.start_time
        status = self._read_status_file()
        if status.code is None and alive and tries < 300:
            asyncio.get_running_loop().call_later(0.01, self._from_status_file, done, tries + 1)
            return
        done.set_result(status)

    def _reap(self) -> ExitStatus:
        if self.is_child:
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                return self._read_status_file()
            if os.WIFSIGNALED(status):
                return ExitStatus(signal=os.WTERMSIG(status))
            return ExitStatus(code=os.WEXITSTATUS(status))
        return self._read_status_file()

    def _read_status_file(self) -> ExitStatus:
        try:
            return ExitStatus(code=int(Path(self.checkpoint.status_file).read_text().strip()))
        except (OSError, ValueError):
            return ExitStatus()


class Containerizer:
    """Creates containers (isolation), launches and recovers their processes, destroys them."""

    def __init__(self, isolator: Isolator, launcher: LauncherClient | None = None) -> None:
        self.isolator = isolator
        self.launcher = launcher or LauncherClient()  # started on the first spawn

    def command_argv(self, command: CommandInfo) -> list[str]:
        """The argv a task's CommandInfo runs as (the docker containerizer builds its own)."""
        return command_argv(command)

    def health_check(self, check: HealthCheck) -> HealthCheck:
        """The check as the agent runs it (the docker containerizer runs COMMAND checks
        inside the container)."""
        return check

    def prepare(self, container_id: str, resources: Resources) -> IsolationState:
        return self.isolator.prepare(container_id, resources)

    def update(self, state: IsolationState, resources: Resources) -> IsolationState:
        return isolator_for(state, self.isolator).update(state, resources)

    def launch(
        self,
        isolation: IsolationState,
        argv: list[str],
        *,
        env: dict[str, str],
        workdir: Path,
        sandbox: Path,
        status_file: Path,
        user: TaskUser | None = None,
    ) -> ContainerProcess:
        """Start `argv` in the container; its stdout/stderr go to `sandbox`. With `user`,
        the command runs as that user (the launcher itself stays root: it joins the
        cgroups and writes the exit status into the agent's checkpoint)."""
        if user is not None:
            argv = [*user.switch_argv(), *argv]
        prelude = "".join(
            f'{cmd} || {{ echo 125 > "$f"; exit 125; }}\n'
            for cmd in isolator_for(isolation, self.isolator).prelude(isolation)
        )
        script = _WRAPPER.format(prelude=prelude)
        wrapper = ["sh", "-c", script, "mesos-launcher", str(status_file), str(workdir)]
        pid = os.posix_spawn(
            "/bin/sh",
            [*wrapper, str(sandbox), *argv],
            env,
            file_actions=[(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0)],
            setsid=True,
            # Python ignores SIGPIPE and SIGXFSZ; tasks expect the default dispositions
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        )
        # what tells this process from a later one with the same pid after an agent restart
        start_time = process_start_time(pid) or 0
        return ContainerProcess(
            ProcessCheckpoint(pid=pid, start_time=start_time, status_file=str(status_file)),
            is_child=True,
        )

    async def spawn(
        self,
        isolation: IsolationState,
        argv: list[str],
        *,
        env: dict[str, str],
        workdir: Path,
        sandbox: Path,
        status_file: Path,
        user: TaskUser | None = None,
    ) -> ContainerProcess:
        """Start `argv` in the container through the launcher (no shell in between); its
        stdout/stderr go to `sandbox`. With `user`, the command runs as that user (the
        launcher stays root: it joins the cgroups and writes the exit status)."""
        for arg in argv:
            if "\0" in arg:
                raise ValueError("embedded null byte in the command")
        for name, value in env.items():
            if "=" in name or "\0" in name or "\0" in value or not name:
                raise ValueError(f"illegal environment variable name {name!r}")
        if user is not None:
            argv = [*user.switch_argv(), *argv]
        spec = isolator_for(isolation, self.isolator).launch_spec(isolation)
        try:
            pid, start_time, exit_code = await self.launcher.spawn(
                {
                    "argv": argv,
                    "env": env,
                    "cwd": str(workdir),
                    "sandbox": str(sandbox),
                    "status_file": str(status_file),
                    "cgroup_procs": list(spec.cgroup_procs),
                    "cgroup_procs_after": list(spec.cgroup_procs_after),
                    "rlimit_as": spec.rlimit_as,
                }
            )
        except LauncherLost as e:
            raise OSError("the launcher process ended") from e
        process = ContainerProcess(
            ProcessCheckpoint(pid=pid, start_time=start_time, status_file=str(status_file)),
            is_child=False,
        )
        process.launched = exit_code
        return process

    def recover(self, checkpoint: ProcessCheckpoint) -> ContainerProcess:
        """Re-attach to a process launched by an earlier agent; `wait()` works as usual (it
        returns at once, with the status file's code, when the process is already gone)."""
        return ContainerProcess(checkpoint, is_child=False)

    def limitation(self, isolation: IsolationState) -> Limitation | None:
        return isolator_for(isolation, self.isolator).limitation(isolation)

    def watch_oom(self, isolation: IsolationState) -> int | None:
        return isolator_for(isolation, self.isolator).watch_oom(isolation)

    def kill_all(self, isolation: IsolationState, sig: int = signal.SIGKILL) -> None:
        """Signal every process in the container, also those that left its process groups."""
        for pid in isolator_for(isolation, self.isolator).pids(isolation):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    async def destroy(self, isolation: IsolationState) -> None:
        await isolator_for(isolation, self.isolator).cleanup(isolation)
