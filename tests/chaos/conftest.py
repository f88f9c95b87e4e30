"""The chaos suite's cluster: one real 3-node ZooKeeper quorum for the session; for each
test 3 masters (`--zk`), 3 agents (`--master=zk://`) and a watcher that polls every
master's `master/elected` to prove there is never more than one acting leader.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mesos_runtime.wire.resources import Resources
from tests.harness import daemons, zookeeper
from tests.integration.test_agent_tasks import kill_leftover_tasks, remove_cgroups_root

SESSION_TIMEOUT = "4secs"
AGENT_RESOURCES = "cpus:2;mem:1024;disk:1000"
CGROUPS_ROOT = f"infinity-chaos-{os.getpid()}"


class LeaderWatch:
    """Polls `/metrics/snapshot` of every master; one sweep is one observation."""

    def __init__(self, masters: list[daemons.Daemon]) -> None:
        self.masters = masters
        self.sweeps = 0
        self.double_leaders: list[list[int]] = []
        self.leaders_seen: list[int] = []  # ports, in the order they were first seen leading
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> LeaderWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _elected(self, master: daemons.Daemon) -> bool:
        try:
            snapshot = daemons.http_json(master.url + "/metrics/snapshot", timeout=2)
        except Exception:  # noqa: BLE001 - a dead or starting master is not leading
            return False
        return snapshot.get("master/elected") == 1.0

    def _run(self) -> None:
        while not self._stop.is_set():
            leading = [m.port for m in self.masters if self._elected(m)]
            self.sweeps += 1
            if len(leading) > 1:
                self.double_leaders.append(leading)
            for port in leading:
                if port not in self.leaders_seen:
                    self.leaders_seen.append(port)
            time.sleep(0.05)

    def leader(self) -> daemons.Daemon | None:
        leading = [m for m in self.masters if self._elected(m)]
        return leading[0] if len(leading) == 1 else None


@dataclass
class Cluster:
    zk_url: str
    masters: list[daemons.Daemon]
    agents: list[daemons.Daemon]
    watch: LeaderWatch
    agent_total: Resources = field(default_factory=lambda: Resources.scalars(cpus=2, mem=1024))

    def leader(self, timeout: float = 60.0) -> daemons.Daemon:
        return daemons.wait_until(self.watch.leader, timeout, message="one leading master")

    def agent_ids(self) -> dict[str, daemons.Daemon]:
        """Agent id -> daemon, as the leading master knows them."""
        by_port = {a.port: a for a in self.agents}
        out = {}
        for entry in daemons.registered_agents(self.leader()):
            port = int(entry["pid"].rsplit(":", 1)[1])
            if port in by_port:
                out[entry["id"]] = by_port[port]
        return out


def start_all(ds: list[daemons.Daemon]) -> None:
    with ThreadPoolExecutor(len(ds)) as pool:
        for future in [pool.submit(d.start, 60) for d in ds]:
            future.result()


@pytest.fixture
def cluster_flags() -> list[str]:
    """Extra master flags; a test overrides it (e.g. short agent ping timeouts)."""
    return ["--agent_ping_timeout=2secs", "--max_agent_ping_timeouts=5"]


@pytest.fixture
def cluster(
    zk_quorum: zookeeper.QuorumHandle, tmp_path: Path, cluster_flags: list[str]
) -> Iterator[Cluster]:
    for node in zk_quorum.nodes:  # a previous test may have killed one
        if not node.running:
            zk_quorum.start(node.myid)
    zk_quorum.wait_for_quorum()
    url = zk_quorum.zk_url(f"/mesos-chaos-{uuid.uuid4().hex[:8]}")
    masters = [
        daemons.master(
            tmp_path / f"m{i}",
            f"--zk={url}",
            "--quorum=2",
            f"--zk_session_timeout={SESSION_TIMEOUT}",
            "--allocation_interval=100ms",
            "--heartbeat_interval=2secs",
            *cluster_flags,
        )
        for i in (1, 2, 3)
    ]
    agents = [
        daemons.agent(
            tmp_path / f"a{i}",
            url,
            f"--resources={AGENT_RESOURCES}",
            "--registration_backoff_factor=100ms",
            f"--cgroups_root={CGROUPS_ROOT}",
        )
        for i in (1, 2, 3)
    ]
    watch = LeaderWatch(masters)
    try:
        start_all(masters)
        watch.start()
        c = Cluster(url, masters, agents, watch)
        start_all(agents)
        daemons.wait_until(lambda: len(c.agent_ids()) == 3, 60, message="3 agents registered")
        yield c
    finally:
        watch.stop()
        for d in [*agents, *masters]:
            d.stop()
        for i in (1, 2, 3):
            kill_leftover_tasks(tmp_path / f"a{i}")
        remove_cgroups_root(CGROUPS_ROOT)
        # the quorum is the session's: bring back any node this test killed
        for node in zk_quorum.nodes:
            if not node.running:
                zk_quorum.start(node.myid)
        zk_quorum.wait_for_quorum()
