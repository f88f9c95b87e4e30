"""Finding the leading master, the way Mesos clients do.

`MasterDetector` watches the `--zk` path and resolves the leader: the lowest `json.info_`
child's MasterInfo. `StaticMasterDetector` stands for a fixed `host:port`. `open_detector`
picks one for a `--master` value and `leading_master` answers once: the agent, the
scheduler library and the CLI all go through these.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from kazoo.exceptions import KazooException, NoNodeError
from kazoo.protocol.states import KazooState, WatchedEvent

from mesos_runtime.discovery.contender import contenders_in
from mesos_runtime.discovery.master_info import from_znode_data, master_endpoint
from mesos_runtime.discovery.zk_client import await_result, listen, make_client, threadsafe
from mesos_runtime.discovery.zk_url import ZooKeeperURL, is_zk_url, parse_zk_url
from mesos_runtime.wire.address import AddressError, split_master_url
from mesos_runtime.wire.mesos import MasterInfo

__all__ = [
    "DEFAULT_MASTER_PORT",
    "Endpoint",
    "LeaderDetector",
    "MasterDetector",
    "StaticMasterDetector",
    "leading_master",
    "open_detector",
    "parse_master_address",
]

log = logging.getLogger(__name__)

DEFAULT_MASTER_PORT = 5050
_RETRY_PAUSE = 0.5

Endpoint = tuple[str, int]
"""(host, port) of a master's HTTP API."""


class LeaderDetector(Protocol):
    """What a client follows: the leading master's endpoint, and changes to it."""

    @property
    def endpoint(self) -> Endpoint | None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def detect(
        self, previous: Endpoint | None = None, timeout: float | None = None
    ) -> Endpoint | None: ...


class MasterDetector:
    """Watch `url.path` and keep the leading master's MasterInfo (or None when there is none).

    While the session is merely suspended the last leader is kept, as in Mesos; once the
    session is lost there is no known leader until the detector has looked again.
    """

    def __init__(
        self,
        url: ZooKeeperURL,
        *,
        session_timeout: float = 10.0,
        on_change: Callable[[MasterInfo | None], None] | None = None,
    ) -> None:
        self.url = url
        self.session_timeout = session_timeout
        self.client = make_client(url, session_timeout)
        self._on_change = on_change
        self._leader: MasterInfo | None = None
        self._connected = False
        self._closing = False
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._watch: Callable[[WatchedEvent], None] | None = None

    @property
    def leader(self) -> MasterInfo | None:
        return self._leader

    @property
    def endpoint(self) -> Endpoint | None:
        return master_endpoint(self._leader) if self._leader is not None else None

    async def start(self) -> None:
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        self._watch = threadsafe(loop, lambda _event: self._wake.set())
        listen(self.client, loop, self._set_connected, self._state_changed)
        self._task = asyncio.create_task(self._run(), name="master-detector")
        self.client.start_async()

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(_stop_client, self.client)

    async def detect_info(
        self, previous: MasterInfo | None = None, timeout: float | None = None
    ) -> MasterInfo | None:
        """Return the leader once it differs from `previous` (None: the leader went away).

        With `previous=None` this waits for a leader. Raises TimeoutError after `timeout`.
        """
        async with asyncio.timeout(timeout):
            while self._leader == previous:
                await self._changed.wait()
        return self._leader

    async def detect(
        self, previous: Endpoint | None = None, timeout: float | None = None
    ) -> Endpoint | None:
        """Like `detect_info`, comparing endpoints: what a client reconnects on."""
        async with asyncio.timeout(timeout):
            while self.endpoint == previous:
                await self._changed.wait()
        return self.endpoint

    # --- on the loop ------------------------------------------------------------------

    def _set_connected(self, connected: bool) -> None:  # kazoo's connection thread
        self._connected = connected

    def _state_changed(self, state: KazooState) -> None:
        if state == KazooState.LOST:
            self._set_leader(None)
        self._wake.set()

    async def _run(self) -> None:
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            if self._closing or not self._connected:
                continue
            try:
                await self._look()
            except (KazooException, TimeoutError) as e:
                log.info("reading masters under %s failed (%r); retrying", self.url.path, e)
                asyncio.get_running_loop().call_later(_RETRY_PAUSE, self._wake.set)
            except Exception:  # a detector must keep following the leader
                log.exception("reading masters under %s failed; retrying", self.url.path)
                asyncio.get_running_loop().call_later(_RETRY_PAUSE, self._wake.set)

    async def _look(self) -> None:
        try:
            children = await self._call(
                self.client.get_children_async(self.url.path, watch=self._watch)
            )
        except NoNodeError:
            # no master ever contended: wait for the path to appear
            if await self._call(self.client.exists_async(self.url.path, watch=self._watch)):
                self._wake.set()
            self._set_leader(None)
            return
        order = contenders_in(children)
        if not order:
            self._set_leader(None)
            return
        try:
            data, _stat = await self._call(self.client.get_async(self.url.child(order[0])))
        except NoNodeError:
            self._wake.set()  # the leader just went; the child watch fires too
            return
        try:
            info = from_znode_data(data)
        except ValueError as e:
            log.warning("leading znode %s does not hold MasterInfo JSON: %s", order[0], e)
            self._set_leader(None)
            return
        self._set_leader(info)

    async def _call(self, result: Any) -> Any:
        return await await_result(result, self.session_timeout)

    def _set_leader(self, info: MasterInfo | None) -> None:
        if info == self._leader:
            return
        self._leader = info
        log.info("leading master: %s", info.pid if info is not None else "none")
        self._changed.set()
        self._changed = asyncio.Event()
        if self._on_change is not None:
            self._on_change(info)


