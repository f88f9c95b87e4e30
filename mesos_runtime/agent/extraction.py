"""Writing into a sandbox without ever following a link: what the fetcher puts there
(downloads, copies, extracted archives) is created by walking from the sandbox root one
component at a time with `O_NOFOLLOW`, so no symbolic link, whether from an earlier archive
member, an earlier URI or a task sharing the sandbox, can redirect a write outside it.

Archives (.tar*, .zip) are extracted member by member through that walk (Python 3.11.2 has
no tarfile filters); a symbolic link member must be relative, and once the archive is out,
every link it created must resolve inside the sandbox, or the extraction is refused.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tarfile
import zipfile
from collections import deque
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_HOPS = 40  # symbolic links followed while resolving one, as the kernel allows


class UnsafeMember(Exception):
    """A path that would leave the sandbox, or go through a link or a file on the way."""


class SandboxWriter:
    """Creates directories, files and links under `root`; `owner` (uid, gid) owns them."""

    def __init__(self, root: Path, owner: tuple[int, int] | None = None) -> None:
        self.root = root
        self.owner = owner
        self._dirs: dict[tuple[str, ...], int] = {}
        self._links: list[tuple[str, ...]] = []

    def __enter__(self) -> SandboxWriter:
        self._dirs[()] = os.open(self.root, _DIR)
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()

    # --- paths ------------------------------------------------------------------------

    @staticmethod
    def parts(name: str) -> tuple[str, ...]:
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or "\0" in name:
            raise UnsafeMember(f"'{name}' escapes the sandbox")
        return tuple(p for p in pure.parts if p not in ("", "."))

    def directory(self, parts: tuple[str, ...], mode: int = 0o755) -> int:
        """The descriptor of directory `parts`, created as needed, never through a link."""
        fd = self._dirs.get(parts)
        if fd is not None:
            return fd
        parent = self.directory(parts[:-1])
        name = parts[-1]
        try:
            fd = os.open(name, _DIR, dir_fd=parent)
        except FileNotFoundError:
            os.mkdir(name, mode, dir_fd=parent)
            fd = os.open(name, _DIR, dir_fd=parent)
            self._chown(fd)
        except OSError:  # ELOOP/ENOTDIR: a symbolic link or a file is in the way
            raise UnsafeMember(f"'{'/'.join(parts)}' is a symbolic link or a file") from None
        self._dirs[parts] = fd
        return fd

    def _chown(self, fd: int) -> None:
        if self.owner is not None:
            os.fchown(fd, *self.owner)

    def _clear(self, parent: int, name: str, what: str) -> None:
        """Make room for a new entry `name` (a later archive member replaces an earlier
        file or link, as tar does); a directory in the way is refused."""
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise UnsafeMember(f"'{what}' would replace a directory")
        os.unlink(name, dir_fd=parent)

    # --- entries ------------------------------------------------------------------------

    def create_file(self, name: str, mode: int = 0o644) -> BinaryIO:
        """A new regular file at `name` (replacing a file or link there), open for writing."""
        parts = self.parts(name)
        if not parts:
            raise UnsafeMember(f"'{name}' is not a file name")
        parent = self.directory(parts[:-1])
        self._clear(parent, parts[-1], name)
        fd = os.open(parts[-1], _NEW, _safe_mode(mode), dir_fd=parent)
        self._chown(fd)
        return os.fdopen(fd, "w+b")

    def remove(self, name: str) -> None:
        """Remove the file or link `name` (if there), never what a link points to."""
        with contextlib.suppress(OSError, UnsafeMember):
            parts = self.parts(name)
            os.unlink(parts[-1], dir_fd=self.directory(parts[:-1]))

    def make_directory(self, name: str, mode: int = 0o755) -> None:
        parts = self.parts(name)
        if parts:
            os.fchmod(self.directory(parts, _safe_mode(mode)), _safe_mode(mode) | 0o700)

    def symlink(self, name: str, target: str) -> None:
        if target.startswith("/") or "\0" in target:
            raise UnsafeMember(f"'{name}' links to '{target}', outside the sandbox")
        parts = self.parts(name)
        if not parts:
            raise UnsafeMember(f"'{name}' is not a link name")
        parent = self.directory(parts[:-1])
        self._clear(parent, parts[-1], name)
        os.symlink(target, parts[-1], dir_fd=parent)
        if self.owner is not None:
            os.chown(parts[-1], *self.owner, dir_fd=parent, follow_symlinks=False)
        self._links.append(parts)

    def hardlink(self, name: str, source: str) -> None:
        src = self.parts(source)
        src_parent = self.directory(src[:-1])
        st = os.stat(src[-1], dir_fd=src_parent, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeMember(f"'{name}' is a hard link to '{source}', not to a regular file")
        parts = self.parts(name)
        parent = self.directory(parts[:-1])
        self._clear(parent, parts[-1], name)
        os.link(src[-1], parts[-1], src_dir_fd=src_parent, dst_dir_fd=parent, follow_symlinks=False)

    # --- the links, once everything is out -----------------------------------------------

    def check_links(self) -> None:
        """Every link created resolves inside the root (against the final tree, so a later
        member cannot bend an earlier link outwards); offending links are removed."""
        outside = self.remove_links_outside()
        if outside:
            raise UnsafeMember(f"'{outside[0]}' links outside the sandbox")

    def remove_links_outside(self) -> list[str]:
        """Remove the links created that resolve outside the root; their names."""
        outside = []
        for parts in self._links:
            with contextlib.suppress(OSError):
                if not self._resolves_inside(parts):
                    outside.append("/".join(parts))
        for name in outside:
            self.remove(name)
        return outside

    def _resolves_inside(self, link: tuple[str, ...]) -> bool:
        current = list(link[:-1])
        pending = deque(os.readlink(self.root.joinpath(*link)).split("/"))
        hops = 0
        while pending:
            part = pending.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if not current:
                    return False
                current.pop()
                continue
            candidate = self.root.joinpath(*current, part)
            try:
                st = os.lstat(candidate)
            except (FileNotFoundError, NotADirectoryError):
                current.append(part)  # nothing there: the rest is resolved lexically
                continue
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                target = os.readlink(candidate)
                if hops > _MAX_HOPS or target.startswith("/"):
                    return False
                pending.extendleft(reversed(target.split("/")))
                continue
            current.append(part)
        return True


def _safe_mode(mode: int) -> int:
    """Permission bits only (no setuid/setgid/sticky), never writable by group or others."""
    return (mode & 0o755) | 0o600


def extract(
    archive: BinaryIO,
    dest: Path,
    *,
    name: str,
    root: Path | None = None,
    owner: tuple[int, int] | None = None,
    refuse: Callable[[str], Exception],
) -> None:
    """Extract the open `archive` (a zip when `name` ends in .zip, else a tar) into `dest`
    (under the sandbox `root`, default `dest`); an unsafe member raises `refuse(reason)`."""
    root = root or dest
    prefix = dest.relative_to(root).as_posix() if dest != root else ""

    def at(name: str) -> str:
        return f"{prefix}/{name}" if prefix else name

    try:
        with SandboxWriter(root, owner) as tree:
            try:
                if name.lower().endswith(".zip"):
                    _extract_zip(archive, tree, at)
                else:
                    _extract_tar(archive, tree, at, refuse)
            except BaseException:
                tree.remove_links_outside()  # a refused archive leaves no way out behind
                raise
            tree.check_links()
    except UnsafeMember as e:
        raise refuse(f"member {e}") from None


def _extract_zip(archive: BinaryIO, tree: SandboxWriter, at: Callable[[str], str]) -> None:
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            mode = (info.external_attr >> 16) & 0o777 or 0o644
            if info.is_dir():
                tree.make_directory(at(info.filename), mode or 0o755)
                continue
            # zipfile reads a link entry as a file holding its target: write it as such
            with z.open(info) as source, tree.create_file(at(info.filename), mode) as out:
                shutil.copyfileobj(source, out)


def _extract_tar(
    archive: BinaryIO,
    tree: SandboxWriter,
    at: Callable[[str], str],
    refuse: Callable[[str], Exception],
) -> None:
    with tarfile.open(fileobj=archive, mode="r:*") as tar:
        for member in tar:
            name = at(member.name)
            if member.isdir():
                tree.make_directory(name, member.mode)
            elif member.isreg():
                source = tar.extractfile(member)
                assert source is not None
                with source, tree.create_file(name, member.mode) as out:
                    shutil.copyfileobj(source, out)
            elif member.issym():
                tree.symlink(name, member.linkname)
            elif member.islnk():
                tree.hardlink(name, at(member.linkname))
            else:
                raise refuse(f"member '{member.name}' is a device, FIFO or other special file")
