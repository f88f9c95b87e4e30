"""Where to reach the leading master: turns a `--master` string into a base URL.

`host:port` and `http(s)://host:port` resolve here; `zk://` (the lowest `json.info_` znode
under the path) and `file://` are resolved by `mesos_runtime.discovery`.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

__all__ = ["MasterAddressError", "backoff", "base_url", "detect_leader"]


class MasterAddressError(ValueError):
    """A master address that cannot be used: the message says what form is expected."""


def base_url(master: str) -> str:
    """`host:port`, `http://host:port[/]` or `https://...` → `http(s)://host:port`."""
    text = master.strip()
    if not text:
        raise MasterAddressError("master address is empty (expected host:port)")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise MasterAddressError(
            f"master address {master!r}: unsupported scheme {parts.scheme!r} "
            "(expected host:port, http://host:port or zk://host:port/path)"
        )
    try:
        port = parts.port
    except ValueError:
        raise MasterAddressError(f"master address {master!r}: invalid port") from None
    if not parts.hostname:
        raise MasterAddressError(f"master address {master!r}: missing host")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default_port = 5050
    return f"{parts.scheme}://{host}:{port or default_port}"


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


_DISCOVERED = ("zk://", "file://")
