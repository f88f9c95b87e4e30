"""Safe access to sandbox files for the files API: a path is opened by walking from the
agent's `slaves/` directory one component at a time without following any symbolic link
(`O_NOFOLLOW` at every step), and only regular files are read; FIFOs, sockets and devices
are refused before they are opened, so nothing a task puts in its sandbox can redirect
the agent to another file or block it. Every function here blocks: call it in a thread.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mesos_runtime.wire.bounds import check_id

# the one link the agent itself creates: `.../runs/latest` -> the newest container id
_LATEST_DEPTH = 8  # slaves/<a>/frameworks/<f>/executors/<e>/runs/latest
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class FileRefused(Exception):
    """A path the files API will not serve: `status` (400, 404) and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    stat: os.stat_result


def components(work_dir: Path, raw: str) -> list[str]:
    """The path's components under `work_dir` (the first is `slaves`), or FileRefused."""
    if _CONTROL.search(raw):
        raise FileRefused(400, "'path' must not contain NUL or control characters")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise FileRefused(400, "'path' is not valid UTF-8") from None
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if raw.startswith("/"):
        for base in {str(work_dir), os.path.realpath(work_dir)}:
            prefix = [p for p in base.split("/") if p not in ("", ".")]
            if parts[: len(prefix)] == prefix:
                parts = parts[len(prefix) :]
                break
        else:
            raise FileRefused(404, f"'{raw}' is not in a sandbox of this agent")
    if ".." in parts or not parts or parts[0] != "slaves":
        raise FileRefused(404, f"'{raw}' is not in a sandbox of this agent")
    return parts


@contextlib.contextmanager
def _walk(work_dir: Path, parts: list[str], raw: str) -> Iterator[int]:
    """An O_PATH descriptor of the directory holding `parts[-1]`, valid inside the `with`;
    every step refuses a symbolic link, except the agent's own `runs/latest`."""
    try:
        fd = os.open(work_dir / parts[0], _DIR)
    except OSError:
        raise FileRefused(404, f"'{raw}' does not exist") from None
    try:
        for depth, part in enumerate(parts[1:-1], start=2):
            name = part
            if depth == _LATEST_DEPTH and part == "latest" and parts[depth - 2] == "runs":
                name = _latest_target(fd, raw)
            try:
                child = os.open(name, _DIR, dir_fd=fd)
            except FileNotFoundError:
                raise FileRefused(404, f"'{raw}' does not exist") from None
            except OSError:  # ENOTDIR: a symbolic link (O_NOFOLLOW) or a file
                raise FileRefused(404, f"'{raw}' is not in a sandbox of this agent") from None
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _latest_target(fd: int, raw: str) -> str:
    try:
        return check_id(os.readlink("latest", dir_fd=fd), "latest")
    except (OSError, ValueError):
        raise FileRefused(404, f"'{raw}' does not exist") from None


def _leaf(fd: int, parts: list[str]) -> str:
    name = parts[-1]
    if len(parts) == _LATEST_DEPTH and name == "latest" and parts[-2] == "runs":
        with contextlib.suppress(OSError, ValueError):
            return check_id(os.readlink(name, dir_fd=fd), "latest")
    return name


def open_regular(work_dir: Path, raw: str) -> tuple[int, int]:
    """(descriptor, size) of the regular file at `raw`; FileRefused otherwise."""
    parts = components(work_dir, raw)
    with _walk(work_dir, parts, raw) as parent:
        name = _leaf(parent, parts)
        try:
            before = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except OSError:
            raise FileRefused(404, f"'{raw}' does not exist") from None
        if stat.S_ISDIR(before.st_mode):
            raise FileRefused(400, f"'{raw}' is a directory")
        if not stat.S_ISREG(before.st_mode):
            raise FileRefused(400, f"'{raw}' is not a regular file")
        try:
            fd = os.open(name, _FILE, dir_fd=parent)
        except OSError:  # ELOOP: swapped for a link since the stat
            raise FileRefused(400, f"'{raw}' is not a regular file") from None
    after = os.fstat(fd)
    if not stat.S_ISREG(after.st_mode) or (after.st_dev, after.st_ino) != (
        before.st_dev,
        before.st_ino,
    ):
        os.close(fd)
        raise FileRefused(400, f"'{raw}' is not a regular file")
    return fd, after.st_size


def read_regular(work_dir: Path, raw: str, offset: int, length: int) -> tuple[bytes, int]:
    """Up to `length` bytes at `offset` (-1: none, at the end), and the offset they start at."""
    fd, size = open_regular(work_dir, raw)
    try:
        if offset == -1:
            return b"", size
        return os.pread(fd, max(0, min(length, size - offset)), offset), offset
    finally:
        os.close(fd)


def list_directory(work_dir: Path, raw: str) -> list[Entry]:
    """The entries of the directory at `raw`, stat'ed without following links."""
    parts = components(work_dir, raw)
    with _walk(work_dir, parts, raw) as parent:
        name = _leaf(parent, parts)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
        except FileNotFoundError:
            raise FileRefused(404, f"'{raw}' does not exist") from None
        except OSError:
            raise FileRefused(400, f"'{raw}' is not a directory") from None
    try:
        entries = [Entry(e.name, e.stat(follow_symlinks=False)) for e in os.scandir(fd)]
    finally:
        os.close(fd)
    return sorted(entries, key=lambda e: e.name)
