"""Test hosts: podman containers that boot systemd and sshd on 198.18.0.0/24, built from a
Debian base image debootstrapped here, with an SSH key, per-host host keys, a known_hosts
file and an Ansible inventory written for them. `destroy` removes exactly one cluster's.

    python -m tests.harness.testhosts create --cluster local -n 3
    python -m tests.harness.testhosts destroy --cluster local
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
NETWORK = "infinity-testhosts"
SUBNET = ipaddress.ip_network("198.18.0.0/24")
GATEWAY = "198.18.0.1"
LABEL = "infinity.testhosts.cluster"
CACHE = Path(os.environ.get("INFINITY_TESTHOSTS_CACHE", "/var/cache/infinity"))
STATE = Path(os.environ.get("INFINITY_TESTHOSTS_STATE", Path.home() / ".cache/infinity/testhosts"))
MIRROR = os.environ.get("INFINITY_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
# what a plain Debian 12 server has and Ansible needs: python3, sshd, systemd, sudo
PACKAGES = ("python3", "openssh-server", "systemd", "systemd-sysv", "iproute2", "procps", "sudo")
SSHD_CONFIG = """\
# test host: root logs in with the cluster's key only; the host key is injected per host
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 64:30:128
"""
# disposable hosts: dpkg without an fsync per file, apt without translations (as Debian's
# own container images do); a real host keeps the defaults
DPKG_CONFIG = "force-unsafe-io\n"
APT_CONFIG = 'Acquire::Languages "none";\n'
# `podman exec` (testinfra's podman:// backend) gets this PATH; `podman import` sets none
IMAGE_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONTAINERS_CONF = Path("/etc/containers/containers.conf.d/50-infinity.conf")
CONTAINERS_CONF_TEXT = """\
# Infinity's test hosts (tests/harness/testhosts.py): runc, since crun refuses the
# hybrid cgroup v1 layout here; default ulimits at or below the hard limit
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=8192:8192"]

