"""A real 3-node ZooKeeper quorum on loopback, from Debian's `zookeeper` package.

Each node is its own `QuorumPeerMain` JVM with its own data dir, `myid`, `zooN.cfg` and
logs, on distinct free client/quorum/election ports of 127.0.0.1. Nodes are numbered by
their `myid` (1, 2, 3); `kill`, `start` and `stop` act on each node's own pid only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tests.harness.daemons import free_port, wait_until

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
ZOOKEEPER_CONF = Path("/etc/zookeeper/conf")
JAVA_DIR = Path("/usr/share/java")
# zookeeper.jar's manifest Class-Path pulls in its dependencies (jute, netty, slf4j-api,
# jetty, ...); slf4j needs a binding on top to write logs, Debian ships the log4j 1.2 one.
LOG_BINDING_JARS = ("slf4j-log4j12.jar", "log4j-1.2.jar")
# Without these the server cannot start at all: fail early with their names.
REQUIRED_JARS = ("zookeeper-jute.jar", "slf4j-api.jar", "netty-handler.jar")
FOUR_LETTER_WORDS = "srvr,stat,mntr,ruok"
TICK_MS = 500

T = TypeVar("T")


class ZooKeeperUnavailable(RuntimeError):
    """Debian's `zookeeper` package (or java) is not installed and cannot be installed here."""


