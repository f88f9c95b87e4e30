"""The fetcher: puts a command's URIs (http(s), file:// and absolute local paths) into a
sandbox before the command starts.

It verifies a URI's `checksum` (`sha256:<hex>` / `sha512:<hex>`), keeps a per-agent cache
for URIs marked `cache` (keyed by URI, least recently used evicted beyond
`--fetcher_cache_size`), sets the executable bit, and extracts archives (.tar, .tar.gz,
.tgz, .tar.bz2, .tar.xz, .zip) refusing any member that would land outside the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import stat
import tarfile
import urllib.parse
import zipfile
from pathlib import Path, PurePosixPath

import aiohttp

from mesos_runtime.wire.mesos import URI

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")
_CHUNK = 1 << 16
_ALGORITHMS = ("sha256", "sha512")


class FetchError(Exception):
    """A URI that could not be fetched; the message names it and says why."""


def _expected_checksum(uri: URI) -> tuple[str, str] | None:
    if not uri.checksum:
        return None
    algorithm, sep, digest = uri.checksum.partition(":")
    if not sep or algorithm.lower() not in _ALGORITHMS or not digest:
        raise FetchError(
            f"URI '{uri.value}': checksum {uri.checksum!r} is not 'sha256:<hex>' or 'sha512:<hex>'"
        )
    return algorithm.lower(), digest.strip().lower()


def _basename(uri: URI) -> str:
    parsed = urllib.parse.urlparse(uri.value)
    path = parsed.path if parsed.scheme else uri.value
    name = PurePosixPath(urllib.parse.unquote(path)).name
    if not name or name in (".", ".."):
        raise FetchError(f"URI '{uri.value}': cannot tell a file name from it")
    return name


def _is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def _inside(root: Path, candidate: Path) -> bool:
    root = root.resolve()
    try:
        candidate.resolve().relative_to(root)
        return True
    except ValueError:
        return False


def _safe_output_path(sandbox: Path, relative: str, uri: URI) -> Path:
    target = sandbox / relative
    if PurePosixPath(relative).is_absolute() or not _inside(sandbox, target):
        raise FetchError(f"URI '{uri.value}': output_file {relative!r} escapes the sandbox")
    return target


class Fetcher:
    """Fetches URIs into sandboxes; owns the agent's download cache and HTTP session."""

    def __init__(self, cache_dir: Path, cache_size: int) -> None:
        self.cache_dir = cache_dir
        self.cache_size = cache_size
        self._session: aiohttp.ClientSession | None = None
        self._cache_lock = asyncio.Lock()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, uris: list[URI], sandbox: Path) -> None:
        """Fetch every URI in order; raise FetchError naming the first that fails."""
        for uri in uris:
            await self._fetch_one(uri, sandbox)

    async def _fetch_one(self, uri: URI, sandbox: Path) -> None:
        checksum = _expected_checksum(uri)
        name = _basename(uri)
        target = _safe_output_path(sandbox, uri.output_file or name, uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        if uri.cache:
            await self._fetch_cached(uri, target, checksum)
        else:
            await self._download(uri, target, checksum)
        if uri.executable:
            mode = target.stat().st_mode
            target.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        elif uri.extract is not False and _is_archive(target.name):
            await asyncio.to_thread(extract, target, target.parent, uri.value)

    # --- the cache ------------------------------------------------------------------

    def _cache_entry(self, uri: URI) -> Path:
        key = hashlib.sha256(uri.value.encode()).hexdigest()[:32]
        return self.cache_dir / key / _basename(uri)

    async def _fetch_cached(self, uri: URI, target: Path, checksum: tuple[str, str] | None) -> None:
        entry = self._cache_entry(uri)
        async with self._cache_lock:
            if entry.exists():
                if checksum is None or _digest_file(entry, checksum[0]) == checksum[1]:
                    os.utime(entry)  # most recently used
                    await asyncio.to_thread(shutil.copyfile, entry, target)
                    return
                entry.unlink()  # stale: the artifact behind the URI changed
        entry.parent.mkdir(parents=True, exist_ok=True)
        partial = entry.with_name(f".{entry.name}.{os.getpid()}.part")
        await self._download(uri, partial, checksum)
        async with self._cache_lock:
            partial.replace(entry)
            self._evict(keep=entry)
        await asyncio.to_thread(shutil.copyfile, entry, target)

    def _evict(self, keep: Path) -> None:
        entries = [p for p in self.cache_dir.glob("*/*") if p.is_file() and p != keep]
        total = sum(p.stat().st_size for p in entries) + keep.stat().st_size
        for path in sorted(entries, key=lambda p: p.stat().st_mtime):
            if total <= self.cache_size:
                break
            total -= path.stat().st_size
            path.unlink()
            with contextlib.suppress(OSError):
                path.parent.rmdir()

    # --- downloads --------------------------------------------------------------------

    async def _download(self, uri: URI, target: Path, checksum: tuple[str, str] | None) -> None:
        parsed = urllib.parse.urlparse(uri.value)
        digest = hashlib.new(checksum[0]) if checksum else None
        try:
            if parsed.scheme in ("http", "https"):
                await self._download_http(uri, target, digest)
            elif parsed.scheme == "file" or (not parsed.scheme and uri.value.startswith("/")):
                source = Path(urllib.parse.unquote(parsed.path) if parsed.scheme else uri.value)
                await asyncio.to_thread(_copy_local, source, target, digest)
            else:
                raise FetchError(
                    f"URI '{uri.value}': unsupported scheme (use http(s)://, file:// "
                    "or an absolute path)"
                )
        except FetchError:
            raise
        except (TimeoutError, OSError, aiohttp.ClientError) as e:
            raise FetchError(f"Failed to fetch '{uri.value}': {e}") from None
        if digest is not None and checksum is not None and digest.hexdigest() != checksum[1]:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            raise FetchError(
                f"Failed to fetch '{uri.value}': {checksum[0]} checksum mismatch "
                f"(expected {checksum[1]}, got {digest.hexdigest()})"
            )

    async def _download_http(self, uri: URI, target: Path, digest: hashlib._Hash | None) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
            )
        async with self._session.get(uri.value) as response:
            if response.status != 200:
                raise FetchError(
                    f"Failed to fetch '{uri.value}': HTTP {response.status} {response.reason}"
                )
            with open(target, "wb") as out:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    out.write(chunk)
                    if digest is not None:
                        digest.update(chunk)


