"""`host:port` as every part writes and reads it: an IPv6 address is bracketed
(`[::1]:5050`), as in URLs and in Mesos' flags; a missing port is the caller's default."""

from __future__ import annotations

__all__ = ["AddressError", "join_host_port", "split_host_port", "split_master_url"]


class AddressError(ValueError):
    """Not a `host[:port]`: the message says what is wrong."""


def split_host_port(text: str, default_port: int) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]` or `[v6]:port` → (host, port); a bare IPv6 address
    (more than one colon, no brackets) is taken whole, with the default port."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise AddressError(f"{text!r}: unclosed '['")
        host, tail = text[1:end], text[end + 1 :]
        if tail and not tail.startswith(":"):
            raise AddressError(f"{text!r}: expected ':port' after ']'")
        port_text = tail[1:] if tail else None
    elif text.count(":") > 1:
        host, port_text = text, None
    else:
        host, colon, port_text_or_empty = text.partition(":")
        port_text = port_text_or_empty if colon else None
    if not host:
        raise AddressError(f"{text!r}: missing host")
    if port_text is None:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise AddressError(f"{text!r}: port {port_text!r} of {host} is not in 1-65535")
    return host, int(port_text)


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_master_url(text: str, default_port: int) -> tuple[str, str, int]:
    """A master's address as `--master` and clients give it: `host[:port]`,
    `http(s)://host[:port][/...]` or `master@host:port` (a libprocess pid) →
    (scheme, host, port)."""
    text = text.strip()
    if text.startswith("master@"):
        text = text[len("master@") :]
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "http", text
    if scheme not in ("http", "https"):
        raise AddressError(f"unsupported scheme {scheme!r}")
    authority = rest.split("/", 1)[0]
    if "@" in authority:
        raise AddressError("user information is not accepted in a master address")
    host, port = split_host_port(authority, default_port)
    return scheme, host, port
