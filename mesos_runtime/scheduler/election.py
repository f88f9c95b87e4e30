"""Leader election among the instances of one scheduler, so that only one subscribes.

`ZooKeeperElection` is kazoo's lock recipe (the one its `Election` uses) run in a worker
thread and bridged into asyncio: the instance holding the lowest `__lock__` znode leads, and
stops leading the moment its session is suspended. `LocalElection` is the standalone case:
it leads at once, holding an exclusive `flock` so a second instance on the same state
directory is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from kazoo.exceptions import CancelledError as KazooCancelled
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.protocol.states import KazooState

__all__ = ["Election", "ElectionError", "LocalElection", "ZooKeeperElection"]

log = logging.getLogger(__name__)

_CONTENDER = re.compile(r"__lock__(-?\d{10})$")
_RETRY_PAUSE = 0.5


class ElectionError(Exception):
    """The election cannot be joined (e.g. another instance holds the standalone lock)."""


class Election(Protocol):
    """What a scheduler asks its election."""

    @property
    def is_leader(self) -> bool: ...

    @property
    def identifier(self) -> str: ...

    def fence_node(self) -> str | None: ...

    async def start(self) -> None: ...

    async def elected(self) -> None: ...

    async def lost(self) -> None: ...

    async def leader(self) -> str | None: ...

    async def abdicate(self) -> None: ...

    async def close(self) -> None: ...


class _Leadership:
    """The leading/not-leading flag with events to await either (on the loop)."""

    def __init__(self, on_change: Callable[[bool], None] | None) -> None:
        self.leading = False
        self.is_leading = asyncio.Event()
        self.is_not_leading = asyncio.Event()
        self.is_not_leading.set()
        self.on_change = on_change

    def set(self, leading: bool, why: str) -> None:
        if leading == self.leading:
            return
        self.leading = leading
        (self.is_leading if leading else self.is_not_leading).set()
        (self.is_not_leading if leading else self.is_leading).clear()
        log.log(logging.INFO if leading else logging.WARNING, "leadership: %s (%s)", leading, why)
        if self.on_change is not None:
            self.on_change(leading)


class LocalElection:
    """A standalone scheduler: it leads as soon as it holds `lock_file` (flock)."""

    def __init__(
        self,
        identifier: str,
        lock_file: Path | None = None,
        *,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self._identifier = identifier
        self.lock_file = lock_file
        self._fd: int | None = None
        self._state = _Leadership(on_change)

    @property
    def is_leader(self) -> bool:
        return self._state.leading

    @property
    def identifier(self) -> str:
        return self._identifier

    def fence_node(self) -> str | None:
        return None

    async def start(self) -> None:
        if self.lock_file is not None and self._fd is None:
            self.lock_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise ElectionError(
                    f"another instance holds {self.lock_file}: run one standalone scheduler "
                    "per state directory, or use ZooKeeper (zk://) for several"
                ) from None
            self._fd = fd
        self._state.set(True, "standalone")

    async def elected(self) -> None:
        await self._state.is_leading.wait()

    async def lost(self) -> None:
        await self._state.is_not_leading.wait()

    async def leader(self) -> str | None:
        return self._identifier if self._state.leading else None

    async def abdicate(self) -> None:
        """Alone, an instance is re-elected at once: leadership flips off and on again."""
        self._state.set(False, "abdicated")
        await asyncio.sleep(0)
        self._state.set(True, "standalone, re-elected")

    async def close(self) -> None:
        self._state.set(False, "closed")
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class ZooKeeperElection:
    """Contend under `path` with kazoo's lock recipe on a started `client`.

    `identifier` (e.g. `host:port`) is the lock znode's data: what the others read to find
    the leader. Leadership ends when the session is suspended or lost, on `abdicate()` (then
    this instance contends again, behind the others) and on `close()`.
    """

    def __init__(
        self,
        client: Any,
        path: str,
        identifier: str,
        *,
        on_change: Callable[[bool], None] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.client = client
        self.path = path.rstrip("/")
        self._identifier = identifier
        self.timeout = timeout
        self._state = _Leadership(on_change)
        self._connected = False
        self._lock: Any = None
        self._demote = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._connected_event = asyncio.Event()
        self._leader_cache: str | None = None
        self._leader_stale = True

    @property
    def is_leader(self) -> bool:
        """True only while elected AND the ZooKeeper session is connected."""
        return self._state.leading and self._connected

    @property
    def identifier(self) -> str:
        return self._identifier

    def fence_node(self) -> str | None:
        """Our lock znode's path while we lead (what the store's writes check)."""
        lock = self._lock
        if not self.is_leader or lock is None or lock.node is None:
            return None
        return f"{self.path}/{lock.node}"

    async def start(self) -> None:
        if self._task is not None:
            return
        from mesos_runtime.discovery.zk_client import listen

        loop = asyncio.get_running_loop()
        listen(self.client, loop, self._set_connected, self._state_changed)
        self._connected = self.client.connected
        if self._connected:
            self._connected_event.set()
        self._task = asyncio.create_task(self._run(), name=f"election {self.path}")

    def _set_connected(self, connected: bool) -> None:  # kazoo's connection thread
        self._connected = connected

    def _state_changed(self, state: KazooState) -> None:
        self._leader_stale = True
        if state == KazooState.CONNECTED:
            self._connected_event.set()
            return
        self._connected_event.clear()
        if self._state.leading:
            self._demote.set()
            self._state.set(False, f"ZooKeeper session {state.lower()}")

    async def elected(self) -> None:
        await self._state.is_leading.wait()

    async def lost(self) -> None:
        await self._state.is_not_leading.wait()

    async def _run(self) -> None:
        from mesos_runtime.discovery.zk_client import await_result

        while not self._closing:
            await self._connected_event.wait()
            if self._closing:
                return
            lock = self.client.Lock(self.path, self._identifier)
            self._lock = lock
            try:
                acquired = await asyncio.to_thread(lock.acquire, True, None)
            except KazooCancelled:
                return
            except (KazooException, TimeoutError) as e:
                log.info("contending under %s failed (%r); retrying", self.path, e)
                await asyncio.sleep(_RETRY_PAUSE)
                continue
            if not acquired or self._closing:
                continue
            if not self._connected:
                await self._release(lock)
                continue
            try:
                # reads go to this session's server, which may lag the quorum: catch up
                # before leading, so the new leader loads what the last one wrote
                await await_result(self.client.sync_async(self.path), self.timeout)
            except (KazooException, TimeoutError) as e:
                log.info("sync before leading failed (%r); contending again", e)
                await self._release(lock)
                continue
            self._demote.clear()
            self._leader_stale = True
            self._state.set(True, f"holds {self.path}/{lock.node}")
            await self._demote.wait()
            self._state.set(False, "stepping down")
            await self._release(lock)

    async def _release(self, lock: Any) -> None:
        with contextlib.suppress(KazooException, TimeoutError):
            await asyncio.wait_for(asyncio.to_thread(lock.release), self.timeout)
        self._leader_stale = True

    async def leader(self) -> str | None:
        """The identifier of the leading instance, or None when nobody leads."""
        if self.is_leader:
            return self._identifier
        if not self._leader_stale:
            return self._leader_cache
        from mesos_runtime.discovery.zk_client import await_result, threadsafe

        loop = asyncio.get_running_loop()
        watch = threadsafe(loop, self._invalidate)
        self._leader_stale = False
        try:
            children = await await_result(
                self.client.get_children_async(self.path, watch=watch), self.timeout
            )
            ranked = sorted((m.group(1), c) for c in children if (m := _CONTENDER.search(c)))
            leader = None
            for _, child in ranked:
                try:
                    data, _stat = await await_result(
                        self.client.get_async(f"{self.path}/{child}"), self.timeout
                    )
                except NoNodeError:
                    continue
                leader = bytes(data).decode() or None
                break
        except NoNodeError:
            leader = None
        except (KazooException, TimeoutError):
            self._leader_stale = True
            return None
        self._leader_cache = leader
        return leader

    def _invalidate(self, _event: Any = None) -> None:
        self._leader_stale = True

    async def abdicate(self) -> None:
        """Step down; contend again behind the instances already waiting."""
        if self._state.leading:
            self._demote.set()
            await self._state.is_not_leading.wait()

    async def close(self) -> None:
        self._closing = True
        self._state.set(False, "election closed")
        self._demote.set()
        self._connected_event.set()
        if self._lock is not None:
            self._lock.cancel()
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), self.timeout)
            self._task.cancel()
        if self._lock is not None:
            await self._release(self._lock)
