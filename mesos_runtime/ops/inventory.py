"""The Ansible inventory the playbooks use, read for the SSH-driven day-2 operations: hosts
with their groups, SSH settings (`ansible_host`, user, key, known_hosts from
`ansible_ssh_common_args`) and the cluster's settings, through `ansible-inventory --list`
so that group_vars and every inventory format mean exactly what they mean to Ansible.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GROUPS = ("zookeeper", "masters", "agents")


class InventoryError(RuntimeError):
    """The inventory cannot be read, or names no such host: the message says which."""


@dataclass(frozen=True)
class InventoryHost:
    name: str
    address: str  # where SSH and the daemons reach it (infinity_advertise_ip / ansible_host)
    ssh_host: str
    user: str | None
    port: int
    key_file: str | None
    known_hosts: tuple[str, ...]  # files from -o UserKnownHostsFile=..., else none given
    groups: frozenset[str]
    vars: dict[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class ClusterSettings:
    """What the CLI needs of the cluster-wide settings (roles/infinity/defaults)."""

    name: str = "infinity"
    security: bool = True
    secrets_dir: Path = Path.home() / ".infinity" / "infinity"
    master_port: int = 5050
    agent_port: int = 5051
    install_dir: str = "/opt/infinity"
    drain_grace_period: int = 60

    @property
    def scheme(self) -> str:
        return "https" if self.security else "http"


@dataclass(frozen=True)
class Inventory:
    path: str
    hosts: dict[str, InventoryHost]
    settings: ClusterSettings

    def group(self, name: str) -> list[InventoryHost]:
        return [h for h in self.hosts.values() if name in h.groups]

    def host(self, name: str) -> InventoryHost:
        """The host by inventory name or address; an unknown one is an error naming the
        hosts there are."""
        if name in self.hosts:
            return self.hosts[name]
        for host in self.hosts.values():
            if name in (host.address, host.ssh_host):
                return host
        raise InventoryError(
            f"host {name!r} is not in the inventory {self.path} "
            f"(its hosts: {', '.join(sorted(self.hosts)) or 'none'})"
        )

    def select(self, names: list[str] | None, group: str | None = None) -> list[InventoryHost]:
        if names:
            return [self.host(n) for n in names]
        return self.group(group) if group else list(self.hosts.values())


def _plain(value: Any) -> Any:
    """ansible-inventory marks strings {"__ansible_unsafe": ...}: take the strings out."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _concrete(value: Any) -> Any:
    """A value usable as is: not a Jinja template (those need Ansible to evaluate)."""
    return None if isinstance(value, str) and "{{" in value else value


def _ansible_inventory() -> str:
    beside = Path(sys.executable).with_name("ansible-inventory")
    found = str(beside) if beside.exists() else shutil.which("ansible-inventory")
    if found is None:
        raise InventoryError(
            "ansible-inventory is not installed (pip install 'infinity-mesos[ansible]')"
        )
    return found


def _ssh_options(common_args: str | None) -> dict[str, str]:
    options: dict[str, str] = {}
    words = shlex.split(common_args or "")
    for index, word in enumerate(words):
        option = None
        if word == "-o" and index + 1 < len(words):
            option = words[index + 1]
        elif word.startswith("-o") and len(word) > 2:
            option = word[2:]
        if option and "=" in option:
            key, _, value = option.partition("=")
            options[key.strip().lower()] = value.strip()
    return options


def load(path: str | Path) -> Inventory:
    result = subprocess.run(
        [_ansible_inventory(), "-i", str(path), "--list"],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise InventoryError(f"cannot read inventory {path}: {result.stderr.strip()[-1000:]}")
    try:
        data = _plain(json.loads(result.stdout))
    except json.JSONDecodeError as e:
        raise InventoryError(f"ansible-inventory gave no JSON for {path}: {e}") from None
    hostvars: dict[str, dict[str, Any]] = data.get("_meta", {}).get("hostvars", {})
    membership: dict[str, set[str]] = {}
    for group in GROUPS:
        for name in data.get(group, {}).get("hosts", []):
            membership.setdefault(name, set()).add(group)
    hosts: dict[str, InventoryHost] = {}
    names = set(hostvars) | set(membership)
    for name in sorted(names):
        v = hostvars.get(name, {})
        ssh_host = str(_concrete(v.get("ansible_host")) or name)
        options = _ssh_options(_concrete(v.get("ansible_ssh_common_args")))
        known = options.get("userknownhostsfile")
        hosts[name] = InventoryHost(
            name=name,
            address=str(_concrete(v.get("infinity_advertise_ip")) or ssh_host),
            ssh_host=ssh_host,
            user=_concrete(v.get("ansible_user")),
            port=int(_concrete(v.get("ansible_port")) or 22),
            key_file=_concrete(v.get("ansible_ssh_private_key_file")),
            known_hosts=tuple(known.split()) if known else (),
            groups=frozenset(membership.get(name, set())),
            vars=v,
        )
    if not hosts:
        raise InventoryError(f"inventory {path} has no hosts")
    return Inventory(str(path), hosts, _settings(next(iter(hostvars.values()), {})))


def _settings(v: dict[str, Any]) -> ClusterSettings:
    defaults = ClusterSettings()
    name = str(_concrete(v.get("infinity_cluster_name")) or defaults.name)
    secrets = _concrete(v.get("infinity_secrets_dir"))
    security = _concrete(v.get("infinity_security_enabled"))
    return ClusterSettings(
        name=name,
        security=defaults.security if security is None else bool(security),
        secrets_dir=Path(secrets).expanduser() if secrets else Path.home() / ".infinity" / name,
        master_port=int(_concrete(v.get("infinity_master_port")) or defaults.master_port),
        agent_port=int(_concrete(v.get("infinity_agent_port")) or defaults.agent_port),
        install_dir=str(_concrete(v.get("infinity_install_dir")) or defaults.install_dir),
        drain_grace_period=int(
            _concrete(v.get("infinity_drain_grace_period")) or defaults.drain_grace_period
        ),
    )
