"""Resource isolation of containers: cgroups (`cgroups/cpu,cgroups/mem`: v2 or v1, whichever
the host mounts, see `cgroup_hierarchy`) or rlimits (`posix/cpu,posix/mem`), by `--isolation`.

An isolator prepares a container before its processes start (cgroups created, limits
written), hands the launcher a shell prelude that moves the process into the container,
reports a limitation (OOM kill) and removes the container's cgroups when it ends. Per-container
cgroups are nested under the agent's own cgroup (`<own>/<cgroups_root>/<container_id>`),
so they stay inside whatever hierarchy the agent was delegated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
from dataclasses import dataclass
from pathlib import Path

from mesos_runtime.wire.record import Record, record
from mesos_runtime.wire.resources import Resources

from .cgroup_hierarchy import CgroupHierarchy, detect_host

log = logging.getLogger(__name__)

CGROUP_MOUNT = Path("/sys/fs/cgroup")
CPU_SHARES_PER_CPU = 1024
MIN_CPU_SHARES = 2
MIN_MEMORY_BYTES = 32 << 20  # Mesos' MIN_MEMORY
MB = 1 << 20


@record
class IsolationState(Record):
    """What the agent checkpoints about one container's isolation."""

    kind: str  # "cgroups" (v1) | "cgroups2" | "posix"
    cpu_cgroup: str | None = None  # v1
    memory_cgroup: str | None = None  # v1
    cgroup: str | None = None  # v2: the container's one cgroup
    cpus: float | None = None
    mem_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """How a process joins its container before the command runs (see `launcher`)."""

    cgroup_procs: tuple[str, ...] = ()  # cgroup.procs the process starts in
    # cgroup.procs it is moved into right after its exec: the cpu cgroup, whose tiny share
    # would otherwise starve the spawn, and with it the launcher, on a busy machine
    cgroup_procs_after: tuple[str, ...] = ()
    rlimit_as: int | None = None  # RLIMIT_AS, bytes


@dataclass(frozen=True, slots=True)
class Limitation:
    """A resource limit the container hit (it is then killed)."""

    resource: str  # "mem"
    message: str


def _limits(resources: Resources) -> tuple[float, int]:
    cpus = resources.cpus
    mem = max(int(resources.mem * MB), MIN_MEMORY_BYTES)
    return cpus, mem


class Isolator:
    """Base: posix isolation. rlimits are applied in the launch wrapper, cpu is not limited."""

    kind = "posix"
    hierarchy = CgroupHierarchy("none", "posix isolation")

    def prepare(self, container_id: str, resources: Resources) -> IsolationState:
        state = self.plan(container_id, resources)
        self.create(state)
        return state

    def plan(self, container_id: str, resources: Resources) -> IsolationState:
        """The container's isolation, decided (no system change yet: see `create`)."""
        cpus, mem = _limits(resources)
        return IsolationState(kind=self.kind, cpus=cpus, mem_bytes=mem)

    def create(self, state: IsolationState) -> None:
        """Set up what `plan` decided (cgroups isolation: creates the cgroups)."""
        return None

    def update(self, state: IsolationState, resources: Resources) -> IsolationState:
        # rlimits of running processes cannot be raised from outside; later processes get them
        cpus, mem = _limits(resources)
        return state.replace(cpus=cpus, mem_bytes=mem)

    def launch_spec(self, state: IsolationState) -> LaunchSpec:
        if not state.mem_bytes:
            return LaunchSpec()
        # RLIMIT_AS bounds virtual memory, which runtimes reserve far beyond what they use:
        # be generous so that only a runaway process hits it.
        return LaunchSpec(rlimit_as=max(4 * state.mem_bytes, state.mem_bytes + (1 << 30)))

    def prelude(self, state: IsolationState) -> list[str]:
        """`launch_spec` as shell commands for the `sh` wrapper (each must succeed)."""
        spec = self.launch_spec(state)
        commands = [
            f"echo $$ > {shlex.quote(procs)}"
            for procs in (*spec.cgroup_procs_after, *spec.cgroup_procs)
        ]
        if spec.rlimit_as:
            commands.append(f"ulimit -v {spec.rlimit_as // 1024}")
        return commands

    def pids(self, state: IsolationState) -> list[int]:
        return []

    def limitation(self, state: IsolationState) -> Limitation | None:
        return None

    def watch_oom(self, state: IsolationState) -> int | None:
        """An eventfd that becomes readable on an OOM in the container, if supported."""
        return None

    async def cleanup(self, state: IsolationState) -> None:
        return None


class PosixIsolator(Isolator):
    kind = "posix"


