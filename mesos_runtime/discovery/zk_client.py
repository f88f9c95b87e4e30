"""kazoo clients for the daemons, bridged into asyncio.

kazoo runs its own threads; everything it reports (session state changes, watches, results
of `*_async` calls) is handed to the event loop with `loop.call_soon_threadsafe`, so the
contender, detector and store only ever change their state on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState
from kazoo.retry import KazooRetry
from kazoo.security import ACL, CREATOR_ALL_ACL, READ_ACL_UNSAFE

from mesos_runtime.discovery.zk_url import ZooKeeperURL

__all__ = ["await_result", "make_client", "threadsafe", "znode_acl"]

log = logging.getLogger(__name__)


def make_client(url: ZooKeeperURL, session_timeout: float) -> KazooClient:
    """A client for `url` that retries connecting forever with a short back-off.

    ZooKeeper negotiates the session timeout within [2, 20] ticks of its tickTime; kazoo
    reports SUSPENDED after about two thirds of it without an answer, before the server
    expires the session, which is what lets a leader step down before anyone replaces it.
    """
    return KazooClient(
        hosts=url.hosts,
        timeout=session_timeout,
        auth_data=url.auth_data or None,
        connection_retry=KazooRetry(max_tries=-1, delay=0.1, backoff=2, max_delay=1.0),
        logger=log,
    )


def znode_acl(url: ZooKeeperURL) -> list[ACL] | None:
    """With credentials, Mesos' ACL: the creator may do anything, everyone may read."""
    if url.username is None:
        return None
    return [*CREATOR_ALL_ACL, *READ_ACL_UNSAFE]


async def await_result(result: Any, timeout: float | None = None) -> Any:
    """Await a kazoo IAsyncResult on the running loop (cancellable, with a timeout)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(r: Any) -> None:
        if future.done():
            return
        if r.successful():
            future.set_result(r.value)
        else:
            future.set_exception(r.exception)

    def on_done(r: Any) -> None:  # kazoo's callback thread
        # the loop may have closed meanwhile: then nobody is waiting any more
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, r)

    result.rawlink(on_done)
    return await asyncio.wait_for(future, timeout)


def threadsafe(loop: asyncio.AbstractEventLoop, fn: Callable[..., None]) -> Callable[..., None]:
    """Wrap `fn` so kazoo's threads run it on `loop` (dropped once the loop closed)."""

    def call(*args: Any) -> None:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(fn, *args)

    return call


def listen(
    client: KazooClient,
    loop: asyncio.AbstractEventLoop,
    on_connected: Callable[[bool], None],
    on_state: Callable[[KazooState], None],
) -> None:
    """Follow `client`'s session: `on_connected` runs at once in kazoo's connection thread
    (so a connected flag never lags the session), `on_state` later on `loop`."""
    call_on_loop = threadsafe(loop, on_state)

    def listener(state: KazooState) -> None:
        on_connected(state == KazooState.CONNECTED)
        call_on_loop(state)

    client.add_listener(listener)
