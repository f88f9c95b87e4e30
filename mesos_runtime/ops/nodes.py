"""Day-2 operations on the inventory's hosts (`infinity node ...`): list, bootstrap (the
playbooks, for one new host), drain/undrain through the leading master, rolling agent
upgrades from a controller-built wheelhouse over SSH, removal (drained first), and a
diagnostics bundle (journal, state, flags, versions) from every host in one archive.
"""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import wheelhouse
from .inventory import Inventory, InventoryError, InventoryHost
from .master_api import MasterApiError, OperatorApi
from .ssh import HostResult, SshOptions, connect, on_hosts

PROJECT = Path(__file__).resolve().parents[2]
SECOND = 1_000_000_000
UNITS = ("zookeeper", "mesos-master", "mesos-agent")


class NodeError(RuntimeError):
    """An operation that cannot go ahead; nothing was changed."""


Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    del message


# --- list, drain, undrain ---------------------------------------------------------------


@dataclass(frozen=True)
class NodeStatus:
    host: InventoryHost
    agent_id: str | None
    active: bool | None
    drain_state: str | None
    leading: bool


def status(inventory: Inventory, api: OperatorApi) -> list[NodeStatus]:
    try:
        leader = api.leader(wait=5)
        agents = api.agents(leader)
    except MasterApiError:
        leader, agents = None, []
    by_address = {a.get("pid", "").split("@")[-1].split(":")[0]: a for a in agents}
    out = []
    for host in inventory.hosts.values():
        agent = by_address.get(host.address)
        out.append(
            NodeStatus(
                host=host,
                agent_id=agent["agent_info"]["id"]["value"] if agent else None,
                active=agent.get("active") if agent else None,
                drain_state=(agent.get("drain_info") or {}).get("state") if agent else None,
                leading=leader is not None and f"//{host.address}:" in leader,
            )
        )
    return out


def _agent_host(inventory: Inventory, name: str) -> InventoryHost:
    host = inventory.host(name)  # an unknown host is refused here, naming the known ones
    if "agents" not in host.groups:
        raise InventoryError(f"host {host.name} is not in the inventory's 'agents' group")
    return host


def _registered_agent(api: OperatorApi, host: InventoryHost, leader: str) -> dict[str, Any]:
    agent = api.agent_of(host, leader)
    if agent is None:
        raise NodeError(f"no agent of {host.name} ({host.address}) is registered with {leader}")
    return agent


def drain(
    inventory: Inventory,
    api: OperatorApi,
    name: str,
    *,
    grace_period: int | None = None,
    mark_gone: bool = False,
    wait: bool = True,
    timeout: float = 600.0,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """DRAIN_AGENT for the host's agent; with `wait`, until it is DRAINED."""
    host = _agent_host(inventory, name)
    leader = api.leader()
    agent = _registered_agent(api, host, leader)
    agent_id = agent["agent_info"]["id"]
    grace = inventory.settings.drain_grace_period if grace_period is None else grace_period
    body: dict[str, Any] = {
        "agent_id": agent_id,
        "max_grace_period": {"nanoseconds": grace * SECOND},
    }
    if mark_gone:
        body["mark_gone"] = True
    api.call({"type": "DRAIN_AGENT", "drain_agent": body}, leader)
    progress(f"{host.name}: draining agent {agent_id['value']} (max grace {grace}s)")
    if not wait:
        return agent
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = api.agent_of(host, api.leader())
        if current is None:  # marked gone once drained
            return agent
        if (current.get("drain_info") or {}).get("state") == "DRAINED":
            progress(f"{host.name}: drained")
            return current
        time.sleep(1)
    raise NodeError(f"{host.name}: agent not drained within {timeout:.0f}s (its tasks still end)")


def undrain(inventory: Inventory, api: OperatorApi, name: str) -> None:
    host = _agent_host(inventory, name)
    leader = api.leader()
    agent = _registered_agent(api, host, leader)
    api.call(
        {"type": "REACTIVATE_AGENT", "reactivate_agent": {"agent_id": agent["agent_info"]["id"]}},
        leader,
    )


# --- remove, upgrade, bootstrap -----------------------------------------------------------


def remove(
    inventory: Inventory,
    api: OperatorApi,
    name: str,
    ssh: SshOptions,
    *,
    grace_period: int | None = None,
    progress: Progress = _quiet,
) -> None:
    """Drain the agent, stop and remove it on its host, then mark it gone."""
    host = _agent_host(inventory, name)
    if host.groups & {"zookeeper", "masters"}:
        raise NodeError(
            f"{host.name} is also in {', '.join(sorted(host.groups - {'agents'}))}: shrink "
            "those groups in the inventory and run site.yml instead"
        )
    connection = connect(host, ssh)  # reachable with a trusted key, before anything changes
    try:
        agent = drain(inventory, api, name, grace_period=grace_period, progress=progress)
        script = (
            "systemctl disable --now mesos-agent.service; "
            "rm -rf /etc/systemd/system/mesos-agent.service /etc/mesos/agent.env "
            "/etc/mesos/agent-credential.json /etc/mesos/executor-secret-key "
            "/etc/mesos/agent-http-credentials.json /etc/mesos/agent-acls.json "
            "/var/lib/mesos/agent; "
            "systemctl daemon-reload"
        )
        connection.run(script, hide=True, timeout=ssh.command_timeout)
        progress(f"{host.name}: agent stopped and removed")
    finally:
        connection.close()
    api.call(
        {"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": agent["agent_info"]["id"]}}
    )
    progress(f"{host.name}: marked gone; delete it from the inventory")