class StaticMasterDetector:
    """A master given as `host:port`: always that one (standalone clusters)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    @property
    def endpoint(self) -> Endpoint | None:
        return self._endpoint

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def detect(
        self, previous: Endpoint | None = None, timeout: float | None = None
    ) -> Endpoint | None:
        if previous == self._endpoint:
            # it never changes: wait as long as asked, like a ZooKeeper detector would
            await asyncio.sleep(timeout if timeout is not None else float("inf"))
            raise TimeoutError(f"master {self._endpoint} is fixed")
        return self._endpoint


def parse_master_address(master: str) -> Endpoint:
    """`host:port`, `http://host:port[/...]`, `master@ip:port` or `host` → (host, port)."""
    try:
        _scheme, host, port = split_master_url(master, DEFAULT_MASTER_PORT)
    except AddressError as e:
        raise ValueError(
            f"--master={master!r}: {e} (expected host:port, http://host:port, zk://... or "
            "file:///...)"
        ) from None
    return host, port


def _resolve_file(master: str) -> str:
    """Mesos reads `--master=file:///path` from the file (a zk:// URL or host:port)."""
    if not master.strip().startswith("file://"):
        return master
    path = Path(master.strip()[len("file://") :])
    try:
        return path.read_text().strip()
    except OSError as e:
        raise ValueError(f"--master={master!r}: cannot read {path}: {e.strerror}") from None


def open_detector(master: str, *, session_timeout: float = 10.0) -> LeaderDetector:
    """A (not yet started) detector for a `--master` value of any accepted form."""
    master = _resolve_file(master)
    if is_zk_url(master):
        return MasterDetector(parse_zk_url(master), session_timeout=session_timeout)
    return StaticMasterDetector(parse_master_address(master))


async def leading_master(
    master: str, timeout: float = 30.0, *, session_timeout: float = 10.0
) -> Endpoint:
    """The leading master's (host, port) for a `--master` value.

    `host:port` and `http://host:port` are answered as given; `zk://...` (or a file holding
    one) waits up to `timeout` seconds for a leader to be advertised, else TimeoutError.
    """
    detector = open_detector(master, session_timeout=session_timeout)
    if isinstance(detector, StaticMasterDetector):
        assert detector.endpoint is not None
        return detector.endpoint
    await detector.start()
    try:
        endpoint = await detector.detect(None, timeout)
    except TimeoutError:
        raise TimeoutError(f"no leading master advertised at {master} within {timeout}s") from None
    finally:
        await detector.close()
    assert endpoint is not None
    return endpoint


async def await_other_leader(
    detector: LeaderDetector, failed: Endpoint | None, timeout: float
) -> Endpoint | None:
    """Back off after `failed` stopped answering: return the leader once ZooKeeper
    advertises one other than `failed` (at once after a failover), or None after `timeout`.

    A client reconnecting with a blind exponential backoff keeps waiting long after a new
    leader was elected; waiting on the election reconnects within the detection delay. A
    fixed `host:port` master has nothing to watch: this is a plain sleep.
    """
    if isinstance(detector, StaticMasterDetector):
        await asyncio.sleep(timeout)
        return detector.endpoint
    try:
        async with asyncio.timeout(timeout):
            current: Endpoint | None = None
            while True:
                current = await detector.detect(current)
                if current is not None and current != failed:
                    return current
    except TimeoutError:
        return None


async def leader_change(master: str, failed: Endpoint | None, timeout: float) -> None:
    """`await_other_leader` for a one-off caller, on a detector of its own."""
    detector = open_detector(master)
    await detector.start()
    try:
        await await_other_leader(detector, failed, timeout)
    finally:
        await detector.close()


def _stop_client(client: Any) -> None:
    with contextlib.suppress(KazooException, OSError):
        client.stop()
    with contextlib.suppress(KazooException, OSError):
        client.close()
