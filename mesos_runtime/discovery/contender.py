"""A master contending for leadership in ZooKeeper, the way Mesos masters do.

The contender creates a sequential ephemeral `<path>/json.info_<seq>` znode holding its
MasterInfo JSON; it leads while that znode is the lowest `json.info_` child. The moment its
session is suspended or lost it stops leading (before any other master can be elected,
since the server keeps the znode until the session expires), and after a lost session it
contends again with a fresh znode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
import time
from collections.abc import Callable
from typing import Any

from kazoo.exceptions import ConnectionLoss, KazooException, NoNodeError
from kazoo.protocol.states import KazooState, WatchedEvent

from mesos_runtime.discovery.master_info import to_znode_data
from mesos_runtime.discovery.zk_client import (
    await_result,
    listen,
    make_client,
    threadsafe,
    znode_acl,
)
from mesos_runtime.discovery.zk_url import ZooKeeperURL
from mesos_runtime.wire.mesos import MasterInfo

__all__ = ["MASTER_ZNODE_PREFIX", "MasterContender", "contenders_in", "sequence_of"]

log = logging.getLogger(__name__)

MASTER_ZNODE_PREFIX = "json.info_"
_RETRY_PAUSE = 0.5


def sequence_of(name: str) -> int | None:
    """The sequence number of a `json.info_<seq>` child; None for any other child."""
    if not name.startswith(MASTER_ZNODE_PREFIX):
        return None
    suffix = name[len(MASTER_ZNODE_PREFIX) :]
    return int(suffix) if suffix.isdigit() else None


def contenders_in(children: list[str]) -> list[str]:
    """The masters' `json.info_` children in election order (lowest sequence first)."""
    ranked = [(seq, c) for c in children if (seq := sequence_of(c)) is not None]
    return [c for _, c in sorted(ranked)]


