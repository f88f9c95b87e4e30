"""Where to reach the leading master: turns a `--master` string into a base URL.

`host:port` and `http(s)://host:port` resolve here; `zk://` (the lowest `json.info_` znode
under the path) and `file://` are resolved by `mesos_runtime.discovery`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mesos_runtime.wire.address import AddressError, join_host_port, split_master_url

__all__ = ["LeaderFollower", "MasterAddressError", "backoff", "base_url", "detect_leader"]


if TYPE_CHECKING:
    from mesos_runtime.discovery import LeaderDetector


class MasterAddressError(ValueError):
    """A master address that cannot be used: the message says what form is expected."""


def base_url(master: str) -> str:
    """`host:port`, `http://host:port[/]` or `https://...` → `http(s)://host:port`."""
    if not master.strip():
        raise MasterAddressError("master address is empty (expected host:port)")
    try:
        scheme, host, port = split_master_url(master, DEFAULT_MASTER_PORT)
    except AddressError as e:
        raise MasterAddressError(
            f"master address {master!r}: {e} "
            "(expected host:port, http://host:port or zk://host:port/path)"
        ) from None
    return f"{scheme}://{join_host_port(host, port)}"


async def detect_leader(master: str, timeout: float = 30.0) -> str:
    """The base URL of the leading master for `master` (`host:port`, URL, `zk://`, `file://`).

    Raises TimeoutError when ZooKeeper advertises no leader within `timeout` seconds.
    """
    if master.strip().startswith(_DISCOVERED):
        # ZooKeeper detection lives in mesos_runtime.discovery (HA); imported lazily so a
        # plain address needs neither kazoo nor its threads
        from mesos_runtime.discovery import detect_leader as detect_in_zookeeper

        return base_url(await detect_in_zookeeper(master, timeout))
    return base_url(master)


async def backoff(master: str, failed_url: str | None, delay: float) -> None:
    """Wait `delay` seconds before reconnecting, or less: with ZooKeeper discovery, until a
    leader other than `failed_url` is advertised (so a failover is followed at once)."""
    if not master.strip().startswith(_DISCOVERED):
        await asyncio.sleep(delay)
        return
    from mesos_runtime.discovery import leader_change

    failed = None
    if failed_url:
        parts = urlsplit(failed_url)
        if parts.hostname and parts.port:
            failed = (parts.hostname, parts.port)
    await leader_change(master, failed, delay)


class LeaderFollower:
    """Where one client finds the leading master for as long as it lives: a fixed address
    answers at once; with `zk://` (or a `file://` holding one) a single ZooKeeper session
    follows the election (discovery's detector, the one the agent uses), instead of a
    session opened per lookup."""

    def __init__(self, master: str, *, session_timeout: float = 10.0) -> None:
        self.master = master
        self.session_timeout = session_timeout
        self._detector: LeaderDetector | None = None

    @property
    def discovered(self) -> bool:
        return self.master.strip().startswith(_DISCOVERED)

    @property
    def endpoint(self) -> tuple[str, int] | None:
        """The leader as last seen through ZooKeeper (None: not looked up, or none)."""
        return self._detector.endpoint if self._detector is not None else None

    async def leader(self, timeout: float = 30.0) -> str:
        """The leading master's base URL; TimeoutError when none is advertised in time."""
        if not self.discovered:
            return base_url(self.master)
        detector = await self._started()
        endpoint = detector.endpoint
        if endpoint is None:
            try:
                endpoint = await detector.detect(None, timeout)
            except TimeoutError:
                raise TimeoutError(
                    f"no leading master advertised at {self.master} within {timeout}s"
                ) from None
            assert endpoint is not None
        return base_url(join_host_port(*endpoint))

    async def backoff(self, failed_url: str | None, delay: float) -> None:
        """Wait `delay` seconds, or less: until a leader other than `failed_url` leads."""
        if not self.discovered:
            await asyncio.sleep(delay)
            return
        from mesos_runtime.discovery import await_other_leader

        detector = await self._started()
        await await_other_leader(detector, _endpoint_of(failed_url), delay)

    async def close(self) -> None:
        detector, self._detector = self._detector, None
        if detector is not None:
            await detector.close()

    async def _started(self) -> LeaderDetector:
        if self._detector is None:
            # ZooKeeper detection lives in mesos_runtime.discovery (HA); imported lazily so
            # a plain address needs neither kazoo nor its threads
            from mesos_runtime.discovery import open_detector

            self._detector = open_detector(self.master, session_timeout=self.session_timeout)
            await self._detector.start()
        return self._detector


def _endpoint_of(url: str | None) -> tuple[str, int] | None:
    if not url:
        return None
    parts = urlsplit(url)
    return (parts.hostname, parts.port) if parts.hostname and parts.port else None


_DISCOVERED = ("zk://", "file://")
DEFAULT_MASTER_PORT = 5050