def _install_release(
    host: InventoryHost,
    ssh: SshOptions,
    house: wheelhouse.Wheelhouse,
    tarball: Path,
    install_dir: str,
) -> str:
    """Copy the wheelhouse, install it as a release, point the agent's unit at it, restart
    the agent (its tasks keep running). Returns the release it replaced."""
    connection = connect(host, ssh)
    try:
        remote = f"{install_dir}/wheelhouses/{house.tarball}"
        connection.run(f"mkdir -p {shlex.quote(install_dir)}/wheelhouses", hide=True)
        connection.put(str(tarball), remote)
        digest = connection.run(f"sha256sum {shlex.quote(remote)}", hide=True).stdout.split()[0]
        if digest != house.sha256:
            raise NodeError(
                f"{host.name}: copied wheelhouse is corrupt ({digest} != {house.sha256})"
            )
        installer = f"{install_dir}/bin/infinity-install-release"
        connection.run(
            " ".join(
                shlex.quote(a)
                for a in (
                    installer,
                    "--switch",
                    "--keep=3",
                    install_dir,
                    remote,
                    house.release,
                    house.version,
                )
            ),
            hide=True,
            timeout=ssh.command_timeout,
        )
        unit = "/etc/systemd/system/mesos-agent.service"
        pattern = f"^ExecStart={install_dir}/releases/\\([^/]*\\)/bin/mesos-agent$"
        old = connection.run(f"sed -n 's|{pattern}|\\1|p' {unit}", hide=True).stdout.strip()
        if not old:
            raise NodeError(f"{host.name}: {unit} does not run a release from {install_dir}")
        if old != house.release:
            swap = f"s|/releases/{old}/bin/|/releases/{house.release}/bin/|"
            connection.run(
                f"sed -i '{swap}' {unit} && systemctl daemon-reload"
                " && systemctl restart mesos-agent.service",
                hide=True,
            )
        return old
    finally:
        connection.close()


def upgrade(
    inventory: Inventory,
    api: OperatorApi,
    names: Sequence[str] | None,
    ssh: SshOptions,
    *,
    batch: int = 1,
    wheelhouse_dir: Path | None = None,
    register_timeout: float = 120.0,
    progress: Progress = _quiet,
) -> list[HostResult[str]]:
    """Rolling upgrade of agents, `batch` at a time: each batch installed, restarted and
    re-registered before the next; a failed batch stops the upgrade."""
    hosts = [_agent_host(inventory, n) for n in names] if names else inventory.group("agents")
    out_dir = wheelhouse_dir or Path.home() / ".cache/infinity/wheelhouse" / inventory.settings.name
    built = wheelhouse.load(out_dir) if wheelhouse_dir is not None else None
    house = built or wheelhouse.build(PROJECT, out_dir)[0]
    tarball = out_dir / house.tarball
    progress(f"release {house.release} ({len(house.wheels)} wheels)")
    results: list[HostResult[str]] = []
    for start in range(0, len(hosts), max(1, batch)):
        group = hosts[start : start + max(1, batch)]
        restarted_at = time.time()
        done = on_hosts(
            group,
            lambda h: _install_release(h, ssh, house, tarball, inventory.settings.install_dir),
            parallel=len(group),
        )
        results += done
        if not all(r.ok for r in done):
            return results
        deadline = time.monotonic() + register_timeout
        # hosts already on the release were not restarted: nothing to wait for
        waiting = [r.host for r in done if r.value != house.release]
        while waiting and time.monotonic() < deadline:
            leader = api.leader()
            # back = active and re-registered since the restart (not its old registration)
            active = {
                a.get("pid", "").split("@")[-1].split(":")[0]
                for a in api.agents(leader)
                if a.get("active")
                and a.get("reregistered_time", {}).get("nanoseconds", 0) / 1e9 >= restarted_at - 1
            }
            waiting = [h for h in waiting if h.address not in active]
            if waiting:
                time.sleep(1)
        if waiting:
            results = [
                HostResult(r.host, error="not re-registered in time") if r.host in waiting else r
                for r in results
            ]
            return results
        progress(f"upgraded: {', '.join(h.name for h in group)}")
    return results


