"""One place that turns a scheduler's state location into its store and its election.

`zk://host:port,.../path` → a ZooKeeper session shared by a `ZooKeeperElection` under
`<path>/leader` and a fenced `ZooKeeperStateStore` under `<path>/state`; a directory → a
`FileStateStore` there and a `LocalElection` holding `<dir>/.lock`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .election import Election, LocalElection, ZooKeeperElection
from .store import FileStateStore, StateStore, StoreError, ZooKeeperStateStore

__all__ = ["SchedulerHA", "open_ha"]


@dataclass
class SchedulerHA:
    """A scheduler instance's store and election (and the ZooKeeper session behind them)."""

    location: str
    store: StateStore
    election: Election
    zk_client: Any = None
    _closed: bool = field(default=False, repr=False)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.election.close()
        await self.store.close()
        if self.zk_client is not None:
            await asyncio.to_thread(_stop, self.zk_client)


def _stop(client: Any) -> None:
    from kazoo.exceptions import KazooException

    with contextlib.suppress(KazooException, OSError):
        client.stop()
    with contextlib.suppress(KazooException, OSError):
        client.close()


async def open_ha(
    location: str,
    identifier: str,
    *,
    session_timeout: float = 10.0,
    connect_timeout: float = 30.0,
    on_change: Callable[[bool], None] | None = None,
) -> SchedulerHA:
    """Open (and start) the store and election for `location` (`zk://...` or a directory).

    Raises StoreError when ZooKeeper cannot be reached within `connect_timeout` seconds or
    the directory cannot be used; the election is started, not yet won.
    """
    if location.strip().startswith("zk://"):
        from mesos_runtime.discovery.zk_client import make_client, znode_acl
        from mesos_runtime.discovery.zk_url import parse_zk_url

        url = parse_zk_url(location)
        client = make_client(url, session_timeout)
        event = client.start_async()
        if not await asyncio.to_thread(event.wait, connect_timeout) or not client.connected:
            await asyncio.to_thread(_stop, client)
            raise StoreError(f"cannot reach ZooKeeper at {url} within {connect_timeout:g}s")
        election = ZooKeeperElection(
            client, url.child("leader"), identifier, on_change=on_change, timeout=session_timeout
        )
        store = ZooKeeperStateStore(
            client,
            url.child("state"),
            fence=election.fence_node,
            acl=znode_acl(url),
            timeout=session_timeout,
        )
        await election.start()
        return SchedulerHA(location, store, election, client)
    root = Path(location).expanduser()
    local = LocalElection(identifier, root / ".lock", on_change=on_change)
    file_store = FileStateStore(root, fence=lambda: local.is_leader)
    await local.start()
    return SchedulerHA(location, file_store, local)
