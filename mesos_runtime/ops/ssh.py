"""SSH to the inventory's hosts over Fabric/paramiko with host keys verified: a key not in
known_hosts (the inventory's UserKnownHostsFile, else ~/.ssh/known_hosts) is refused
unless the operator accepts unknown keys explicitly; a key that differs is always refused.
`on_hosts` runs one step on many hosts with bounded concurrency and reports every host.
"""

from __future__ import annotations

import concurrent.futures
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import paramiko
from fabric import Connection

from .inventory import InventoryHost

T = TypeVar("T")


class HostKeyRefused(paramiko.SSHException):
    """The host's key is not in known_hosts and unknown keys were not accepted."""


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise HostKeyRefused(
            f"host key of {hostname} ({key.get_name()} "
            f"{key.fingerprint if hasattr(key, 'fingerprint') else key.get_base64()[:16]}) "
            "is not in known_hosts: add it (ssh-keyscan, after checking it), or pass "
            "--accept-unknown-host-keys to trust it this once"
        )


class _AcceptUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        del client, hostname, key  # trusted for this connection only, as the operator asked


@dataclass(frozen=True)
class SshOptions:
    accept_unknown_host_keys: bool = False
    connect_timeout: float = 10.0
    command_timeout: float = 300.0


def connect(host: InventoryHost, options: SshOptions) -> Connection:
    """An open Fabric connection to `host` (root commands need no sudo when user is root)."""
    client_kwargs: dict[str, Any] = {
        "banner_timeout": options.connect_timeout,
        "auth_timeout": options.connect_timeout,
        "allow_agent": True,
        "look_for_keys": host.key_file is None,
    }
    if host.key_file:
        client_kwargs["key_filename"] = [host.key_file]
    connection = Connection(
        host.ssh_host,
        user=host.user,
        port=host.port,
        connect_timeout=options.connect_timeout,
        connect_kwargs=client_kwargs,
    )
    client = connection.client
    files = [Path(f).expanduser() for f in host.known_hosts] or [
        Path("~/.ssh/known_hosts").expanduser()
    ]
    for known in files:
        if known.exists():
            client.load_host_keys(str(known))
    client.set_missing_host_key_policy(
        _AcceptUnknown() if options.accept_unknown_host_keys else _RejectUnknown()
    )
    connection.open()
    return connection


def describe_error(error: BaseException) -> str:
    """One line an operator can act on."""
    if isinstance(error, HostKeyRefused):
        return str(error)
    if isinstance(error, paramiko.BadHostKeyException):
        return (
            f"host key of {error.hostname} does not match known_hosts: refusing to connect "
            "(a different machine, or its key changed; check before updating known_hosts)"
        )
    if isinstance(error, paramiko.AuthenticationException):
        return f"SSH authentication failed: {error}"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return f"unreachable: timed out ({error})"
    if isinstance(error, OSError):
        return f"unreachable: {error.strerror or error}"
    return f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class HostResult(Generic[T]):
    host: InventoryHost
    value: T | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def on_hosts(
    hosts: Sequence[InventoryHost],
    step: Callable[[InventoryHost], T],
    parallel: int = 10,
) -> list[HostResult[T]]:
    """Run `step` for every host, at most `parallel` at once; every host gets a result."""
    results: dict[str, HostResult[T]] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        futures = {pool.submit(step, host): host for host in hosts}
        for future in concurrent.futures.as_completed(futures):
            host = futures[future]
            try:
                results[host.name] = HostResult(host, value=future.result())
            except Exception as e:  # noqa: BLE001 - each host's failure is reported, not raised
                results[host.name] = HostResult(host, error=describe_error(e))
    return [results[h.name] for h in hosts]
