"""Checkpointing: atomic writes of records under `meta/` and append-only logs.

Writes survive the agent process dying at any instant (write to a temporary file, then
rename); they are not fsync'd, so they do not survive a machine crash — after a reboot
the tasks are gone anyway (the agent compares boot ids).
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import Any, TypeVar

from mesos_runtime.wire.record import Record, WireError

R = TypeVar("R", bound=Record)


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        f = open(tmp, "w")  # noqa: SIM115 - the directory usually exists: one syscall fewer
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(tmp, "w")  # noqa: SIM115
    with f:
        f.write(text)
    os.replace(tmp, path)


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def create_text(path: Path, text: str) -> None:
    """Write a new file in place (no temporary + rename): only for a file whose torn
    content means nothing was started from it yet (a new run's run.json)."""
    with open(path, "x") as f:
        f.write(text)


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, separators=(",", ":")))


def write_record(path: Path, rec: Record) -> None:
    write_json(path, rec.to_json())


def read_json(path: Path) -> Any | None:
    """The JSON in `path`, or None when it is absent or torn (never completely written)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None


def read_record(path: Path, kind: type[R]) -> R | None:
    raw = read_json(path)
    if raw is None:
        return None
    try:
        return kind.from_json(raw)
    except WireError:
        return None


def append_json(path: Path, obj: Any) -> None:
    """Append one JSON line; a torn last line (death mid-write) is skipped on reading."""
    line = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


class AppendLogs:
    """`append_json` keeping up to `limit` logs open (a task's update stream is appended to
    several times in a row); the least recently opened is closed beyond that."""

    def __init__(self, limit: int | None = None) -> None:
        if limit is None:  # a small share of the descriptors we may open
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            limit = 2048 if soft == resource.RLIM_INFINITY else max(16, min(2048, soft // 8))
        self.limit = limit
        self._fds: dict[Path, int] = {}

    def append(self, path: Path, obj: Any) -> None:
        line = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        fd = self._fds.get(path)
        if fd is None:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            try:
                fd = os.open(path, flags, 0o644)
            except FileNotFoundError:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, flags, 0o644)
            self._fds[path] = fd
            if len(self._fds) > self.limit:
                oldest = next(iter(self._fds))
                os.close(self._fds.pop(oldest))
        os.write(fd, line)

    def close(self, path: Path) -> None:
        fd = self._fds.pop(path, None)
        if fd is not None:
            os.close(fd)

    def close_all(self) -> None:
        for path in list(self._fds):
            self.close(path)


def read_json_lines(path: Path) -> list[Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for line in raw.split(b"\n"):
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # torn tail
    return out


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