class CgroupsIsolator(Isolator):
    """cgroups v1: `cpu.shares` = 1024 x cpus, `memory.limit_in_bytes` (and memsw) = mem."""

    kind = "cgroups"

    def __init__(
        self,
        cgroups_root: str = "mesos",
        *,
        cpu: bool = True,
        mem: bool = True,
        cfs: bool = False,
        hierarchy: CgroupHierarchy | None = None,
    ) -> None:
        self.cfs = cfs
        if hierarchy is not None:
            self.hierarchy = hierarchy
        self.cpu_root = _own_cgroup("cpu") / cgroups_root if cpu else None
        self.memory_root = _own_cgroup("memory") / cgroups_root if mem else None
        for root in (self.cpu_root, self.memory_root):
            if root is not None:
                root.mkdir(parents=True, exist_ok=True)
        self._memsw: bool | None = None  # the hierarchy has memory.memsw.* (swap accounting)

    @staticmethod
    def available(cgroups_root: str = "mesos") -> bool:
        """True when both v1 hierarchies are mounted and we may create cgroups in them."""
        try:
            for subsystem in ("cpu", "memory"):
                own = _own_cgroup(subsystem)
                root = own / cgroups_root
                target = root if root.exists() else own
                if not (target / "cgroup.procs").exists() or not os.access(target, os.W_OK):
                    return False
            return True
        except OSError:
            return False

    def plan(self, container_id: str, resources: Resources) -> IsolationState:
        cpus, mem = _limits(resources)
        state = IsolationState(kind=self.kind, cpus=cpus, mem_bytes=mem)
        if self.cpu_root is not None:
            state.cpu_cgroup = str(self.cpu_root / container_id)
        if self.memory_root is not None:
            state.memory_cgroup = str(self.memory_root / container_id)
        return state

    def create(self, state: IsolationState) -> None:
        for cgroup in (state.cpu_cgroup, state.memory_cgroup):
            if cgroup:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(cgroup)
        self._write_limits(state, fresh=True)

    def update(self, state: IsolationState, resources: Resources) -> IsolationState:
        cpus, mem = _limits(resources)
        state = state.replace(cpus=cpus, mem_bytes=mem)
        self._write_limits(state)
        return state

    def _has_memsw(self, memory: Path) -> bool:
        if self._memsw is None:
            self._memsw = (memory / "memory.memsw.limit_in_bytes").exists()
        return self._memsw

    def _write_limits(self, state: IsolationState, *, fresh: bool = False) -> None:
        """`fresh`: a cgroup just created, whose limits are unlimited (only ever lowered)."""
        if state.cpu_cgroup and state.cpus is not None:
            shares = max(int(CPU_SHARES_PER_CPU * state.cpus), MIN_CPU_SHARES)
            _write(Path(state.cpu_cgroup) / "cpu.shares", str(shares))
            if self.cfs:
                from .cgroups_v2 import CFS_PERIOD_US, cpu_max

                _write(Path(state.cpu_cgroup) / "cpu.cfs_period_us", str(CFS_PERIOD_US))
                _write(Path(state.cpu_cgroup) / "cpu.cfs_quota_us", cpu_max(state.cpus).split()[0])
        if state.memory_cgroup and state.mem_bytes:
            memory = Path(state.memory_cgroup)
            limit = str(state.mem_bytes)
            memsw = memory / "memory.memsw.limit_in_bytes"
            has_memsw = self._has_memsw(memory)
            # memsw must stay >= the memory limit: order the writes by direction of change
            current = None if fresh else _read_int(memory / "memory.limit_in_bytes")
            if has_memsw and current is not None and state.mem_bytes > current:
                _write(memsw, limit)
                _write(memory / "memory.limit_in_bytes", limit)
            else:
                _write(memory / "memory.limit_in_bytes", limit)
                if has_memsw:
                    with contextlib.suppress(OSError):
                        _write(memsw, limit)

    def launch_spec(self, state: IsolationState) -> LaunchSpec:
        return LaunchSpec(
            (f"{state.memory_cgroup}/cgroup.procs",) if state.memory_cgroup else (),
            (f"{state.cpu_cgroup}/cgroup.procs",) if state.cpu_cgroup else (),
        )

    def pids(self, state: IsolationState) -> list[int]:
        pids: set[int] = set()
        for cg in (state.memory_cgroup, state.cpu_cgroup):
            if cg:
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(p) for p in (Path(cg) / "cgroup.procs").read_text().split())
        return sorted(pids)

    def limitation(self, state: IsolationState) -> Limitation | None:
        if not state.memory_cgroup:
            return None
        memory = Path(state.memory_cgroup)
        try:
            fields = dict(
                line.split() for line in (memory / "memory.oom_control").read_text().splitlines()
            )
        except (OSError, ValueError):
            return None
        if int(fields.get("oom_kill", "0")) == 0 and fields.get("under_oom") != "1":
            return None
        used = _read_int(memory / "memory.max_usage_in_bytes") or 0
        return Limitation(
            "mem",
            f"Memory limit exceeded: Requested: {(state.mem_bytes or 0) // MB}MB "
            f"Maximum Used: {used // MB}MB",
        )

    def watch_oom(self, state: IsolationState) -> int | None:
        if not state.memory_cgroup:
            return None
        memory = Path(state.memory_cgroup)
        try:
            efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        except OSError:
            return None
        try:
            ofd = os.open(memory / "memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _write(memory / "cgroup.event_control", f"{efd} {ofd}")
            finally:
                os.close(ofd)  # the kernel holds its own reference once registered
        except OSError:
            os.close(efd)
            return None
        return efd

    async def cleanup(self, state: IsolationState) -> None:
        # a cgroup can only be removed once empty: kill stragglers (daemonized children)
        for _ in range(100):
            pids = self.pids(state)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.05)
        for cg in (state.cpu_cgroup, state.memory_cgroup):
            if cg:
                for _ in range(20):
                    try:
                        os.rmdir(cg)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        await asyncio.sleep(0.05)


