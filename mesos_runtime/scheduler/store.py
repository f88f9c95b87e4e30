"""A scheduler's durable key-value store: ZooKeeper for `zk://` locations, files otherwise.

Keys are (namespace, name): the namespace a `/`-separated path of safe segments
(`tasks`, `apps/versions`), the name any string (escaped by the store). Writes are atomic
(a ZooKeeper transaction; a file renamed over the old one after fsync) and, with a
`fence`, refused once this instance no longer leads (`NotLeader`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, RolledBackError

__all__ = [
    "MAX_VALUE_SIZE",
    "FileStateStore",
    "NotLeader",
    "StateStore",
    "StoreError",
    "ZooKeeperStateStore",
    "check_namespace",
]

# ZooKeeper refuses requests over jute.maxbuffer (1 MB by default): stay well below it
MAX_VALUE_SIZE = 900 * 1024
_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_MAX_NAME = 512


class StoreError(Exception):
    """A store operation failed (a bad key, a value too large, an unreadable store)."""


class NotLeader(StoreError):
    """This instance no longer leads: its writes are refused (fenced)."""


class StateStore(Protocol):
    """What schedulers persist through: bytes under (namespace, name)."""

    async def get(self, namespace: str, name: str) -> bytes | None: ...

    async def put(self, namespace: str, name: str, value: bytes) -> None: ...

    async def delete(self, namespace: str, name: str) -> None: ...

    async def names(self, namespace: str) -> list[str]: ...

    async def close(self) -> None: ...


def check_namespace(namespace: str) -> str:
    segments = namespace.split("/")
    if not all(_SEGMENT.match(s) for s in segments):
        raise StoreError(
            f"namespace {namespace!r}: expected '/'-separated segments of [a-z0-9_.-], "
            "each starting with a letter or digit"
        )
    return namespace


def _escape(name: str) -> str:
    """Any name → one safe path component (never '', '.', '..')."""
    if not name or len(name) > _MAX_NAME:
        raise StoreError(f"store key name must have 1-{_MAX_NAME} characters, got {len(name)}")
    escaped = quote(name, safe="-_~@+=,:")
    return "%2E" + escaped[1:] if escaped.startswith(".") else escaped


def _check_value(namespace: str, name: str, value: bytes) -> None:
    if len(value) > MAX_VALUE_SIZE:
        raise StoreError(
            f"{namespace}/{name}: value of {len(value)} bytes exceeds {MAX_VALUE_SIZE} bytes"
        )


# --- files ---------------------------------------------------------------------------------


class FileStateStore:
    """One file per key under `root/<namespace>/`, replaced atomically (write, fsync, rename).

    `fence` (e.g. the election's `is_leader`) is checked before each write.
    """

    def __init__(self, root: Path, *, fence: Callable[[], bool] | None = None) -> None:
        self.root = Path(root)
        self.fence = fence
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the state directory {self.root}: {e}") from None

    def _dir(self, namespace: str) -> Path:
        return self.root / check_namespace(namespace)

    def _require_leader(self) -> None:
        if self.fence is not None and not self.fence():
            raise NotLeader("this scheduler instance does not lead: write refused")

    async def get(self, namespace: str, name: str) -> bytes | None:
        path = self._dir(namespace) / _escape(name)
        return await asyncio.to_thread(_read_file, path)

    async def put(self, namespace: str, name: str, value: bytes) -> None:
        _check_value(namespace, name, value)
        self._require_leader()
        await asyncio.to_thread(_write_file, self._dir(namespace), _escape(name), value)

    async def delete(self, namespace: str, name: str) -> None:
        self._require_leader()
        path = self._dir(namespace) / _escape(name)
        await asyncio.to_thread(_remove_file, path)

    async def names(self, namespace: str) -> list[str]:
        directory = self._dir(namespace)
        return await asyncio.to_thread(_list_dir, directory)

    async def close(self) -> None:
        return None


def _read_file(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StoreError(f"cannot read {path}: {e.strerror}") from None


def _write_file(directory: Path, name: str, value: bytes) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(value)
                f.flush()
                os.fdatasync(f.fileno())
            os.replace(tmp, directory / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as e:
        raise StoreError(f"cannot write {directory / name}: {e.strerror}") from None


def _remove_file(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as e:
        raise StoreError(f"cannot remove {path}: {e.strerror}") from None


def _list_dir(directory: Path) -> list[str]:
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return []
    except OSError as e:
        if e.errno == errno.ENOTDIR:
            return []
        raise StoreError(f"cannot list {directory}: {e.strerror}") from None
    return sorted(
        unquote(e) for e in entries if not e.startswith(".tmp-") and (directory / e).is_file()
    )


# --- ZooKeeper -----------------------------------------------------------------------------


class ZooKeeperStateStore:
    """One znode per key under `root/<namespace>/` on a started kazoo `client`.

    With `fence` (a callable giving the election znode this instance holds while it leads)
    every write is one transaction that also checks that znode still exists, so an instance
    that lost its session, and with it its leadership, cannot write.
    """

    def __init__(
        self,
        client: Any,
        root: str,
        *,
        fence: Callable[[], str | None] | None = None,
        acl: Any = None,
        timeout: float = 10.0,
    ) -> None:
        self.client = client
        self.root = root.rstrip("/")
        self.fence = fence
        self.acl = acl
        self.timeout = timeout
        self._ensured: set[str] = set()

    def _dir(self, namespace: str) -> str:
        return f"{self.root}/{check_namespace(namespace)}"

    async def _call(self, result: Any) -> Any:
        from mesos_runtime.discovery.zk_client import await_result

        return await await_result(result, self.timeout)

    def _fence_node(self) -> str | None:
        if self.fence is None:
            return None
        node = self.fence()
        if node is None:
            raise NotLeader("this scheduler instance does not lead: write refused")
        return node

    async def _ensure(self, directory: str) -> None:
        if directory in self._ensured:
            return
        await asyncio.to_thread(self.client.ensure_path, directory, self.acl)
        self._ensured.add(directory)

    async def get(self, namespace: str, name: str) -> bytes | None:
        try:
            data, _stat = await self._call(
                self.client.get_async(f"{self._dir(namespace)}/{_escape(name)}")
            )
        except NoNodeError:
            return None
        return bytes(data)

    async def put(self, namespace: str, name: str, value: bytes) -> None:
        _check_value(namespace, name, value)
        fence = self._fence_node()
        directory = self._dir(namespace)
        path = f"{directory}/{_escape(name)}"
        await self._ensure(directory)
        for _ in range(3):
            exists = await self._call(self.client.exists_async(path))

            def write(txn: Any, stat: Any = exists) -> None:
                if stat is None:
                    txn.create(path, value, acl=self.acl)
                else:
                    txn.set_data(path, value, version=stat.version)

            _results, failure = await self._fenced(fence, write, "write")
            if failure is None:
                return
            if not isinstance(failure, NodeExistsError | NoNodeError | BadVersionError):
                raise StoreError(f"writing {path} failed: {failure!r}")
            # raced with a concurrent write or delete of the same key: read and retry
        raise StoreError(f"writing {path} kept racing with other writers")

    async def delete(self, namespace: str, name: str) -> None:
        fence = self._fence_node()
        path = f"{self._dir(namespace)}/{_escape(name)}"
        results, failure = await self._fenced(fence, lambda txn: txn.delete(path), "delete")
        if failure is None or isinstance(results[-1], NoNodeError):
            return  # deleted, or already gone
        raise StoreError(f"deleting {path} failed: {failure!r}")

    async def _fenced(
        self, fence: str | None, operations: Callable[[Any], None], what: str
    ) -> tuple[list[Any], Exception | None]:
        """One transaction of `operations`, after a check that `fence` still exists:
        (results, first failure); NotLeader when the fence is gone."""
        txn = self.client.transaction()
        if fence is not None:
            txn.check(fence, 0)
        operations(txn)
        results = await self._call(txn.commit_async())
        failure = _transaction_failure(results)
        if (
            failure is not None
            and fence is not None
            and isinstance(results[0], NoNodeError | BadVersionError)
        ):
            raise NotLeader(f"this scheduler instance lost leadership: {what} refused")
        return results, failure

    async def names(self, namespace: str) -> list[str]:
        try:
            children = await self._call(self.client.get_children_async(self._dir(namespace)))
        except NoNodeError:
            return []
        return sorted(unquote(c) for c in children)

    async def close(self) -> None:
        return None


def _transaction_failure(results: list[Any]) -> Exception | None:
    """The first real failure in a transaction's results (RolledBack entries are echoes)."""
    failures = [r for r in results if isinstance(r, Exception)]
    real = [r for r in failures if not isinstance(r, RolledBackError)]
    return real[0] if real else (failures[0] if failures else None)
