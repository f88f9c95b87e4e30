"""Archives the universe writes and reads: reproducible tars (same files in, same bytes out,
so a packed library's sha512 can be locked) and a strict extractor that takes only regular
files and directories whose paths stay inside the destination.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

__all__ = ["ArchiveError", "pack", "safe_extract", "sha512_of"]

_CHUNK = 1 << 20


class ArchiveError(ValueError):
    """An archive refused: the message names the member and why."""


def sha512_of(path: Path) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def pack(entries: Iterable[tuple[str, Path]], out: Path) -> None:
    """Write a reproducible tar of (name in archive, source file) pairs: sorted, with
    directory entries, fixed owner, mode and time, so equal inputs give equal bytes."""
    files = sorted(entries)
    dirs = sorted(
        {str(p) for name, _ in files for p in PurePosixPath(name).parents if str(p) != "."}
    )
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(_fixed(info))
        for name, source in files:
            info = tarfile.TarInfo(name)
            info.size = source.stat().st_size
            info.mode = 0o755 if os.access(source, os.X_OK) else 0o644
            with open(source, "rb") as f:
                tar.addfile(_fixed(info), f)


def _fixed(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    return info


def _member_path(dest: Path, name: str, archive: str) -> Path:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or name.startswith("\\"):
        raise ArchiveError(f"{archive}: member {name!r} escapes the destination; refused")
    target = (dest / pure).resolve()
    if target != dest and dest not in target.parents:
        raise ArchiveError(f"{archive}: member {name!r} escapes the destination; refused")
    return target


def safe_extract(archive: Path, dest: Path, strip: int = 0) -> list[str]:
    """Extract into `dest` (created), refusing links, devices and escaping paths before
    writing anything. `strip` drops leading path components. Returns the files written."""
    label = archive.name
    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.resolve()
    written = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            plan = []
            for member in members:
                if not (member.isfile() or member.isdir()):
                    raise ArchiveError(
                        f"{label}: member {member.name!r} is a link or special file; refused"
                    )
                parts = PurePosixPath(member.name).parts[strip:]
                if not parts:
                    continue
                plan.append((member, _member_path(dest, str(PurePosixPath(*parts)), label)))
            for member, target in plan:
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                with source, open(target, "wb") as out:
                    while chunk := source.read(_CHUNK):
                        out.write(chunk)
                target.chmod(0o755 if member.mode & 0o100 else 0o644)
                written.append(str(target.relative_to(dest)))
    except (tarfile.TarError, EOFError, OSError, io.UnsupportedOperation) as e:
        raise ArchiveError(f"{label}: not a readable archive ({e})") from None
    return written
