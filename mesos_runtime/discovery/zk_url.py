"""ZooKeeper URLs as Mesos takes them for `--zk` and `--master`.

`zk://[user:password@]host1:2181,host2:2181/path` names an ensemble and the znode path
masters contend under; `file:///some/file` names a file holding such a URL. Parsing
yields a `ZooKeeperURL`; anything else raises `ZooKeeperURLError` saying what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mesos_runtime.wire.address import AddressError, join_host_port, split_host_port

__all__ = ["DEFAULT_PORT", "ZooKeeperURL", "ZooKeeperURLError", "is_zk_url", "parse_zk_url"]

DEFAULT_PORT = 2181

_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9\-._]*[A-Za-z0-9])?$")


class ZooKeeperURLError(ValueError):
    """A `zk://` or `file://` URL that does not parse; the message names the problem."""


@dataclass(frozen=True, slots=True)
class ZooKeeperURL:
    """An ensemble (`servers`), the znode `path` under it, and optional digest credentials."""

    servers: tuple[tuple[str, int], ...]
    path: str
    username: str | None = None
    password: str | None = None

    @property
    def hosts(self) -> str:
        """The connect string ZooKeeper clients take: `host1:2181,host2:2181`."""
        return ",".join(join_host_port(h, p) for h, p in self.servers)

    @property
    def auth_data(self) -> list[tuple[str, str]]:
        """kazoo's `auth_data`: Mesos authenticates with the `digest` scheme."""
        if self.username is None:
            return []
        return [("digest", f"{self.username}:{self.password or ''}")]

    def child(self, name: str) -> str:
        return f"{self.path.rstrip('/')}/{name}"

    def sibling(self, suffix: str) -> str:
        """A path beside (not under) `path`, e.g. `/mesos` + `_registry` → `/mesos_registry`."""
        return self.path.rstrip("/") + suffix

    def __str__(self) -> str:
        """The URL with the password masked, safe for logs and `/flags`."""
        creds = f"{self.username}:****@" if self.username is not None else ""
        return f"zk://{creds}{self.hosts}{self.path}"


def is_zk_url(text: str) -> bool:
    return text.strip().startswith(("zk://", "file://"))


def parse_zk_url(text: str) -> ZooKeeperURL:
    """Parse `zk://...` or `file:///path` (a file containing a `zk://` URL)."""
    text = text.strip()
    if text.startswith("file://"):
        return _parse_file(text[len("file://") :])
    if not text.startswith("zk://"):
        raise ZooKeeperURLError(
            f"{text!r} is not a ZooKeeper URL: expected zk://host:port[,host:port...]/path "
            "or file:///path/to/file"
        )
    rest = text[len("zk://") :]
    slash = rest.find("/")
    if slash < 0:
        raise ZooKeeperURLError(
            f"{text!r} has no znode path: expected zk://host:port[,...]/path (e.g. /mesos)"
        )
    authority, path = rest[:slash], rest[slash:]
    username = password = None
    if "@" in authority:
        credentials, authority = authority.rsplit("@", 1)
        if ":" not in credentials:
            raise ZooKeeperURLError(
                f"{text!r}: credentials must be user:password before '@', got {credentials!r}"
            )
        username, password = credentials.split(":", 1)
        if not username:
            raise ZooKeeperURLError(f"{text!r}: empty user name before '@'")
    if not authority:
        raise ZooKeeperURLError(f"{text!r} names no ZooKeeper server before the path")
    servers = tuple(_parse_server(s, text) for s in authority.split(","))
    return ZooKeeperURL(servers, _check_path(path, text), username, password)


def _parse_file(name: str) -> ZooKeeperURL:
    if not name.startswith("/"):
        raise ZooKeeperURLError(f"file://{name}: the file must be an absolute path (file:///...)")
    try:
        content = Path(name).read_text().strip()
    except OSError as e:
        raise ZooKeeperURLError(f"cannot read ZooKeeper URL from {name}: {e.strerror}") from None
    if not content.startswith("zk://"):
        raise ZooKeeperURLError(f"{name} must contain a zk:// URL, found {content[:60]!r}")
    try:
        return parse_zk_url(content)
    except ZooKeeperURLError as e:
        raise ZooKeeperURLError(f"in {name}: {e}") from None


def _parse_server(server: str, url: str) -> tuple[str, int]:
    if not server:
        raise ZooKeeperURLError(f"{url!r} has an empty server in its host list")
    try:
        host, port = split_host_port(server, DEFAULT_PORT)
    except AddressError as e:
        raise ZooKeeperURLError(f"{url!r}: {e}") from None
    if not server.startswith("[") and not _HOSTNAME.match(host):
        raise ZooKeeperURLError(f"{url!r}: {host!r} is not a valid host name or address")
    return host, port


def _check_path(path: str, url: str) -> str:
    path = path.rstrip("/")
    if not path:
        raise ZooKeeperURLError(f"{url!r}: the znode path must name a node below '/' (e.g. /mesos)")
    for segment in path.split("/")[1:]:
        if segment in ("", ".", ".."):
            raise ZooKeeperURLError(
                f"{url!r}: znode path {path!r} has an empty, '.' or '..' segment"
            )
        if any(c in segment for c in "?#") or any(ord(c) < 0x20 for c in segment):
            raise ZooKeeperURLError(
                f"{url!r}: znode path {path!r} contains a character ZooKeeper refuses"
            )
    return path