def ensure_installed() -> None:
    """Install Debian's `zookeeper` package when absent (as root); else say what is missing."""
    if ZOOKEEPER_JAR.exists() and shutil.which("java"):
        return
    if os.geteuid() != 0:
        raise ZooKeeperUnavailable(
            f"{ZOOKEEPER_JAR} or java is missing and this is not root: "
            "run `apt-get install -y zookeeper` to enable the ZooKeeper tests"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with tempfile.TemporaryDirectory() as scratch:
        # headless, as .ci/bootstrap.sh installs it (zookeeper depends on the desktop JRE)
        headless = _headless_jre_deb(Path(scratch))
        install = ["apt-get", "install", "-y", "--no-install-recommends", *headless, "zookeeper"]
        result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:  # stale package lists on a fresh machine
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
            result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not ZOOKEEPER_JAR.exists():
        raise ZooKeeperUnavailable(
            "`apt-get install -y zookeeper` failed:\n" + result.stderr[-2000:]
        )


def _headless_jre_deb(directory: Path) -> list[str]:
    """[the package `.ci/headless-jre.sh` builds], or [] when default-jre is installed."""
    installed = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", "default-jre"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if "install ok installed" in installed.stdout:
        return []
    deb = directory / "infinity-headless-jre.deb"
    script = Path(__file__).resolve().parents[2] / ".ci" / "headless-jre.sh"
    built = subprocess.run(["bash", str(script), str(deb)], capture_output=True, check=False)
    return [str(deb)] if built.returncode == 0 else []


def classpath() -> str:
    """The server's classpath built from what the package installed.

    `/etc/zookeeper/conf` (log4j.properties), `zookeeper.jar`, the dependencies its manifest
    names that are installed (jute, netty, slf4j-api, ...; jline is only for the CLI), and
    the slf4j→log4j binding so each node writes `zookeeper.log` into its own directory.
    """
    dependencies = [JAVA_DIR / j for j in _manifest_jars(ZOOKEEPER_JAR)]
    missing = [j for j in REQUIRED_JARS if not (JAVA_DIR / j).exists()]
    if missing:
        raise ZooKeeperUnavailable(f"ZooKeeper's dependencies are missing: {', '.join(missing)}")
    entries = [ZOOKEEPER_CONF, ZOOKEEPER_JAR, *(d for d in dependencies if d.exists())]
    entries += [JAVA_DIR / j for j in LOG_BINDING_JARS if (JAVA_DIR / j).exists()]
    return ":".join(str(e) for e in entries)


def _manifest_jars(jar: Path) -> list[str]:
    with zipfile.ZipFile(jar) as z:
        manifest = z.read("META-INF/MANIFEST.MF").decode()
    # manifest lines wrap at 72 bytes with a leading space on continuation lines
    joined = manifest.replace("\r\n", "\n").replace("\n ", "")
    for line in joined.splitlines():
        if line.startswith("Class-Path:"):
            return [Path(p).name for p in line.split(":", 1)[1].split()]
    return []


def four_letter_word(port: int, word: str, timeout: float = 2.0) -> str:
    """Send a ZooKeeper four-letter command to 127.0.0.1:port and return the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(word.encode())
        chunks = []
        while True:
            data = s.recv(4096)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


@dataclass
class ZooKeeperNode:
    """One quorum peer: its ports, directory and (while running) process."""

    myid: int
    directory: Path
    client_port: int
    quorum_port: int
    election_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def config_path(self) -> Path:
        return self.directory / f"zoo{self.myid}.cfg"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"zookeeper node {self.myid} never started"
        return self.process.pid

    def write_config(self, peers: Sequence[ZooKeeperNode]) -> None:
        data_dir = self.directory / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "myid").write_text(f"{self.myid}\n")
        lines = [
            f"tickTime={TICK_MS}",
            "initLimit=20",
            "syncLimit=5",
            # sessions may be as short as 2 ticks and as long as 40 (1 s .. 20 s)
            "maxSessionTimeout=20000",
            f"dataDir={data_dir}",
            f"clientPort={self.client_port}",
            "clientPortAddress=127.0.0.1",
            f"4lw.commands.whitelist={FOUR_LETTER_WORDS}",
            "admin.enableServer=false",
            # a test quorum on a shared 2-core machine: fsync stalls would only cause
            # spurious session expiries, and 64 MB preallocated logs waste disk
            "forceSync=no",
            "preAllocSize=4096",
            "standaloneEnabled=false",
            "reconfigEnabled=false",
        ]
        lines += [f"server.{p.myid}=127.0.0.1:{p.quorum_port}:{p.election_port}" for p in peers]
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        if self.running:
            return
        log = (self.directory / "stdout.log").open("ab")
        java = shutil.which("java") or "java"
        self.process = subprocess.Popen(
            [
                java,
                "-Xmx96m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Djava.net.preferIPv4Stack=true",
                f"-Dzookeeper.log.dir={self.directory}",
                "-Dzookeeper.root.logger=INFO,ROLLINGFILE",
                "-cp",
                classpath(),
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                str(self.config_path),
            ],
            cwd=self.directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal this node's own pid and reap it."""
        if self.running:
            assert self.process is not None
            os.kill(self.process.pid, sig)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is not None:
            self.process = None
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def mode(self) -> str | None:
        """`leader`, `follower`, ... as `srvr` reports it; None when not serving."""
        if not self.running:
            return None
        try:
            answer = four_letter_word(self.client_port, "srvr")
        except OSError:
            return None
        for line in answer.splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None  # "This ZooKeeper instance is not currently serving requests"

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for name in ("stdout.log", "zookeeper.log"):
            path = self.directory / name
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- node {self.myid} {name} ---\n" + "\n".join(text))
        return "\n".join(out)


@dataclass
class QuorumHandle:
    """A running quorum: its connect string and per-node control, all by pid."""

    directory: Path
    nodes: list[ZooKeeperNode] = field(default_factory=list)

    @property
    def connect_string(self) -> str:
        """`127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3` for kazoo's `hosts`."""
        return ",".join(n.address for n in self.nodes)

    def zk_url(self, path: str = "/mesos") -> str:
        """A Mesos `--zk` URL for this quorum."""
        return f"zk://{self.connect_string}{path}"

    def node(self, myid: int) -> ZooKeeperNode:
        for n in self.nodes:
            if n.myid == myid:
                return n
        raise KeyError(f"no zookeeper node with myid {myid}")

    def kill(self, myid: int) -> None:
        """SIGKILL node `myid` by its own pid."""
        self.node(myid).kill(signal.SIGKILL)

    def start(self, myid: int, timeout: float = 60.0) -> None:
        """(Re)start node `myid` with its data and wait until it serves in the quorum."""
        node = self.node(myid)
        node.start()
        wait_until(
            lambda: node.mode() in ("leader", "follower"),
            timeout,
            interval=0.2,
            message=f"zookeeper node {myid} rejoining the quorum\n" + node.log_tail(),
        )

    def modes(self) -> dict[int, str | None]:
        return {n.myid: n.mode() for n in self.nodes}

    def leader_index(self) -> int | None:
        """The myid of the node that `srvr` reports as leader, or None."""
        leaders = [myid for myid, mode in self.modes().items() if mode == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def follower_indexes(self) -> list[int]:
        return [myid for myid, mode in self.modes().items() if mode == "follower"]

    def wait_for_quorum(self, timeout: float = 90.0) -> int:
        """Wait until every running node serves with exactly one leader; return its myid."""

        def formed() -> int | None:
            modes = {n.myid: n.mode() for n in self.nodes if n.running}
            for n in self.nodes:
                if n.process is not None and not n.running:
                    raise AssertionError(f"zookeeper node {n.myid} exited:\n{n.log_tail()}")
            serving = [m for m in modes.values() if m in ("leader", "follower")]
            leaders = [myid for myid, m in modes.items() if m == "leader"]
            if modes and len(serving) == len(modes) and len(leaders) == 1:
                return leaders[0]
            return None

        return wait_until(
            formed,
            timeout,
            interval=0.2,
            message="zookeeper quorum (one leader, the rest followers)\n" + self.log_tail(),
        )

    def log_tail(self) -> str:
        return "\n".join(n.log_tail() for n in self.nodes)

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()


def start_quorum(directory: Path, size: int = 3, timeout: float = 90.0) -> QuorumHandle:
    """Start `size` peers under `directory` and wait until they formed a quorum."""
    ensure_installed()
    quorum = QuorumHandle(directory)
    for myid in range(1, size + 1):
        quorum.nodes.append(
            ZooKeeperNode(
                myid=myid,
                directory=directory / f"zk{myid}",
                client_port=free_port(),
                quorum_port=free_port(),
                election_port=free_port(),
            )
        )
    for n in quorum.nodes:
        n.directory.mkdir(parents=True, exist_ok=True)
        n.write_config(quorum.nodes)
    try:
        for n in quorum.nodes:
            n.start()
        quorum.wait_for_quorum(timeout)
    except BaseException:
        quorum.stop()
        raise
    return quorum