def bootstrap(inventory: Inventory, name: str, ssh: SshOptions, progress: Progress = _quiet) -> int:
    """A new host from the inventory gets an agent: its SSH key is checked here, then the
    playbooks do the rest (scale.yml --limit HOST), so there is one way to set a host up."""
    host = _agent_host(inventory, name)
    connect(host, ssh).close()
    playbook = PROJECT / "playbooks" / "scale.yml"
    if not playbook.exists():
        raise NodeError(f"{playbook} not found: bootstrap runs from a checkout of the project")
    command = ["ansible-playbook", "-i", inventory.path, str(playbook), "--limit", host.name]
    progress("$ " + " ".join(shlex.quote(c) for c in command))
    return subprocess.run(command, cwd=PROJECT, check=False).returncode


# --- diagnostics ----------------------------------------------------------------------------

_DIAG_COMMANDS = {
    "versions.txt": "uname -a; cat /etc/debian_version; {install}/current/bin/pip freeze 2>&1; "
    "readlink -f {install}/current; java -version 2>&1; dpkg-query -W zookeeper 2>&1",
    "services.txt": "systemctl status --no-pager {units} 2>&1",
    "journal.txt": "journalctl --no-pager -n 5000 {journal_units} 2>&1",
    "flags.txt": "grep -h . /etc/mesos/*.env 2>&1; cat /etc/zookeeper/conf/zoo.cfg 2>&1",
    "zookeeper-mode.txt": "/usr/local/sbin/zookeeper-mode 2>&1",
    "disk.txt": "df -h 2>&1; du -sh /var/lib/mesos/* 2>&1",
}


def _collect(host: InventoryHost, ssh: SshOptions, install_dir: str) -> dict[str, str]:
    connection = connect(host, ssh)
    try:
        files = {}
        for name, template in _DIAG_COMMANDS.items():
            command = template.format(
                install=install_dir,
                units=" ".join(f"{u}.service" for u in UNITS),
                journal_units=" ".join(f"-u {u}" for u in UNITS),
            )
            result = connection.run(command, hide=True, warn=True, timeout=ssh.command_timeout)
            files[name] = result.stdout + result.stderr
        return files
    finally:
        connection.close()


def diag(
    inventory: Inventory,
    api: OperatorApi,
    names: Sequence[str] | None,
    output: Path,
    *,
    ssh: SshOptions,
    parallel: int = 10,
) -> list[HostResult[dict[str, str]]]:
    """One .tar.gz: <host>/*.txt from every host, cluster/*.json from the leading master,
    and errors.txt naming every host (or call) that could not be read."""
    hosts = inventory.select(list(names) if names else None)
    results = on_hosts(hosts, lambda h: _collect(h, ssh, inventory.settings.install_dir), parallel)
    errors = [f"{r.host.name}: {r.error}" for r in results if not r.ok]
    cluster: dict[str, Any] = {}
    try:
        leader = api.leader(wait=5)
        for call in ("GET_STATE", "GET_FLAGS", "GET_VERSION", "GET_MAINTENANCE_STATUS"):
            cluster[call.lower()] = api.call({"type": call}, leader)
    except MasterApiError as e:
        errors.append(f"cluster: {e}")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(output, "w:gz") as tar:

        def add(path: str, text: str) -> None:
            data = text.encode()
            info = tarfile.TarInfo(f"infinity-diag/{path}")
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))

        for result in results:
            for name, text in (result.value or {}).items():
                add(f"{result.host.name}/{name}", text)
        for name, doc in cluster.items():
            add(f"cluster/{name}.json", json.dumps(doc, indent=1))
        add("errors.txt", "\n".join(errors) + ("\n" if errors else ""))
    return results