[engine]
runtime = "runc"
"""


class TestHostsError(RuntimeError):
    """A test host could not be made (the message says what failed)."""


@dataclass
class TestHost:
    name: str
    ip: str
    host_key: str  # "ssh-ed25519 AAAA..." as known_hosts lists it

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "ip": self.ip, "host_key": self.host_key}


@dataclass
class TestCluster:
    """One cluster's hosts and the files that reach them."""

    name: str
    state_dir: Path
    inventory: Path
    hosts: list[TestHost] = field(default_factory=list)

    @property
    def ssh_key(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.state_dir / "ssh_config"

    def ssh_args(self) -> list[str]:
        return ["ssh", "-F", str(self.ssh_config)]

    def ssh(
        self, host: TestHost, command: str, timeout: float = 60.0
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.ssh_args(), f"root@{host.ip}", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def host(self, name: str) -> TestHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)


# --- the machine: podman configuration, network, base image ------------------------------


def _run(args: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess:
    result = subprocess.run(list(args), capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        why = result.stderr.strip()[-2000:]
        raise TestHostsError(f"{' '.join(args[:4])} ... failed ({result.returncode}): {why}")
    return result


def available() -> str | None:
    """None when test hosts can be made here, else why not."""
    for tool in ("podman", "debootstrap", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (bash .ci/bootstrap.sh installs it)"
    if os.geteuid() != 0:
        return "test hosts need root (rootful podman with systemd containers)"
    return None


def ensure_podman_config() -> None:
    """runc and in-limit default ulimits (DESIGN.md 'Test hosts'), as a drop-in."""
    if CONTAINERS_CONF.exists() and CONTAINERS_CONF.read_text() == CONTAINERS_CONF_TEXT:
        return
    CONTAINERS_CONF.parent.mkdir(parents=True, exist_ok=True)
    CONTAINERS_CONF.write_text(CONTAINERS_CONF_TEXT)


def ensure_network() -> None:
    result = subprocess.run(
        ["podman", "network", "inspect", NETWORK], capture_output=True, text=True, check=False
    )
    if result.returncode == 0:
        subnets = [s.get("subnet") for s in json.loads(result.stdout)[0].get("subnets", [])]
        if str(SUBNET) not in subnets:
            raise TestHostsError(f"podman network {NETWORK} exists with {subnets}, not {SUBNET}")
        return
    _run(["podman", "network", "create", "--subnet", str(SUBNET), "--gateway", GATEWAY, NETWORK])


def image_name() -> str:
    """The base image's tag names its recipe: a change to it builds a new image."""
    recipe = "\n".join([SUITE, MIRROR, *PACKAGES, SSHD_CONFIG, IMAGE_PATH, DPKG_CONFIG, APT_CONFIG])
    return f"localhost/infinity-testhost:{SUITE}-{hashlib.sha256(recipe.encode()).hexdigest()[:10]}"


def image_exists(name: str) -> bool:
    return (
        subprocess.run(
            ["podman", "image", "exists", name], capture_output=True, check=False
        ).returncode
        == 0
    )


IMAGE_ALIAS = f"localhost/infinity-testhost:{SUITE}"  # the stable name molecule.yml uses


def ensure_image(rebuild: bool = False) -> str:
    """The base image, built if missing, also tagged IMAGE_ALIAS."""
    name = _build_image(rebuild)
    _run(["podman", "tag", name, IMAGE_ALIAS])
    return name


def _build_image(rebuild: bool) -> str:
    """debootstrap a minimal bookworm (its .debs cached under CACHE) and `podman import` it."""
    name = image_name()
    if image_exists(name) and not rebuild:
        return name
    debs = CACHE / "debootstrap"
    debs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=CACHE) as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                f"--cache-dir={debs}",
                SUITE,
                str(rootfs),
                MIRROR,
            ],
            timeout=900,
        )
        # every host gets its own host key at create time; none is baked into the image
        for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        (rootfs / "etc/ssh/sshd_config.d/infinity-testhost.conf").write_text(SSHD_CONFIG)
        (rootfs / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
        (rootfs / "etc/dpkg/dpkg.cfg.d/infinity-testhost").write_text(DPKG_CONFIG)
        (rootfs / "etc/apt/apt.conf.d/99infinity-testhost").write_text(APT_CONFIG)
        # the image's own apt cache goes; each host keeps its .debs in a cache of its own
        for deb in (rootfs / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            _run(
                ["podman", "import", "--change", f"ENV {IMAGE_PATH}", "-", name],
                stdin=tar.stdout,
                timeout=600,
            )
        finally:
            if tar.stdout:
                tar.stdout.close()
            tar.wait()
    return name


# --- clusters ------------------------------------------------------------------------------


def _keygen(path: Path, comment: str) -> str:
    if not path.exists():
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    public = path.with_suffix(".pub").read_text().split()
    return f"{public[0]} {public[1]}"


def container_ids(cluster: str) -> list[str]:
    result = _run(["podman", "ps", "-a", "-q", "--filter", f"label={LABEL}={cluster}"])
    return result.stdout.split()


def _container_ip(name: str) -> str:
    result = _run(["podman", "inspect", name])
    networks = json.loads(result.stdout)[0]["NetworkSettings"]["Networks"]
    ip = networks[NETWORK]["IPAddress"]
    if ipaddress.ip_address(ip) not in SUBNET:
        raise TestHostsError(f"{name} got {ip}, outside {SUBNET}")
    return ip


def _sshd_ready(ip: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((ip, 22), timeout=1) as s:
            s.settimeout(2)
            if s.recv(4).startswith(b"SSH-"):
                return True
        time.sleep(0.2)
    return False


def default_groups(names: Sequence[str]) -> dict[str, list[str]]:
    """ZooKeeper and masters on the first three hosts (one or three), agents on all."""
    control = list(names[:3]) if len(names) >= 3 else list(names[:1])
    return {"zookeeper": control, "masters": control, "agents": list(names)}


def write_inventory(cluster: TestCluster, groups: dict[str, list[str]]) -> None:
    by_name = {h.name: h for h in cluster.hosts}
    document = {
        "all": {
            "hosts": {h.name: {"ansible_host": h.ip} for h in cluster.hosts},
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(cluster.ssh_key),
                "ansible_ssh_common_args": (
                    f"-o UserKnownHostsFile={cluster.known_hosts} -o StrictHostKeyChecking=yes"
                ),
            },
            "children": {
                group: {"hosts": {name: {} for name in members if name in by_name}}
                for group, members in groups.items()
            },
        }
    }
    cluster.inventory.parent.mkdir(parents=True, exist_ok=True)
    header = f"# written by tests/harness/testhosts.py for test cluster {cluster.name!r}\n"
    cluster.inventory.write_text(header + yaml.safe_dump(document, sort_keys=False))


def _write_ssh_files(cluster: TestCluster) -> None:
    cluster.known_hosts.write_text("".join(f"{h.ip} {h.host_key}\n" for h in cluster.hosts))
    cluster.ssh_config.write_text(
        "Host *\n"
        "  User root\n"
        f"  IdentityFile {cluster.ssh_key}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {cluster.known_hosts}\n"
        "  StrictHostKeyChecking yes\n"
        "  ConnectTimeout 10\n"
    )
    (cluster.state_dir / "hosts.json").write_text(
        json.dumps([h.to_json() for h in cluster.hosts], indent=1)
    )


def create(
    name: str,
    count: int,
    *,
    inventory: Path | None = None,
    groups: dict[str, list[str]] | None = None,
    state_dir: Path | None = None,
    timeout: float = 120.0,
) -> TestCluster:
    """Boot `count` hosts named `<name>-1..N` (fresh: any old ones of this cluster go)."""
    if not name.replace("-", "").isalnum() or len(name) > 40:
        raise TestHostsError(f"cluster name {name!r}: letters, digits and '-' only")
    if not 1 <= count <= 50:
        raise TestHostsError(f"host count {count}: between 1 and 50")
    if (why := available()) is not None:
        raise TestHostsError(why)
    ensure_podman_config()
    ensure_network()
    image = ensure_image()
    destroy(name)
    state = state_dir or STATE / name
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    cluster = TestCluster(name, state, inventory or state / "hosts.yml")
    _keygen(cluster.ssh_key, f"infinity-testhosts-{name}")
    (state / "authorized_keys").write_text(cluster.ssh_key.with_suffix(".pub").read_text())
    for index in range(1, count + 1):
        host = f"{name}-{index}"
        key_dir = state / "hostkeys" / host
        key_dir.mkdir(parents=True, exist_ok=True)
        for old in key_dir.glob("*"):
            old.unlink()  # a fresh host has a new host key
        host_key = _keygen(key_dir / "ssh_host_ed25519_key", f"root@{host}")
        apt_cache = CACHE / "apt" / host
        apt_cache.mkdir(parents=True, exist_ok=True)
        _run(
            [
                "podman",
                "run",
                "-d",
                "--name",
                host,
                "--hostname",
                host,
                "--label",
                f"{LABEL}={name}",
                "--network",
                NETWORK,
                "--systemd=always",
                "-v",
                f"{state / 'authorized_keys'}:/root/.ssh/authorized_keys:ro",
                "-v",
                f"{key_dir / 'ssh_host_ed25519_key'}:/etc/ssh/ssh_host_ed25519_key:ro",
                # a per-host .deb cache: a re-created host downloads nothing twice
                "-v",
                f"{apt_cache}:/var/cache/apt/archives",
                image,
                "/sbin/init",
            ]
        )
        cluster.hosts.append(TestHost(host, _container_ip(host), host_key))
    _write_ssh_files(cluster)
    for host in cluster.hosts:
        if not _sshd_ready(host.ip, timeout):
            raise TestHostsError(f"{host.name} ({host.ip}): sshd did not answer in {timeout}s")
    write_inventory(cluster, groups or default_groups([h.name for h in cluster.hosts]))
    return cluster


def load(name: str, inventory: Path | None = None, state_dir: Path | None = None) -> TestCluster:
    state = state_dir or STATE / name
    hosts = [TestHost(**h) for h in json.loads((state / "hosts.json").read_text())]
    return TestCluster(name, state, inventory or state / "hosts.yml", hosts)


def destroy(name: str) -> list[str]:
    """Remove this cluster's containers (by their label) and nothing else."""
    ids = container_ids(name)
    if ids:
        _run(["podman", "rm", "-f", "-t", "0", *ids], timeout=120)
    return ids


def clusters() -> dict[str, list[str]]:
    result = _run(["podman", "ps", "-a", "--filter", f"label={LABEL}", "--format", "json"])
    out: dict[str, list[str]] = {}
    for container in json.loads(result.stdout or "[]"):
        cluster = container.get("Labels", {}).get(LABEL, "?")
        out.setdefault(cluster, []).extend(container.get("Names", []))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.harness.testhosts", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("create", help="boot N fresh test hosts and write an inventory")
    make.add_argument("--cluster", default="local")
    make.add_argument("-n", "--count", type=int, default=3)
    make.add_argument(
        "--inventory",
        type=Path,
        help="where to write the inventory (default: inventories/local/hosts.yml for the "
        "'local' cluster, else the cluster's state directory)",
    )
    gone = commands.add_parser("destroy", help="remove one cluster's test hosts")
    gone.add_argument("--cluster", default="local")
    commands.add_parser("list", help="test clusters and their hosts")
    image = commands.add_parser(
        "image", help="build the base image (if missing) and the test network (molecule's too)"
    )
    image.add_argument("--rebuild", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "create":
            inventory = args.inventory
            if inventory is None and args.cluster == "local":
                inventory = REPO / "inventories/local/hosts.yml"
            cluster = create(args.cluster, args.count, inventory=inventory)
            for host in cluster.hosts:
                print(f"{host.name}\t{host.ip}")
            print(f"inventory: {cluster.inventory}\nssh: ssh -F {cluster.ssh_config} root@<ip>")
        elif args.command == "destroy":
            print(f"removed {len(destroy(args.cluster))} test host(s) of {args.cluster!r}")
        elif args.command == "list":
            for cluster_name, names in sorted(clusters().items()):
                print(f"{cluster_name}\t{' '.join(sorted(names))}")
        else:
            ensure_podman_config()
            ensure_network()
            print(ensure_image(rebuild=args.rebuild))
    except TestHostsError as e:
        print(f"testhosts: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
