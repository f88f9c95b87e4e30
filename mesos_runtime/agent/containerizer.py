"""The containerizer: starts a container's processes so that they outlive the agent, waits
for them, re-attaches to them after an agent restart, and kills whole process groups.

Each process is a tiny `/bin/sh` wrapper in its own session (so its process group is the
unit we signal) that joins the container's isolation (cgroups or rlimits), traps TERM/INT
(a trapped disposition resets to default in the child on exec, and sh runs the trap only
after its foreground command ends), runs the command in the foreground, then writes the
exit status to a file and exits with it. While the agent lives it waits on the child
through a pidfd; a restarted agent re-attaches to the checkpointed pid (checked against the
process start time in /proc), is woken by a pidfd when it exits and reads the status file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from dataclasses import dataclass
from pathlib import Path

from mesos_runtime.wire.mesos import CommandInfo
from mesos_runtime.wire.record import Record, record, required
from mesos_runtime.wire.resources import Resources

from .isolation import IsolationState, Isolator, Limitation, isolator_for
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
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            done.set_result(self._reap())
            return

        def on_exit() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            if not done.done():
                done.set_result(self._reap())

        if not self.is_child and process_start_time(self.pid) != self.checkpoint.start_time:
            os.close(pidfd)  # the pid was reused: our process is long gone
            done.set_result(self._reap())
            return
        loop.add_reader(pidfd, on_exit)

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

    def __init__(self, isolator: Isolator) -> None:
        self.isolator = isolator

    def command_argv(self, command: CommandInfo) -> list[str]:
        """The argv a task's CommandInfo runs as (the docker containerizer builds its own)."""
        return command_argv(command)

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
        """`launch` for coroutines. It runs inline: vfork blocks only until the child has
        exec'd, and a worker thread measured slower (GIL hand-offs around every syscall)."""
        return self.launch(
            isolation,
            argv,
            env=env,
            workdir=workdir,
            sandbox=sandbox,
            status_file=status_file,
            user=user,
        )

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


def describe_argv(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)
