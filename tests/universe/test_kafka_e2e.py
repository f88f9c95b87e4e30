"""Kafka end to end on a local cluster whose agents are hosts of their own: `infinity
install kafka` (3 brokers, one per host) → ready → a real client produces and consumes →
a broker setting is updated, rolled one broker at a time → rolled back → an agent is
stopped and its broker replaced on the spare host, the data still consumable → `infinity
uninstall` leaves no task, reservation or stored state. The tests run in file order and
share the cluster (4 agents: one spare for the replacement)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from mesos_runtime.cli.endpoints import master_state
from mesos_runtime.cli.localcluster import (
    ClusterState,
    free_port,
    start_cluster,
    stop_cluster,
)
from tests.harness.daemons import lose_host, wait_until
from tests.harness.operator import operator_headers

pytestmark = pytest.mark.integration

INFINITY = str(Path(sys.executable).with_name("infinity"))
RECORDS = {f"order-{i}" for i in range(300)}

# small-footprint brokers for 2 cores; a short replacement timeout for the agent-loss test
OPTIONS = {
    "service": {"permanent_failure_timeout_secs": 10},
    "brokers": {
        "heap_mb": 192,
        "mem": 512,
        "cpus": 0.3,
        "disk_mb": 200,
        "num_network_threads": 1,
        "num_io_threads": 1,
        "background_threads": 1,
        "jvm_opts": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError",
    },
    "kafka": {"group_initial_rebalance_delay_ms": 0, "min_insync_replicas": 1},
}


@dataclass
class Cluster:
    directory: Path
    env: dict[str, str]
    facts: dict[str, Any] = field(default_factory=dict)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [INFINITY, *args], env=self.env, capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip

    def ok(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = self.run(*args, timeout=timeout)
        assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-2000:]
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    @property
    def state(self) -> ClusterState:
        state = ClusterState.load(self.directory)
        assert state is not None
        return state

    def master(self) -> dict[str, Any]:
        os.environ.setdefault("INFINITY_CLUSTER_DIR", str(self.directory))
        return master_state(self.state.master.address)

    def bootstrap(self) -> str:
        return self.ok("kafka", "endpoints", "broker").stdout.strip()

    def brokers(self) -> dict[str, tuple[str, str]]:
        """pod instance -> (host, task id) of the running broker tasks."""
        doc = self.json("kafka", "pod", "status")
        return {
            i["name"]: (t["hostname"], t["id"])
            for p in doc["pods"]
            for i in p["instances"]
            for t in i["tasks"]
            if t["status"] == "TASK_RUNNING"
        }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("kafka-e2e")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "INFINITY_"))}
    if "INFINITY_CACHE_DIR" in os.environ:
        env["INFINITY_CACHE_DIR"] = os.environ["INFINITY_CACHE_DIR"]
    env["INFINITY_CLUSTER_DIR"] = str(root / "cluster")
    env["INFINITY_CONFIG_DIR"] = str(root / "config")
    cluster = Cluster(root / "cluster", env)
    (root / "options.json").write_text(json.dumps(OPTIONS))
    cluster.facts["options"] = root / "options.json"
    # `cluster up --agents 4`, with short agent ping timeouts so that a killed agent is
    # unreachable in seconds (the default takes 75 s)
    start_cluster(
        cluster.directory, agents=4, port=free_port(), agent_resources="cpus:1;mem:1536;disk:2048",
        marathon=True, marathon_port=free_port(), authenticate=True,
        master_flags=["--agent_ping_timeout=2secs", "--max_agent_ping_timeouts=3"],
    )  # fmt: skip
    saved = os.environ.get("INFINITY_CLUSTER_DIR")
    os.environ["INFINITY_CLUSTER_DIR"] = str(cluster.directory)  # master_state's credential
    try:
        yield cluster
    finally:
        if saved is None:
            os.environ.pop("INFINITY_CLUSTER_DIR", None)
        else:
            os.environ["INFINITY_CLUSTER_DIR"] = saved
        state = ClusterState.load(cluster.directory)
        if state is not None:
            stop_cluster(state)  # as `cluster down`: the drained agents kill their tasks


def _consume_all(bootstrap: str, group: str) -> set[str]:
    consumer = confluent_kafka.Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"}
    )
    consumer.subscribe(["orders"])
    received: set[str] = set()

    def all_received() -> bool:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            received.add(message.value().decode())
        return received >= RECORDS

    try:
        wait_until(all_received, 120, interval=0, message="every record consumed")
    finally:
        consumer.close()
    return received


def _broker_setting(bootstrap: str, broker: int, name: str) -> str:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ResourceType.BROKER, str(broker))
    configs = admin.describe_configs([resource])[resource].result(timeout=60)
    return configs[name].value


def _step_order(stderr: str) -> list[tuple[str, str]]:
    """(step, status) in the order the live view reported them."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip().startswith("kafka-")]
    return [tuple(ln.split()[:2]) for ln in lines]  # type: ignore[misc]