def _copy_local(source: Path, target: Path, digest: hashlib._Hash | None) -> None:
    if not source.is_file():
        raise FetchError(f"Failed to fetch '{source}': no such file")
    with open(source, "rb") as src, open(target, "wb") as out:
        while chunk := src.read(_CHUNK):
            out.write(chunk)
            if digest is not None:
                digest.update(chunk)


def _digest_file(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- extraction -----------------------------------------------------------------------


def _check_member_path(dest: Path, name: str, archive: str) -> Path:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts:
        raise FetchError(f"Refusing to extract '{archive}': member '{name}' escapes the sandbox")
    target = dest / pure
    if not _inside(dest, target):
        raise FetchError(
            f"Refusing to extract '{archive}': member '{name}' escapes the sandbox "
            "(through a symlink)"
        )
    return target


def extract(archive: Path, dest: Path, uri: str = "") -> None:
    """Extract `archive` into `dest`, refusing members that would land outside it."""
    label = uri or archive.name
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                for info in z.infolist():
                    _check_member_path(dest, info.filename, label)
                z.extractall(dest)
            return
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                target = _check_member_path(dest, member.name, label)
                if member.issym() or member.islnk():
                    link = PurePosixPath(member.linkname)
                    base = dest if member.islnk() else target.parent
                    if link.is_absolute() or not _inside(dest, base / link):
                        raise FetchError(
                            f"Refusing to extract '{label}': member '{member.name}' links to "
                            f"'{member.linkname}' outside the sandbox"
                        )
                elif member.isdev():
                    raise FetchError(
                        f"Refusing to extract '{label}': member '{member.name}' is a device file"
                    )
            # where tarfile has extraction filters (3.11.4+), the data filter re-checks
            # the same rules; Debian 12's 3.11.2 lacks them, and the checks above suffice
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=members, filter="data")
            else:
                tar.extractall(dest, members=members)
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as e:
        raise FetchError(f"Failed to extract '{label}': {e}") from None