class MasterContender:
    """Contend for leadership under `url.path` while advertising `info`.

    Use from one event loop: `await start()` (the MasterInfo may be given there), then
    `await elected()` / `await lost()`, or pass `on_change(leading)`, which runs on the
    loop whenever leadership flips.
    `is_leader` turns False from kazoo's thread the instant the session is suspended.
    """

    def __init__(
        self,
        url: ZooKeeperURL,
        info: MasterInfo | None = None,
        *,
        session_timeout: float = 10.0,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.url = url
        self.info = info
        self.session_timeout = session_timeout
        self.client = make_client(url, session_timeout)
        self._on_change = on_change
        self._data = b""
        self._acl = znode_acl(url)
        self._connected = False  # written by kazoo's connection thread
        self._leading = False
        self._elected_time: float | None = None
        self._znode: str | None = None
        self._znode_session: int | None = None
        self._create_uncertain = False
        self._closing = False
        self._wake = asyncio.Event()
        self._is_leading = asyncio.Event()
        self._is_not_leading = asyncio.Event()
        self._is_not_leading.set()
        self._task: asyncio.Task[None] | None = None
        self._watch: Callable[[WatchedEvent], None] | None = None

    # --- what the master reads ------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """True only while elected AND the ZooKeeper session is connected."""
        return self._leading and self._connected

    @property
    def elected_time(self) -> float | None:
        """When (epoch seconds) this master last became leader, while it leads."""
        return self._elected_time if self.is_leader else None

    @property
    def znode(self) -> str | None:
        """Our `json.info_` znode's full path, while we hold one."""
        return self._znode

    async def elected(self) -> None:
        """Return once this master leads."""
        await self._is_leading.wait()

    async def lost(self) -> None:
        """Return once this master does not lead (at once if it does not lead now)."""
        await self._is_not_leading.wait()

    # --- lifecycle --------------------------------------------------------------------

    async def start(self, info: MasterInfo | None = None) -> None:
        """Connect (retrying forever in the background) and start contending.

        `info` (if not given to the constructor) is the MasterInfo to advertise.
        """
        if self._task is not None:
            return
        self.info = info or self.info
        if self.info is None:
            raise ValueError("a contender needs the MasterInfo it advertises")
        self._data = to_znode_data(self.info)
        loop = asyncio.get_running_loop()
        self._watch = threadsafe(loop, lambda _event: self._wake.set())
        # `_connected` flips in kazoo's thread, before the loop gets to it: is_leader must
        # not lag the session
        listen(self.client, loop, self._set_connected, self._state_changed)
        self._task = asyncio.create_task(self._run(), name="master-contender")
        self.client.start_async()

    async def close(self) -> None:
        """Withdraw: stop leading, close the session (ZooKeeper drops our znode with it)."""
        self._closing = True
        self._demote("contender closed")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self._stop_client)
        self._znode = None

    def _stop_client(self) -> None:
        with contextlib.suppress(KazooException, OSError):
            self.client.stop()
        with contextlib.suppress(KazooException, OSError):
            self.client.close()

    # --- state machine (on the loop) --------------------------------------------------

    def _set_connected(self, connected: bool) -> None:  # kazoo's connection thread
        self._connected = connected

    def _state_changed(self, state: KazooState) -> None:
        if state == KazooState.SUSPENDED:
            self._demote("ZooKeeper session suspended")
        elif state == KazooState.LOST:
            self._demote("ZooKeeper session lost")
            self._znode = None  # it went with the session
            self._create_uncertain = False
        self._wake.set()

    async def _run(self) -> None:
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            if self._closing or not self._connected:
                continue
            try:
                await self._contend()
            except (KazooException, TimeoutError) as e:
                log.info("contending under %s failed (%r); retrying", self.url.path, e)
                asyncio.get_running_loop().call_later(_RETRY_PAUSE, self._wake.set)
            except Exception:  # a contender must never stop contending
                log.exception("contending under %s failed; retrying", self.url.path)
                asyncio.get_running_loop().call_later(_RETRY_PAUSE, self._wake.set)

    async def _contend(self) -> None:
        session = self.client.client_id[0] if self.client.client_id else None
        if self._znode is not None and self._znode_session != session:
            self._znode = None  # a znode of an earlier session: gone with it
        if self._znode is None and self._create_uncertain:
            self._znode = await self._adopt_orphan(session)
            self._create_uncertain = False
        if self._znode is None:
            await self._create(session)
        children = await self._call(
            self.client.get_children_async(self.url.path, watch=self._watch)
        )
        order = contenders_in(children)
        mine = posixpath.basename(self._znode or "")
        if mine not in order:
            # deleted under us (an operator, or its session expired): contend afresh
            self._demote(f"our znode {self._znode} disappeared")
            self._znode = None
            self._wake.set()
            return
        if order[0] == mine:
            self._promote()
        else:
            self._demote(f"{order[0]} leads")

    async def _create(self, session: int | None) -> None:
        try:
            path = await self._call(
                self.client.create_async(
                    self.url.child(MASTER_ZNODE_PREFIX),
                    self._data,
                    acl=self._acl,
                    ephemeral=True,
                    sequence=True,
                    makepath=True,
                )
            )
        except (ConnectionLoss, TimeoutError):
            # the server may have created it anyway: find it by owner before creating again
            self._create_uncertain = True
            raise
        self._znode, self._znode_session = path, session
        log.info("contending for leadership as %s", path)

    async def _adopt_orphan(self, session: int | None) -> str | None:
        children = await self._call(self.client.get_children_async(self.url.path))
        for name in contenders_in(children):
            path = self.url.child(name)
            try:
                stat = await self._call(self.client.exists_async(path))
            except NoNodeError:
                continue
            if stat is not None and stat.ephemeralOwner == session:
                self._znode_session = session
                return path
        return None

    async def _call(self, result: Any) -> Any:
        return await await_result(result, self.session_timeout)

    def _promote(self) -> None:
        if self._leading or not self._connected or self._closing:
            return
        self._leading = True
        self._elected_time = time.time()
        self._is_not_leading.clear()
        self._is_leading.set()
        log.info("elected leading master (%s)", self._znode)
        if self._on_change is not None:
            self._on_change(True)

    def _demote(self, reason: str) -> None:
        if not self._leading:
            return
        self._leading = False
        self._elected_time = None
        self._is_leading.clear()
        self._is_not_leading.set()
        log.log(logging.INFO if self._closing else logging.WARNING, "lost leadership: %s", reason)
        if self._on_change is not None:
            self._on_change(False)