_UNDER_WAY = {"PREPARED", "STARTING", "STARTED", "IN_PROGRESS", "COMPLETE"}


def _assert_rolled_one_at_a_time(stderr: str) -> None:
    """Each broker's step got under way only after the one before it was COMPLETE (the
    live view samples the plan, so a step may skip a state between two samples)."""
    order = _step_order(stderr)

    def first(step: str, states: set[str]) -> int:
        return next(i for i, (s, state) in enumerate(order) if s == step and state in states)

    for index in (1, 2):
        started = first(f"kafka-{index}:[broker]", _UNDER_WAY)
        previous_done = first(f"kafka-{index - 1}:[broker]", {"COMPLETE"})
        assert previous_done < started, order


@pytest.mark.timeout(500)  # plans of JVM pods on a loaded 2-core machine
def test_install_deploys_one_broker_per_host_and_becomes_ready(cluster: Cluster) -> None:
    result = cluster.ok(
        "install", "kafka", "--options", str(cluster.facts["options"]), "--yes",
        "--wait", "--timeout", "420", timeout=480,
    )  # fmt: skip
    assert "kafka: deploy plan COMPLETE" in result.stderr
    plan = cluster.json("kafka", "plan", "status", "deploy")
    assert plan["status"] == "COMPLETE"
    brokers = cluster.brokers()
    assert sorted(brokers) == ["kafka-0", "kafka-1", "kafka-2"]
    hosts = {host for host, _ in brokers.values()}
    assert len(hosts) == 3 and hosts <= {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}
    listed = cluster.json("list")
    assert [(s["name"], s["package"], s["revision"]) for s in listed] == [("kafka", "kafka", 1)]
    cluster.facts["tasks"] = {name: task for name, (_host, task) in brokers.items()}


def test_a_real_client_produces_and_consumes_through_the_bootstrap_servers(
    cluster: Cluster,
) -> None:
    bootstrap = cluster.bootstrap()
    assert len(bootstrap.split(",")) == 3

    def all_registered() -> bool:
        listed = cluster.run("kafka", "broker", "list", "--json")
        brokers = json.loads(listed.stdout) if listed.returncode == 0 else []
        return [(b["id"], b["fenced"]) for b in brokers] == [(0, False), (1, False), (2, False)]

    # every broker passed its readiness check; on a loaded machine one may still be
    # rejoining after a restart, which the brokers' own metadata shows
    wait_until(all_registered, 120, interval=2, message="3 unfenced brokers in the metadata")
    cluster.ok("kafka", "topic", "create", "orders", "--partitions", "3", "--replication", "3")
    described = cluster.json("kafka", "topic", "describe", "orders")
    assert all(sorted(p["isr"]) == [0, 1, 2] for p in described["partitions"])
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for value in sorted(RECORDS):
        producer.produce("orders", value=value.encode())
    assert producer.flush(60) == 0
    assert _consume_all(bootstrap, "readers-1") >= RECORDS


