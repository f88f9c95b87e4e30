"""The containerizer: the launch wrapper runs shell and argv commands in their sandbox,
reports exit statuses, kills whole process groups, and lets a fresh containerizer (as after
an agent restart) re-attach to a running process and learn how it ended."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from mesos_runtime.agent.containerizer import (
    Containerizer,
    ExitStatus,
    command_argv,
    process_start_time,
)
from mesos_runtime.agent.isolation import PosixIsolator
from mesos_runtime.wire.mesos import CommandInfo
from mesos_runtime.wire.resources import Resources
from tests.harness.daemons import wait_until

ENV = {"PATH": "/usr/bin:/bin"}


@pytest.fixture
def containerizer() -> Containerizer:
    return Containerizer(PosixIsolator())


def _launch(c: Containerizer, tmp_path: Path, command: CommandInfo, name: str = "c"):
    sandbox = tmp_path / name
    sandbox.mkdir(exist_ok=True)
    isolation = c.prepare(name, Resources.parse("cpus:0.1;mem:64"))
    return sandbox, c.launch(
        isolation,
        command_argv(command),
        env={**ENV, "GREETING": "hi"},
        workdir=sandbox,
        sandbox=sandbox,
        status_file=tmp_path / f"{name}.status",
    )


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


async def test_shell_command_runs_in_its_sandbox_with_its_environment(
    containerizer, tmp_path
) -> None:
    sandbox, process = _launch(
        containerizer, tmp_path, CommandInfo(value="echo $GREETING; pwd; echo err >&2; exit 4")
    )
    assert await process.wait() == ExitStatus(code=4)
    assert (sandbox / "stdout").read_text() == f"hi\n{sandbox}\n"
    assert (sandbox / "stderr").read_text() == "err\n"
    assert (tmp_path / "c.status").read_text().strip() == "4"


async def test_argv_command_is_not_interpreted_by_a_shell(containerizer, tmp_path) -> None:
    command = CommandInfo(shell=False, value="/bin/echo", arguments=["echo", "$GREETING", "a b"])
    sandbox, process = _launch(containerizer, tmp_path, command)
    assert (await process.wait()).success
    assert (sandbox / "stdout").read_text() == "$GREETING a b\n"


async def test_sigterm_reaches_every_process_of_the_group(containerizer, tmp_path) -> None:
    sandbox, process = _launch(
        containerizer, tmp_path, CommandInfo(value="sleep 300 & echo $! > child; sleep 300")
    )
    child = int(wait_until(lambda: (sandbox / "child").read_text().strip()))
    process.signal(signal.SIGTERM)
    status = await process.wait()
    assert status == ExitStatus(code=128 + signal.SIGTERM)  # the wrapper outlives its command
    wait_until(lambda: not _alive(child), 10, message="background child terminated")


async def test_a_fresh_containerizer_reattaches_to_a_running_process(
    containerizer, tmp_path
) -> None:
    sandbox, process = _launch(
        containerizer,
        tmp_path,
        CommandInfo(value="while [ ! -f go ]; do sleep 0.05; done; exit 9"),
    )
    checkpoint = process.checkpoint
    assert checkpoint.start_time == process_start_time(process.pid)
    # "the agent died": a new containerizer knows only the checkpoint
    recovered = Containerizer(PosixIsolator()).recover(checkpoint)
    (sandbox / "go").touch()
    assert await recovered.wait() == ExitStatus(code=9)  # read from the status file
    await process.wait()  # reap our own child


async def test_reattaching_to_a_process_that_already_ended(containerizer, tmp_path) -> None:
    _, process = _launch(containerizer, tmp_path, CommandInfo(value="exit 0"))
    await process.wait()
    recovered = Containerizer(PosixIsolator()).recover(process.checkpoint)
    assert await recovered.wait() == ExitStatus(code=0)


async def test_a_reused_pid_is_not_mistaken_for_the_task(containerizer, tmp_path) -> None:
    _, process = _launch(containerizer, tmp_path, CommandInfo(value="sleep 300"), "live")
    stale = process.checkpoint.replace(
        start_time=process.checkpoint.start_time - 1, status_file=str(tmp_path / "none")
    )
    recovered = Containerizer(PosixIsolator()).recover(stale)
    assert await recovered.wait() == ExitStatus()  # gone, status unknown
    process.signal(signal.SIGKILL)
    await process.wait()


async def test_posix_isolation_limits_address_space(containerizer, tmp_path) -> None:
    _, process = _launch(containerizer, tmp_path, CommandInfo(value="ulimit -v"))
    assert (await process.wait()).success
    limit_kb = int((tmp_path / "c" / "stdout").read_text())
    assert limit_kb == max(4 * (64 << 20), (64 << 20) + (1 << 30)) // 1024


def test_command_argv_forms() -> None:
    assert command_argv(CommandInfo(value="echo hi")) == ["/bin/sh", "-c", "echo hi"]
    assert command_argv(CommandInfo(shell=False, value="/bin/ls", arguments=["ls", "-l"])) == [
        "/bin/ls",
        "-l",
    ]
    with pytest.raises(ValueError, match="needs 'value'"):
        command_argv(CommandInfo(shell=False))