def create_isolator(
    isolation: str | None,
    cgroups_root: str,
    *,
    cfs: bool = False,
    pids_max: int = 0,
    hierarchy: CgroupHierarchy | None = None,
) -> Isolator:
    """`cgroups/cpu,cgroups/mem`, `posix/cpu,posix/mem`, or None: cgroups where the host
    offers a hierarchy we may write (v2 before v1), else posix. The choice is logged."""
    from .cgroups_v2 import CgroupsV2Isolator  # it builds on this module

    hierarchy = hierarchy or detect_host()
    names = {n.strip() for n in (isolation or "").split(",") if n.strip()}
    known = {"cgroups/cpu", "cgroups/mem", "posix/cpu", "posix/mem", "filesystem/posix"}
    unknown = names - known
    if unknown:
        raise ValueError(f"--isolation: unknown isolator(s) {', '.join(sorted(unknown))}")
    cgroups = {n.split("/")[1] for n in names if n.startswith("cgroups/")}
    wanted = bool(cgroups) or not isolation
    cpu, mem = ("cpu" in cgroups, "mem" in cgroups) if cgroups else (True, True)
    isolator: Isolator | None = None
    problem = hierarchy.reason
    if wanted and hierarchy.version == "v2":
        try:
            isolator = CgroupsV2Isolator.on_host(
                hierarchy, cgroups_root, cpu=cpu, mem=mem, cfs=cfs, pids_max=pids_max
            )
        except OSError as e:
            problem = str(e)
    elif wanted and hierarchy.version == "v1":
        if CgroupsIsolator.available(cgroups_root):
            isolator = CgroupsIsolator(cgroups_root, cpu=cpu, mem=mem, cfs=cfs, hierarchy=hierarchy)
        else:
            problem = f"the cgroup v1 cpu/memory hierarchies under {CGROUP_MOUNT} are not writable"
    if isolator is None and cgroups:
        raise ValueError(
            f"--isolation asks for cgroups but {problem}; use --isolation=posix/cpu,posix/mem"
        )
    if isolator is None:
        isolator = PosixIsolator()
        if wanted:
            isolator.hierarchy = CgroupHierarchy("none", f"posix isolation: {problem}")
    log.info(
        "isolation %s (cgroup hierarchy %s: %s)",
        isolator.kind,
        isolator.hierarchy.version,
        isolator.hierarchy.reason,
    )
    return isolator


def isolator_for(state: IsolationState, current: Isolator) -> Isolator:
    """The isolator that owns a recovered container (the flag may have changed since)."""
    if state.kind == current.kind:
        return current
    if state.kind == "cgroups2":
        from .cgroups_v2 import RecoveredCgroupsV2

        return RecoveredCgroupsV2(state)
    return _RecoveredCgroups() if state.kind == "cgroups" else PosixIsolator()


class _RecoveredCgroups(CgroupsIsolator):
    def __init__(self) -> None:  # paths come from the checkpointed state, no roots needed
        self.cpu_root = None
        self.memory_root = None
        self._memsw = None
        self.cfs = False


def _own_cgroup(subsystem: str) -> Path:
    """This process's cgroup in the v1 hierarchy of `subsystem`."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if subsystem in controllers.split(","):
            mount = CGROUP_MOUNT / subsystem
            return mount / path.lstrip("/")
    raise OSError(f"no cgroup v1 hierarchy for {subsystem}")


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
