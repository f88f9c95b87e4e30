"""The launcher: tasks exec'd without a shell in between, in their container, with their
exit codes known to the agent and, after the agent is gone, to its status files."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from mesos_runtime.agent.containerizer import Containerizer, command_argv
from mesos_runtime.agent.isolation import CgroupsIsolator, PosixIsolator, create_isolator
from mesos_runtime.wire.mesos import CommandInfo
from mesos_runtime.wire.resources import Resources
from tests.harness.daemons import eventually

ENV = {"PATH": "/usr/bin:/bin"}
ROOT = f"infinity-launcher-{os.getpid()}"


async def _spawn(c: Containerizer, sandbox: Path, argv: list[str], **kw):
    state = c.prepare("c1", Resources.parse("cpus:0.1;mem:64"))
    process = await c.spawn(
        state,
        argv,
        env=kw.pop("env", ENV),
        workdir=kw.pop("workdir", sandbox),
        sandbox=sandbox,
        status_file=sandbox / "status",
    )
    return state, process


async def test_command_runs_directly_with_its_sandbox_and_exit_code(tmp_path: Path) -> None:
    c = Containerizer(PosixIsolator())
    flag = tmp_path / "go"
    script = (
        f"while [ ! -e {flag} ]; do sleep 0.02; done; "
        "echo out; echo err >&2; pwd; ulimit -v; exit 3"
    )
    _, process = await _spawn(c, tmp_path, command_argv(CommandInfo(value=script)))
    # the task's parent is the launcher, not a shell wrapper
    parent = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    assert int(parent) == c.launcher.pid
    flag.touch()
    status = await process.wait()
    assert status.code == 3
    out = (tmp_path / "stdout").read_text().splitlines()
    assert out[:2] == ["out", str(tmp_path)]
    assert int(out[2]) > 0  # RLIMIT_AS from posix isolation ("unlimited" without)
    assert (tmp_path / "stderr").read_text() == "err\n"
    assert (tmp_path / "status").read_text().strip() == "3"
    c.launcher.close()


async def test_missing_executable_or_workdir_fails_the_spawn_by_name(tmp_path: Path) -> None:
    c = Containerizer(PosixIsolator())
    with pytest.raises(OSError, match="/nonexistent/tool"):
        await _spawn(c, tmp_path, ["/nonexistent/tool", "x"])
    with pytest.raises(OSError, match="gone"):
        await _spawn(c, tmp_path, ["true"], workdir=tmp_path / "gone")
    # the launcher goes on
    _, process = await _spawn(c, tmp_path, ["true"])
    assert (await process.wait()).code == 0
    c.launcher.close()


async def test_signal_death_is_reported_as_128_plus_the_signal(tmp_path: Path) -> None:
    c = Containerizer(PosixIsolator())
    _, process = await _spawn(c, tmp_path, ["sleep", "30"])
    process.signal(signal.SIGTERM)  # the default disposition, not the launcher's SIG_IGN
    assert (await process.wait()).code == 128 + signal.SIGTERM
    c.launcher.close()


async def test_exit_code_survives_the_agent_going_away(tmp_path: Path) -> None:
    """The agent's end of the launcher closed (as when the agent dies): the launcher lives
    on, writes the exit code, and a new containerizer re-attaches to the process."""
    c = Containerizer(PosixIsolator())
    flag = tmp_path / "go"
    _, process = await _spawn(
        c, tmp_path, ["/bin/sh", "-c", f"while [ ! -e {flag} ]; do sleep 0.05; done; exit 7"]
    )
    launcher = c.launcher.pid
    assert launcher is not None
    c.launcher.close()
    await asyncio.sleep(0)
    recovered = Containerizer(PosixIsolator()).recover(process.checkpoint)
    flag.touch()
    assert (await recovered.wait()).code == 7
    # with no agent and no child left, the launcher ends
    await eventually(lambda: _gone(launcher), 10, message="the launcher exits")


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not Path(f"/proc/{pid}").exists()
    return (
        not Path(f"/proc/{pid}").exists()
        or Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    )


@pytest.mark.skipif(not CgroupsIsolator.available(ROOT), reason="cgroup v1 not writable")
async def test_spawned_process_joins_its_cgroups_and_an_oom_is_a_limitation(tmp_path: Path) -> None:
    isolator = create_isolator("cgroups/cpu,cgroups/mem", ROOT)
    assert isinstance(isolator, CgroupsIsolator)
    c = Containerizer(isolator)
    # (the cpu cgroup is joined just after the exec: the memory one before it)
    hog = (
        f"sleep 0.1; cat /proc/self/cgroup > cgroups; "
        f"{sys.executable} -c 'x = bytearray(300 << 20)'"
    )
    state = c.prepare("hog", Resources.parse("cpus:0.1;mem:48"))
    try:
        process = await c.spawn(
            state,
            command_argv(CommandInfo(value=hog)),
            env=ENV,
            workdir=tmp_path,
            sandbox=tmp_path,
            status_file=tmp_path / "status",
        )
        status = await process.wait()
        assert not status.success
        memberships = (tmp_path / "cgroups").read_text()
        assert f"/{ROOT}/hog" in memberships  # in both the cpu and the memory hierarchy
        assert memberships.count(f"/{ROOT}/hog") == 2
        limitation = c.limitation(state)
        assert limitation is not None and "Requested: 48MB" in limitation.message
    finally:
        await c.destroy(state)
        c.launcher.close()
        for root in (isolator.cpu_root, isolator.memory_root):
            if root is not None:
                root.rmdir()
