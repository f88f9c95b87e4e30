"""What the agent offers: `--resources` completed by autodetection, and `--attributes`.

Autodetection follows Mesos: cpus from the host, mem = total - 1 GiB (half of it on small
hosts), disk = the work_dir filesystem - 5 GiB (half on small disks), ports [31000-32000];
anything given in `--resources` wins over what is detected.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from mesos_runtime.wire.mesos import Attribute, Range, Ranges, Scalar, Text, ValueSet, ValueType
from mesos_runtime.wire.record import WireError
from mesos_runtime.wire.resources import Resources

GIB_MB = 1024.0
DEFAULT_PORTS = "[31000-32000]"


def total_memory_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024.0
    return 1024.0


def detect_resources(work_dir: Path) -> dict[str, str]:
    cpus = float(os.cpu_count() or 1)
    mem = total_memory_mb()
    mem = mem - GIB_MB if mem >= 2 * GIB_MB else mem / 2
    work_dir.mkdir(parents=True, exist_ok=True)
    disk = shutil.disk_usage(work_dir).total / (1 << 20)
    disk = disk - 5 * GIB_MB if disk >= 10 * GIB_MB else disk / 2
    return {
        "cpus": f"{cpus:g}",
        "mem": f"{int(mem)}",
        "disk": f"{int(disk)}",
        "ports": DEFAULT_PORTS,
    }


def agent_resources(text: str | None, work_dir: Path, default_role: str = "*") -> Resources:
    """`--resources` plus autodetected amounts for the standard names it leaves out."""
    given = Resources.parse(text, default_role) if text else Resources()
    names = {key.name for key, _ in given}
    missing = {n: v for n, v in detect_resources(work_dir).items() if n not in names}
    if not missing:
        return given
    detected = Resources.parse(";".join(f"{n}:{v}" for n, v in missing.items()), default_role)
    return given + detected


_RANGE = re.compile(r"^\[(.*)\]$")
_SET = re.compile(r"^\{(.*)\}$")


def parse_attributes(text: str | None) -> list[Attribute]:
    """`rack:r1;zone:a;level:2;ids:[1-4];tags:{a,b}` as Mesos reads it."""
    attributes: list[Attribute] = []
    for part in filter(None, (p.strip() for p in (text or "").split(";"))):
        name, sep, value = part.partition(":")
        if not sep or not name.strip():
            raise WireError(f"attributes: cannot parse {part!r} (expected name:value)")
        name, value = name.strip(), value.strip()
        if m := _RANGE.match(value):
            ranges = []
            for r in filter(None, (x.strip() for x in m.group(1).split(","))):
                begin, _, end = r.partition("-")
                ranges.append(Range(begin=int(begin), end=int(end or begin)))
            attributes.append(
                Attribute(name=name, type=ValueType.RANGES, ranges=Ranges(range=ranges))
            )
        elif m := _SET.match(value):
            items = [i.strip() for i in m.group(1).split(",") if i.strip()]
            attributes.append(Attribute(name=name, type=ValueType.SET, set=ValueSet(item=items)))
        else:
            try:
                number = float(value)
            except ValueError:
                attributes.append(Attribute(name=name, type=ValueType.TEXT, text=Text(value=value)))
            else:
                attributes.append(
                    Attribute(name=name, type=ValueType.SCALAR, scalar=Scalar(value=number))
                )
    return attributes
