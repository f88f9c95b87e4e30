"""cgroup v2 isolation and the choice of hierarchy.

This build machine boots cgroup v1 (hybrid: its cgroup2 mount at /sys/fs/cgroup/unified
has no cpu or memory controller), so the kernel cannot enforce v2 limits here. These tests
check the detection on this host for real and on synthetic mount tables, and the v2 file
writes, delegation and OOM handling against a directory laid out like a cgroup2 tree (a
stand-in for the kernel's files: each test says what the kernel would do)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mesos_runtime.agent.cgroup_hierarchy import detect, detect_host, parse_mounts
from mesos_runtime.agent.cgroups_v2 import CgroupsV2Isolator, cpu_weight, delegate
from mesos_runtime.agent.containerizer import Containerizer
from mesos_runtime.agent.flags import AgentFlags
from mesos_runtime.agent.isolation import CgroupsIsolator, PosixIsolator, create_isolator
from mesos_runtime.agent.main import build_agent
from mesos_runtime.wire.agent_channel import AgentEvent, AgentEventType, AgentUpdate, RunTask
from mesos_runtime.wire.flags import FlagError, parse_flags
from mesos_runtime.wire.mesos import (
    AgentID,
    CommandInfo,
    FrameworkID,
    FrameworkInfo,
    StatusReason,
    TaskID,
    TaskInfo,
    TaskState,
)
from mesos_runtime.wire.resources import Resources
from tests.harness.daemons import eventually

UNIFIED = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n"
HYBRID = (
    "tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0\n"
    "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n"
    "cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,xattr,name=systemd 0 0\n"
    "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0\n"
    "cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0\n"
)


def _controllers(text: str):
    return lambda path: text if path.name == "cgroup.controllers" else None


def test_unified_hierarchy_with_cpu_and_memory_is_v2() -> None:
    h = detect(parse_mounts(UNIFIED), read=_controllers("cpuset cpu io memory hugetlb pids\n"))
    assert h.version == "v2"
    assert h.mount == Path("/sys/fs/cgroup")
    assert {"cpu", "memory", "pids"} <= h.controllers


def test_unified_hierarchy_without_memory_is_no_cgroups_and_says_why() -> None:
    h = detect(parse_mounts(UNIFIED), read=_controllers("cpu io pids\n"))
    assert h.version == "none"
    assert "lacks memory" in h.reason


def test_hybrid_host_is_v1_and_names_the_empty_unified_mount() -> None:
    h = detect(parse_mounts(HYBRID), read=_controllers("hugetlb\n"))
    assert h.version == "v1"
    assert "/sys/fs/cgroup/unified has controllers: hugetlb" in h.reason


def test_no_cgroup_mounts_is_none() -> None:
    h = detect(parse_mounts("proc /proc proc rw 0 0\n"), read=_controllers(""))
    assert h.version == "none"
    assert "cpu, memory" in h.reason


def test_this_hosts_hierarchy_is_detected_from_its_mounts() -> None:
    """Checked against `stat -f` (the filesystem type of /sys/fs/cgroup) and the files."""
    fstype = subprocess.run(
        ["stat", "-f", "-c", "%T", "/sys/fs/cgroup"], capture_output=True, text=True, check=True
    ).stdout.strip()
    h = detect_host()
    if fstype == "cgroup2fs":
        offered = Path("/sys/fs/cgroup/cgroup.controllers").read_text().split()
        expected = "v2" if {"cpu", "memory"} <= set(offered) else "none"
    else:
        v1 = (
            Path("/sys/fs/cgroup/cpu/cgroup.procs").exists()
            and Path("/sys/fs/cgroup/memory/cgroup.procs").exists()
        )
        expected = "v1" if v1 else "none"
    assert h.version == expected, h.reason
    isolator = create_isolator(None, f"infinity-unit-{os.getpid()}", hierarchy=h)
    try:
        # the agent uses what it detected, or posix when it may not write there
        assert isolator.kind in {"v2": {"cgroups2", "posix"}, "v1": {"cgroups", "posix"}}.get(
            expected, {"posix"}
        )
    finally:
        if isinstance(isolator, CgroupsIsolator):
            for root in (isolator.cpu_root, isolator.memory_root):
                if root is not None:
                    root.rmdir()


def _fake_cgroup2(path: Path, controllers: str = "cpuset cpu io memory pids") -> Path:
    """A directory shaped like a cgroup2 mount (the kernel would fill new cgroups' files)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "cgroup.controllers").write_text(controllers + "\n")
    (path / "cgroup.subtree_control").write_text("")
    (path / "cgroup.procs").write_text("")
    return path


def test_v2_limits_are_written_from_resources(tmp_path: Path) -> None:
    isolator = CgroupsV2Isolator(tmp_path, cfs=True, pids_max=512)
    state = isolator.prepare("c1", Resources.parse("cpus:0.5;mem:128"))
    cgroup = Path(state.cgroup or "")
    assert cgroup == tmp_path / "c1"
    assert (cgroup / "cpu.weight").read_text() == str(cpu_weight(0.5))
    assert (cgroup / "cpu.max").read_text() == "50000 100000"
    assert (cgroup / "memory.max").read_text() == str(128 << 20)
    assert (cgroup / "memory.swap.max").read_text() == "0"
    assert (cgroup / "pids.max").read_text() == "512"
    state = isolator.update(state, Resources.parse("cpus:2;mem:256"))
    assert (cgroup / "cpu.max").read_text() == "200000 100000"
    assert (cgroup / "memory.max").read_text() == str(256 << 20)
    assert isolator.prelude(state) == [f"echo $$ > {cgroup}/cgroup.procs"]


def test_cpu_weight_follows_the_oci_mapping_of_shares() -> None:
    # 2 shares (the v1 minimum) -> weight 1; 262144 shares (the v1 maximum) -> 10000
    assert cpu_weight(0.001) == 1
    assert cpu_weight(256) == 10000
    assert cpu_weight(1) < cpu_weight(2) < cpu_weight(4)


def test_cfs_off_leaves_cpu_max_alone(tmp_path: Path) -> None:
    state = CgroupsV2Isolator(tmp_path).prepare("c1", Resources.parse("cpus:1;mem:64"))
    assert not Path(state.cgroup or "", "cpu.max").exists()


def test_agent_outside_the_root_moves_into_its_leaf_and_delegates(tmp_path: Path) -> None:
    mount = _fake_cgroup2(tmp_path / "fs")
    base = _fake_cgroup2(mount / "agent.service")
    delegate(base, base / "mesos", is_mount_root=False)
    assert (base / "mesos" / "agent" / "cgroup.procs").read_text() == str(os.getpid())
    assert (base / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (base / "mesos" / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"


def test_delegation_without_memory_refuses_with_what_to_change(tmp_path: Path) -> None:
    base = _fake_cgroup2(tmp_path / "fs", controllers="cpu io")
    with pytest.raises(OSError, match=r"not delegated the memory controller.*Delegate=yes"):
        delegate(base, base / "mesos", is_mount_root=True)


def test_auto_isolation_on_a_v2_host_uses_cgroups2(tmp_path: Path) -> None:
    mount = _fake_cgroup2(tmp_path / "fs")
    own = Path("/proc/self/cgroup").read_text()
    own_v2 = next(line.split(":", 2)[2] for line in own.splitlines() if line.startswith("0:"))
    if own_v2 != "/":
        pytest.skip(f"this process is in v2 cgroup {own_v2}, not the root")
    h = detect(parse_mounts(UNIFIED.replace("/sys/fs/cgroup", str(mount))), mount_point=mount)
    isolator = create_isolator(None, "mesos", hierarchy=h)
    assert isinstance(isolator, CgroupsV2Isolator)
    assert isolator.root == mount / "mesos"
    assert isolator.hierarchy.version == "v2"


def test_cgroups_asked_for_on_a_host_without_them_is_refused_by_name() -> None:
    h = detect(parse_mounts("proc /proc proc rw 0 0\n"), read=_controllers(""))
    with pytest.raises(ValueError, match=r"--isolation asks for cgroups but .*posix/cpu"):
        create_isolator("cgroups/cpu,cgroups/mem", "mesos", hierarchy=h)
    fallback = create_isolator(None, "mesos", hierarchy=h)
    assert isinstance(fallback, PosixIsolator)
    assert fallback.hierarchy.version == "none" and "no cgroup2" in fallback.hierarchy.reason


def test_negative_pids_max_is_refused_by_name(tmp_path: Path) -> None:
    flags = parse_flags(AgentFlags, [f"--work_dir={tmp_path}", "--cgroups_pids_max=-1"], environ={})
    with pytest.raises(FlagError, match="--cgroups_pids_max"):
        build_agent(flags)


def test_oom_kill_in_memory_events_is_a_memory_limitation(tmp_path: Path) -> None:
    isolator = CgroupsV2Isolator(tmp_path)
    state = isolator.prepare("c1", Resources.parse("cpus:1;mem:64"))
    cgroup = Path(state.cgroup or "")
    (cgroup / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    assert isolator.limitation(state) is None
    fd = isolator.watch_oom(state)
    assert fd is not None
    try:
        (cgroup / "memory.peak").write_text(str(64 << 20))
        (cgroup / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n")
        assert os.read(fd, 4096)  # the watch fired (the kernel notifies just so)
    finally:
        os.close(fd)
    limitation = isolator.limitation(state)
    assert limitation is not None and limitation.resource == "mem"
    assert limitation.message == "Memory limit exceeded: Requested: 64MB Maximum Used: 64MB"


async def test_agent_reports_a_v2_oom_kill_as_task_failed_memory_limitation(
    tmp_path: Path,
) -> None:
    """The real agent in-process with the v2 isolator on the stand-in tree: the command
    plays the kernel (records an oom_kill, is SIGKILLed)."""
    root = tmp_path / "cgroup"
    root.mkdir()
    flags = parse_flags(
        AgentFlags,
        [
            f"--work_dir={tmp_path / 'work'}",
            "--isolation=posix/cpu,posix/mem",
            "--resources=cpus:2;mem:512",
        ],
        environ={},
    )
    agent = build_agent(flags)
    agent.containerizer = Containerizer(CgroupsV2Isolator(root))
    agent.info = agent.info.replace(id=AgentID(value="a1"))
    sent: list[AgentUpdate] = []
    agent.send_update = sent.append
    agent.status_updates.resume()
    framework = FrameworkInfo(user="root", name="f", id=FrameworkID(value="f1"))
    oom = (
        f'for d in {root}/*/; do printf "oom 1\\noom_kill 1\\n" > "$d/memory.events"; done; '
        "kill -9 $$"
    )
    task = TaskInfo(
        name="t",
        task_id=TaskID(value="t1"),
        agent_id=AgentID(value="a1"),
        resources=Resources.parse("cpus:0.5;mem:64").to_wire(),
        command=CommandInfo(value=oom),
    )
    try:
        agent.handle_event(
            AgentEvent(
                type=AgentEventType.RUN_TASK,
                run_task=RunTask(framework_info=framework, task=task),
            )
        )

        def terminal() -> AgentUpdate | None:
            for u in sent:
                assert u.status.uuid is not None
                agent.acknowledge(u.framework_id, u.status.task_id.value, u.status.uuid)
            return next((u for u in sent if u.status.state.is_terminal), None)

        update = await eventually(terminal, 10, message="a terminal update")
        assert update.status.state is TaskState.TASK_FAILED
        reason = StatusReason.REASON_CONTAINER_LIMITATION_MEMORY
        assert update.status.reason is reason, update.status.message
        assert "Memory limit exceeded: Requested: 64MB" in (update.status.message or "")
        (cgroup,) = [d for d in root.iterdir() if d.is_dir()]
        assert (cgroup / "memory.max").read_text() == str(64 << 20)
        assert (cgroup / "cgroup.procs").read_text() == "0"  # the process wrote itself in
    finally:
        agent.detach()
        await agent.fetcher.close()