@pytest.mark.timeout(500)  # plans of JVM pods on a loaded 2-core machine
def test_a_broker_setting_update_rolls_one_broker_at_a_time(
    cluster: Cluster, tmp_path: Path
) -> None:
    change = tmp_path / "retention.json"
    change.write_text(json.dumps({"kafka": {"log_retention_hours": 100}}))
    result = cluster.ok(
        "update", "kafka", "--options", str(change), "--wait", "--timeout", "420", timeout=480
    )
    _assert_rolled_one_at_a_time(result.stderr)
    brokers = cluster.brokers()
    assert all(task != cluster.facts["tasks"][name] for name, (_h, task) in brokers.items())
    bootstrap = cluster.bootstrap()
    assert {_broker_setting(bootstrap, b, "log.retention.hours") for b in (0, 1, 2)} == {"100"}
    history = cluster.json("history", "kafka")
    assert history["current"] == 2
    assert history["revisions"][-1]["options"]["kafka"] == {
        **OPTIONS["kafka"],
        "log_retention_hours": 100,
    }


@pytest.mark.timeout(500)  # plans of JVM pods on a loaded 2-core machine
def test_a_rollback_restores_the_earlier_setting(cluster: Cluster) -> None:
    result = cluster.ok("rollback", "kafka", "--wait", "--timeout", "420", timeout=480)
    _assert_rolled_one_at_a_time(result.stderr)
    bootstrap = cluster.bootstrap()
    assert {_broker_setting(bootstrap, b, "log.retention.hours") for b in (0, 1, 2)} == {"168"}
    assert cluster.json("history", "kafka")["revisions"][-1]["action"] == "rollback to 1"
    assert _consume_all(bootstrap, "readers-2") >= RECORDS


@pytest.mark.timeout(420)  # plans of JVM pods on a loaded 2-core machine
def test_a_lost_agents_broker_is_replaced_on_another_host_and_data_survives(
    cluster: Cluster,
) -> None:
    state = cluster.state
    assert state.marathon is not None
    request = urllib.request.Request(
        f"{state.marathon.url}/v2/apps/kafka", headers=operator_headers(state)
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        scheduler_host = json.loads(r.read())["app"]["tasks"][0]["host"]
    brokers = cluster.brokers()
    victim, (host, _task) = next(
        (name, where) for name, where in sorted(brokers.items()) if where[0] != scheduler_host
    )
    agent = next(a for a in cluster.state.agents if a.ip == host)
    lose_host(agent)
    cluster.facts["lost"] = (victim, host)  # what the uninstall must name as left behind

    def replaced() -> bool:
        now = cluster.brokers()
        return victim in now and now[victim][0] not in (host,)

    wait_until(replaced, 180, interval=1, message=f"{victim} replaced on another host")
    spare = cluster.brokers()[victim][0]
    assert spare not in {h for n, (h, _t) in brokers.items() if n != victim}
    bootstrap = cluster.bootstrap()
    assert host not in bootstrap
    assert _consume_all(bootstrap, "readers-3") >= RECORDS

    def in_sync() -> bool:
        described = cluster.json("kafka", "topic", "describe", "orders")
        return all(sorted(p["isr"]) == [0, 1, 2] for p in described["partitions"])

    wait_until(in_sync, 120, interval=2, message="the replaced broker back in every ISR")


@pytest.mark.timeout(300)  # plans of JVM pods on a loaded 2-core machine
def test_uninstall_removes_everything_and_names_what_the_lost_host_still_holds(
    cluster: Cluster,
) -> None:
    victim, host = cluster.facts["lost"]
    result = cluster.run("uninstall", "kafka", "--yes", "--timeout", "180", timeout=240)
    # the lost host's broker task and reservation cannot be removed until it comes back
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"could not remove: task {victim}-broker" in result.stderr, result.stderr
    assert "could not remove: reservation" in result.stderr
    assert f"on {host}" in result.stderr
    assert "no tasks, reservations or state left" not in result.stdout
    assert cluster.json("list") == []
    doc = cluster.master()
    assert [f["name"] for f in doc.get("frameworks", [])] == ["marathon"]
    # every agent still registered holds no reservation of the service
    assert all(
        not a.get("reserved_resources") for a in doc.get("slaves", []) if a["hostname"] != host
    )
    assert not (cluster.directory / "services" / "kafka").exists()
