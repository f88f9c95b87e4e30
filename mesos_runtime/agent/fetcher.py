"""The fetcher: puts a command's URIs (http(s), file:// and absolute local paths) into a
sandbox before the command starts.

It verifies a URI's `checksum` (`sha256:<hex>` / `sha512:<hex>`), keeps a per-agent cache
for URIs marked `cache` (keyed by URI, least recently used evicted beyond
`--fetcher_cache_size`), sets the executable bit, and extracts archives (.tar, .tar.gz,
.tgz, .tar.bz2, .tar.xz, .zip) refusing any member that would land outside the sandbox.
Everything is written without following links (extraction.py); with a task user, it owns
what is fetched and local files are read with its permissions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import tarfile
import time
import urllib.parse
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import aiohttp

from mesos_runtime.wire.mesos import URI

from . import extraction
from .extraction import SandboxWriter, UnsafeMember
from .users import TaskUser

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

    async def fetch(self, uris: list[URI], sandbox: Path, user: TaskUser | None = None) -> None:
        """Fetch every URI in order; raise FetchError naming the first that fails. With a
        `user`, what is fetched belongs to it and local files are read as it."""
        for uri in uris:
            await self._fetch_one(uri, sandbox, user)

    async def _fetch_one(self, uri: URI, sandbox: Path, user: TaskUser | None) -> None:
        checksum = _expected_checksum(uri)
        name = uri.output_file or _basename(uri)
        try:
            SandboxWriter.parts(name)
        except UnsafeMember:
            raise FetchError(
                f"URI '{uri.value}': output_file {name!r} escapes the sandbox"
            ) from None
        mode = 0o755 if uri.executable else 0o644
        owner = user.owner if user is not None else None
        try:
            # the file is created without following links, and extracted from the very
            # descriptor written: nothing in the sandbox can redirect either step
            with SandboxWriter(sandbox, owner) as tree, tree.create_file(name, mode) as out:
                try:
                    if uri.cache:
                        await self._fetch_cached(uri, out, checksum, user)
                    else:
                        await self._download(uri, out, checksum, user)
                except BaseException:
                    tree.remove(name)  # nothing half-fetched stays behind
                    raise
                if not uri.executable and uri.extract is not False and _is_archive(name):
                    out.flush()
                    out.seek(0)
                    dest = sandbox.joinpath(*SandboxWriter.parts(name)[:-1])
                    await asyncio.to_thread(extract, out, dest, sandbox, owner, uri.value)
        except UnsafeMember as e:
            raise FetchError(f"URI '{uri.value}': {e}") from None
        except OSError as e:
            raise FetchError(f"Failed to fetch '{uri.value}' into the sandbox: {e}") from None

    # --- the cache ------------------------------------------------------------------

    def _cache_entry(self, uri: URI) -> Path:
        key = hashlib.sha256(uri.value.encode()).hexdigest()[:32]
        return self.cache_dir / key / _basename(uri)

    async def _fetch_cached(
        self,
        uri: URI,
        out: BinaryIO,
        checksum: tuple[str, str] | None,
        user: TaskUser | None,
    ) -> None:
        entry = self._cache_entry(uri)
        if user is not None and _is_local(uri):
            # a local file is read as the task's user: the cache (read by the agent) would
            # hand it to users who may not read it
            await self._download(uri, out, checksum, user)
            return
        async with self._cache_lock:
            if entry.exists():
                if checksum is None or _digest_file(entry, checksum[0]) == checksum[1]:
                    _touch(entry)  # most recently used
                    await asyncio.to_thread(_copy_into, entry, out)
                    return
                entry.unlink()  # stale: the artifact behind the URI changed
        entry.parent.mkdir(parents=True, exist_ok=True)
        partial = entry.with_name(f".{entry.name}.{os.getpid()}.part")
        try:
            with open(partial, "wb") as cached:
                await self._download(uri, cached, checksum, None)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise
        async with self._cache_lock:
            partial.replace(entry)
            _touch(entry)
            self._evict(keep=entry)
        await asyncio.to_thread(_copy_into, entry, out)

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

    async def _download(
        self,
        uri: URI,
        out: BinaryIO,
        checksum: tuple[str, str] | None,
        user: TaskUser | None,
    ) -> None:
        parsed = urllib.parse.urlparse(uri.value)
        digest = hashlib.new(checksum[0]) if checksum else None
        try:
            if parsed.scheme in ("http", "https"):
                await self._download_http(uri, out, digest)
            elif _is_local(uri):
                source = Path(urllib.parse.unquote(parsed.path) if parsed.scheme else uri.value)
                if user is None:
                    await asyncio.to_thread(_copy_local, source, out, digest)
                else:
                    await _copy_local_as(source, out, digest, user)
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
            raise FetchError(
                f"Failed to fetch '{uri.value}': {checksum[0]} checksum mismatch "
                f"(expected {checksum[1]}, got {digest.hexdigest()})"
            )

    async def _download_http(self, uri: URI, out: BinaryIO, digest: hashlib._Hash | None) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
            )
        async with self._session.get(uri.value) as response:
            if response.status != 200:
                raise FetchError(
                    f"Failed to fetch '{uri.value}': HTTP {response.status} {response.reason}"
                )
            async for chunk in response.content.iter_chunked(_CHUNK):
                out.write(chunk)
                if digest is not None:
                    digest.update(chunk)


def _touch(path: Path) -> None:
    # the file system's own clock ticks in jiffies: a hit and a download in the same tick
    # would tie, and the least recently used could not be told apart
    now = time.time_ns()
    os.utime(path, ns=(now, now))


def _is_local(uri: URI) -> bool:
    scheme = urllib.parse.urlparse(uri.value).scheme
    return scheme == "file" or (not scheme and uri.value.startswith("/"))


def _copy_local(source: Path, out: BinaryIO, digest: hashlib._Hash | None) -> None:
    if not source.is_file():
        raise FetchError(f"Failed to fetch '{source}': no such file")
    with open(source, "rb") as src:
        while chunk := src.read(_CHUNK):
            out.write(chunk)
            if digest is not None:
                digest.update(chunk)


async def _copy_local_as(
    source: Path, out: BinaryIO, digest: hashlib._Hash | None, user: TaskUser
) -> None:
    """Read a local file with the task user's permissions (a `cat` run as that user), so a
    task cannot fetch what its user may not read."""
    process = await asyncio.create_subprocess_exec(
        "cat",
        "--",
        str(source),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        user=user.uid,
        group=user.gid,
        extra_groups=list(user.groups),
    )
    assert process.stdout is not None and process.stderr is not None
    while chunk := await process.stdout.read(_CHUNK):
        out.write(chunk)
        if digest is not None:
            digest.update(chunk)
    error = (await process.stderr.read()).decode(errors="replace").strip()
    if await process.wait() != 0:
        raise FetchError(f"Failed to fetch '{source}' as user '{user.name}': {error}")


def _copy_into(source: Path, out: BinaryIO) -> None:
    with open(source, "rb") as src:
        shutil.copyfileobj(src, out, _CHUNK)


def _digest_file(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- extraction -----------------------------------------------------------------------


def extract(
    archive: BinaryIO,
    dest: Path,
    sandbox: Path,
    owner: tuple[int, int] | None = None,
    uri: str = "",
) -> None:
    """Extract the archive open in `archive` into `dest`, refusing any member that would
    land outside `sandbox` or leave a link pointing out of it (extraction.py)."""
    label = uri or getattr(archive, "name", "archive")

    def refuse(reason: str) -> FetchError:
        return FetchError(f"Refusing to extract '{label}': {reason}")

    try:
        extraction.extract(archive, dest, root=sandbox, owner=owner, refuse=refuse, name=label)
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as e:
        raise FetchError(f"Failed to extract '{label}': {e}") from None
