"""Which cgroup hierarchy this host offers for isolation: the unified cgroup v2 hierarchy,
the cgroup v1 `cpu` and `memory` hierarchies, or none (rlimits only).

Decided from the mount table, as Mesos' `cgroups2::enabled()` does: v2 when the cgroup
mount point is itself a cgroup2 filesystem whose `cgroup.controllers` lists both `cpu` and
`memory`; v1 when both v1 controllers are mounted; otherwise none. A hybrid host (v1
controllers plus an empty cgroup2 at `unified/`, as systemd's hybrid mode mounts) is v1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CGROUP_MOUNT = Path("/sys/fs/cgroup")
V2_REQUIRED = ("cpu", "memory")
V1_REQUIRED = ("cpu", "memory")


@dataclass(frozen=True, slots=True)
class MountEntry:
    """One line of /proc/self/mounts."""

    source: str
    point: Path
    fstype: str
    options: frozenset[str]


@dataclass(frozen=True, slots=True)
class CgroupHierarchy:
    """What the agent isolates with, and why (logged at start, shown in /state)."""

    version: str  # "v2" | "v1" | "none"
    reason: str
    mount: Path | None = None  # the v2 mount point (v2 only)
    controllers: frozenset[str] = frozenset()  # the v2 controllers the mount offers

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "reason": self.reason,
            "mount": str(self.mount) if self.mount else None,
            "controllers": sorted(self.controllers),
        }


def parse_mounts(text: str) -> list[MountEntry]:
    """The entries of a /proc/mounts-format table (octal escapes in paths decoded)."""
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        point = fields[1].encode().decode("unicode_escape")  # \040 for a space, etc.
        entries.append(
            MountEntry(fields[0], Path(point), fields[2], frozenset(fields[3].split(",")))
        )
    return entries


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def detect(
    mounts: list[MountEntry],
    *,
    mount_point: Path = CGROUP_MOUNT,
    read: Callable[[Path], str | None] = _read,
) -> CgroupHierarchy:
    """Pure: the hierarchy to use given a mount table (`read` reads cgroup.controllers)."""
    at_point = [m for m in mounts if m.point == mount_point]
    if at_point and at_point[-1].fstype == "cgroup2":  # the last mount on a point wins
        text = read(mount_point / "cgroup.controllers")
        controllers = frozenset((text or "").split())
        missing = [c for c in V2_REQUIRED if c not in controllers]
        if not missing:
            return CgroupHierarchy(
                "v2",
                f"{mount_point} is cgroup2 with controllers {' '.join(sorted(controllers))}",
                mount_point,
                controllers,
            )
        return CgroupHierarchy(
            "none",
            f"{mount_point} is cgroup2 but its cgroup.controllers lacks "
            f"{', '.join(missing)} (controllers: {' '.join(sorted(controllers)) or 'none'})",
            mount_point,
            controllers,
        )
    v1 = {
        option
        for m in mounts
        if m.fstype == "cgroup" and m.point.parent == mount_point
        for option in m.options
    }
    missing = [c for c in V1_REQUIRED if c not in v1]
    unified = [m for m in mounts if m.fstype == "cgroup2" and m.point != mount_point]
    if not missing:
        note = ""
        if unified:
            text = read(unified[0].point / "cgroup.controllers")
            note = (
                f"; the cgroup2 mount at {unified[0].point} has controllers: "
                f"{' '.join(sorted((text or '').split())) or 'none'}"
            )
        return CgroupHierarchy("v1", f"cgroup v1 cpu and memory under {mount_point}{note}")
    return CgroupHierarchy(
        "none", f"no cgroup2 at {mount_point} and no cgroup v1 {', '.join(missing)} mounted"
    )


def detect_host(mount_point: Path = CGROUP_MOUNT) -> CgroupHierarchy:
    """`detect` on this host's mount table."""
    text = _read(Path("/proc/self/mounts")) or ""
    return detect(parse_mounts(text), mount_point=mount_point)


def own_cgroup_v2(proc_cgroup: str) -> str:
    """This process's cgroup in the unified hierarchy (the `0::` line of /proc/self/cgroup)."""
    for line in proc_cgroup.splitlines():
        hierarchy, _, path = line.split(":", 2)
        if hierarchy == "0":
            return path
    raise OSError("this process is in no cgroup v2 hierarchy")
