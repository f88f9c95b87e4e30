"""cgroup v2 isolation (the unified hierarchy): one cgroup per container with `cpu.weight`
(from the v1 shares of its cpus), `cpu.max` when CPU limits are on, `memory.max`,
`pids.max`; an OOM kill read from `memory.events`.

Delegation follows Mesos' cgroups2 layout: containers are leaves of `<base>/<cgroups_root>`
and the agent itself lives in the leaf `<base>/<cgroups_root>/agent`, because v2 forbids
processes in a cgroup that hands controllers to its children ("no internal processes").
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
from pathlib import Path

from mesos_runtime.wire.resources import Resources

from .cgroup_hierarchy import CgroupHierarchy, own_cgroup_v2
from .isolation import (
    CPU_SHARES_PER_CPU,
    MB,
    MIN_CPU_SHARES,
    IsolationState,
    Isolator,
    LaunchSpec,
    Limitation,
    _limits,
    _read_int,
    _write,
)

log = logging.getLogger(__name__)

CFS_PERIOD_US = 100_000  # Mesos' CPU_CFS_PERIOD
MIN_CFS_QUOTA_US = 1_000  # Mesos' MIN_CPU_CFS_QUOTA
AGENT_LEAF = "agent"
_IN_MODIFY = 0x2
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC


def cpu_weight(cpus: float) -> int:
    """v1 shares (1024 per cpu) mapped onto v2 weights [1, 10000] as runc and crun do."""
    shares = max(int(CPU_SHARES_PER_CPU * cpus), MIN_CPU_SHARES)
    return min(1 + ((shares - 2) * 9999) // 262142, 10000)


def cpu_max(cpus: float) -> str:
    quota = max(int(CFS_PERIOD_US * cpus), MIN_CFS_QUOTA_US)
    return f"{quota} {CFS_PERIOD_US}"


class CgroupsV2Isolator(Isolator):
    """Containers' cgroups are created under `root`, whose `cgroup.subtree_control` must
    already hand out the controllers (`on_host` arranges that on a real hierarchy)."""

    kind = "cgroups2"

    def __init__(
        self,
        root: Path,
        *,
        cpu: bool = True,
        mem: bool = True,
        cfs: bool = False,
        pids_max: int = 0,
        hierarchy: CgroupHierarchy | None = None,
    ) -> None:
        self.root = root
        self.cpu = cpu
        self.mem = mem
        self.cfs = cfs
        self.pids_max = pids_max
        if hierarchy is not None:
            self.hierarchy = hierarchy

    @classmethod
    def on_host(
        cls, hierarchy: CgroupHierarchy, cgroups_root: str = "mesos", **options: object
    ) -> CgroupsV2Isolator:
        """Set up delegation under this process's own cgroup; OSError saying what is wrong
        when the hierarchy is not ours to manage."""
        assert hierarchy.mount is not None
        own = hierarchy.mount / own_cgroup_v2(Path("/proc/self/cgroup").read_text()).lstrip("/")
        base = (
            own.parent.parent if own.name == AGENT_LEAF and own.parent.name == cgroups_root else own
        )
        root = base / cgroups_root
        delegate(base, root, is_mount_root=base == hierarchy.mount)
        return cls(root, hierarchy=hierarchy, **options)  # type: ignore[arg-type]

    def plan(self, container_id: str, resources: Resources) -> IsolationState:
        cpus, mem = _limits(resources)
        return IsolationState(
            kind=self.kind, cgroup=str(self.root / container_id), cpus=cpus, mem_bytes=mem
        )

    def create(self, state: IsolationState) -> None:
        assert state.cgroup is not None
        with contextlib.suppress(FileExistsError):
            os.mkdir(state.cgroup)
        self._write_limits(state, fresh=True)

    def update(self, state: IsolationState, resources: Resources) -> IsolationState:
        cpus, mem = _limits(resources)
        state = state.replace(cpus=cpus, mem_bytes=mem)
        self._write_limits(state)
        return state

    def _write_limits(self, state: IsolationState, *, fresh: bool = False) -> None:
        """`fresh`: a new cgroup, whose limits are all `max` already."""
        cgroup = Path(state.cgroup or "")
        if self.cpu and state.cpus is not None:
            _write(cgroup / "cpu.weight", str(cpu_weight(state.cpus)))
            if self.cfs:
                _write(cgroup / "cpu.max", cpu_max(state.cpus))
        if self.mem and state.mem_bytes:
            _write(cgroup / "memory.max", str(state.mem_bytes))
            if fresh:
                # as v1's memsw limit: the container may not spill into swap
                with contextlib.suppress(OSError):
                    _write(cgroup / "memory.swap.max", "0")
        if self.pids_max > 0 or not fresh:
            with contextlib.suppress(OSError):  # the pids controller is optional
                _write(cgroup / "pids.max", str(self.pids_max) if self.pids_max > 0 else "max")

    def launch_spec(self, state: IsolationState) -> LaunchSpec:
        return LaunchSpec((f"{state.cgroup}/cgroup.procs",) if state.cgroup else ())

    def pids(self, state: IsolationState) -> list[int]:
        if not state.cgroup:
            return []
        with contextlib.suppress(OSError, ValueError):
            return sorted(int(p) for p in (Path(state.cgroup) / "cgroup.procs").read_text().split())
        return []

    def limitation(self, state: IsolationState) -> Limitation | None:
        if not state.cgroup:
            return None
        cgroup = Path(state.cgroup)
        events = memory_events(cgroup)
        if events.get("oom_kill", 0) == 0:
            return None
        # memory.peak exists from Linux 5.19; memory.current is the next best thing
        used = _read_int(cgroup / "memory.peak") or _read_int(cgroup / "memory.current") or 0
        return Limitation(
            "mem",
            f"Memory limit exceeded: Requested: {(state.mem_bytes or 0) // MB}MB "
            f"Maximum Used: {used // MB}MB",
        )

    def watch_oom(self, state: IsolationState) -> int | None:
        """An inotify descriptor that becomes readable when `memory.events` changes (the
        kernel signals every change of that file as a modification)."""
        if not state.cgroup:
            return None
        return inotify_modified(Path(state.cgroup) / "memory.events")

    async def cleanup(self, state: IsolationState) -> None:
        if not state.cgroup:
            return
        cgroup = Path(state.cgroup)
        # cgroup.kill (Linux 5.14) kills the whole subtree at once, forks in flight included
        kill_file = cgroup / "cgroup.kill"
        for _ in range(100):
            pids = self.pids(state)
            if not pids:
                break
            try:
                _write(kill_file, "1")
            except OSError:
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.05)
        for _ in range(20):
            try:
                os.rmdir(cgroup)
                return
            except FileNotFoundError:
                return
            except OSError:
                await asyncio.sleep(0.05)


class RecoveredCgroupsV2(CgroupsV2Isolator):
    """Owns a v2 container recovered by an agent now running another isolation."""

    def __init__(self, state: IsolationState) -> None:
        super().__init__(Path(state.cgroup or "/").parent)


def memory_events(cgroup: Path) -> dict[str, int]:
    """`memory.events` as a dict (`low`, `high`, `max`, `oom`, `oom_kill`, ...)."""
    out: dict[str, int] = {}
    try:
        text = (cgroup / "memory.events").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = int(value)
    return out


def delegate(base: Path, root: Path, *, is_mount_root: bool) -> None:
    """Make `root` a cgroup whose children get cpu, memory (and pids when offered).

    Outside the hierarchy's root, `base` may hold no processes once it hands controllers
    down, so the agent first moves itself into the leaf `root/agent`."""
    offered = set((base / "cgroup.controllers").read_text().split())
    wanted = [c for c in ("cpu", "memory", "pids") if c in offered]
    missing = {"cpu", "memory"} - offered
    if missing:
        raise OSError(
            f"cgroup v2: {base} is not delegated the {', '.join(sorted(missing))} "
            "controller(s); start the agent in a cgroup with them (systemd: Delegate=yes)"
        )
    root.mkdir(exist_ok=True)
    if not is_mount_root:
        leaf = root / AGENT_LEAF
        leaf.mkdir(exist_ok=True)
        _write(leaf / "cgroup.procs", str(os.getpid()))
    control = " ".join(f"+{c}" for c in wanted)
    for cgroup in (base, root):
        try:
            _write(cgroup / "cgroup.subtree_control", control)
        except OSError as e:
            others = (cgroup / "cgroup.procs").read_text().split() if cgroup.exists() else []
            raise OSError(
                f"cgroup v2: cannot enable {control} in {cgroup}/cgroup.subtree_control "
                f"({e.strerror}); "
                + (
                    f"processes {' '.join(others[:5])} other than the agent live there: start "
                    "the agent in a cgroup of its own (systemd: Delegate=yes)"
                    if others
                    else "is this cgroup delegated to the agent's user?"
                )
            ) from e
    log.info("cgroup v2: containers under %s with %s", root, control)


def inotify_modified(path: Path) -> int | None:
    """A non-blocking inotify descriptor watching `path` for IN_MODIFY (None on failure)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
    except (OSError, AttributeError):
        return None
    if fd < 0:
        return None
    if libc.inotify_add_watch(fd, os.fsencode(path), _IN_MODIFY) < 0:
        os.close(fd)
        return None
    return fd
