"""cgroups v1 isolation: limits written from the container's resources, processes placed in
the container's cgroups, an OOM kill reported as a memory limitation, cgroups removed when
the container is destroyed. Skipped where the cgroup v1 hierarchies are not writable."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesos_runtime.agent.containerizer import Containerizer, command_argv
from mesos_runtime.agent.isolation import CgroupsIsolator, PosixIsolator, create_isolator
from mesos_runtime.wire.mesos import CommandInfo
from mesos_runtime.wire.resources import Resources

ROOT = f"infinity-unit-{os.getpid()}"

needs_cgroups = pytest.mark.skipif(
    not CgroupsIsolator.available(ROOT), reason="cgroup v1 cpu/memory not writable"
)


@pytest.fixture
def isolator() -> Iterator[CgroupsIsolator]:
    iso = CgroupsIsolator(ROOT)
    try:
        yield iso
    finally:
        for root in (iso.cpu_root, iso.memory_root):
            if root is not None:
                for child in root.glob("*/"):
                    child.rmdir()
                root.rmdir()


@needs_cgroups
def test_limits_are_written_from_resources(isolator) -> None:
    state = isolator.prepare("c1", Resources.parse("cpus:0.5;mem:128"))
    assert Path(state.cpu_cgroup, "cpu.shares").read_text().strip() == "512"
    assert Path(state.memory_cgroup, "memory.limit_in_bytes").read_text().strip() == str(128 << 20)
    state = isolator.update(state, Resources.parse("cpus:2;mem:256"))
    assert Path(state.cpu_cgroup, "cpu.shares").read_text().strip() == "2048"
    assert Path(state.memory_cgroup, "memory.limit_in_bytes").read_text().strip() == str(256 << 20)
    asyncio.run(isolator.cleanup(state))
    assert not Path(state.cpu_cgroup).exists() and not Path(state.memory_cgroup).exists()


@needs_cgroups
async def test_memory_hog_is_oom_killed_and_reported(isolator, tmp_path) -> None:
    containerizer = Containerizer(isolator)
    state = containerizer.prepare("hog", Resources.parse("cpus:0.1;mem:48"))
    hog = f"cat /proc/self/cgroup > cgroups; {sys.executable} -c 'x = bytearray(300 << 20)'"
    process = containerizer.launch(
        state,
        command_argv(CommandInfo(value=hog)),
        env={"PATH": "/usr/bin:/bin"},
        workdir=tmp_path,
        sandbox=tmp_path,
        status_file=tmp_path / "status",
    )
    status = await process.wait()
    assert not status.success
    memberships = (tmp_path / "cgroups").read_text()
    assert f"/{ROOT}/hog" in memberships
    limitation = containerizer.limitation(state)
    assert limitation is not None and limitation.resource == "mem"
    assert "Memory limit exceeded: Requested: 48MB" in limitation.message
    await containerizer.destroy(state)
    assert not Path(state.memory_cgroup).exists()


def test_isolation_flag_selects_the_isolator() -> None:
    assert isinstance(create_isolator("posix/cpu,posix/mem", ROOT), PosixIsolator)
    with pytest.raises(ValueError, match="unknown isolator"):
        create_isolator("gpu/nvidia", ROOT)
