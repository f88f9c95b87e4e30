"""Spark end to end on a local cluster whose agents are hosts of their own, with the
session's real ZooKeeper as the cluster's: `infinity install spark` (a master in ZooKeeper
recovery mode, a worker and the history server, as pods) → ready → the master's process
killed: the SDK relaunches it in place and it recovers from ZooKeeper, its worker registered
again → `infinity spark submit` runs a real PySpark job on the cluster's worker and streams
the driver's output → the history server lists the application → `infinity uninstall`
leaves nothing."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient

from mesos_runtime.cli.localcluster import ClusterState, agent_host, free_port, stop_cluster
from tests.harness import zookeeper
from tests.harness.daemons import wait_until

pytestmark = pytest.mark.integration

INFINITY = str(Path(sys.executable).with_name("infinity"))
ZK_DIR = f"/infinity-e2e-{uuid.uuid4().hex[:8]}/spark"
# small daemons for 2 cores; the worker fits an agent of the cluster below (1 cpu, 2 GB)
OPTIONS: dict[str, Any] = {
    "master": {"daemon_memory_mb": 160},
    "worker": {
        "count": 1,
        "cores": 1,
        "executor_memory_mb": 512,
        "daemon_memory_mb": 160,
        "mem": 1024,
        "disk_mb": 200,
    },
    "history_server": {"enabled": True, "daemon_memory_mb": 128},
    "spark": {"zookeeper_dir": ZK_DIR, "extra": {"spark.history.fs.update.interval": "2s"}},
}
AGENTS = 3

# a sum of squares and a word count, computed in the worker's executor
JOB = """
from pyspark.sql import SparkSession

spark = SparkSession.builder.appName("infinity-sum-of-squares").getOrCreate()
sc = spark.sparkContext
total = sc.parallelize(range(1, 1001), 4).map(lambda x: x * x).sum()
words = (
    sc.parallelize(["a b", "b c", "c c"]).flatMap(str.split)
    .map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b).collectAsMap()
)
print("RESULT", total, sorted(words.items()))
spark.stop()
"""


def free_port_range(size: int = 100) -> str:
    """`[first-last]`, free on every agent's address now: the machine may run other local
    clusters, whose agents offer the default ranges on the same loopback addresses."""
    hosts = [agent_host(i)[0] for i in range(AGENTS)]
    for _ in range(50):
        first = random.randrange(20000, 30000 - size, size)

        def free(host: str, port: int) -> bool:
            with socket.socket() as s:
                try:
                    s.bind((host, port))
                except OSError:
                    return False
            return True

        if all(free(h, p) for h in hosts for p in range(first, first + size)):
            return f"[{first}-{first + size - 1}]"
    raise AssertionError("no free port range on the agents' addresses")


@pytest.fixture(scope="module")
def env(
    tmp_path_factory: pytest.TempPathFactory, zk_quorum: zookeeper.QuorumHandle
) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("spark-e2e")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "INFINITY_"))}
    if "INFINITY_CACHE_DIR" in os.environ:
        env["INFINITY_CACHE_DIR"] = os.environ["INFINITY_CACHE_DIR"]
    env["INFINITY_CLUSTER_DIR"] = str(root / "cluster")
    env["INFINITY_CONFIG_DIR"] = str(root / "config")
    env["INFINITY_ZOOKEEPER"] = zk_quorum.connect_string  # the cluster's ZooKeeper
    env["OPTIONS"] = str(root / "options.json")
    # the drivers (here) and the history server (an agent of this machine) share it
    events = root / "spark-events"
    events.mkdir()
    env["EVENTS"] = f"file:{events}"
    history = {**OPTIONS["history_server"], "log_directory": env["EVENTS"]}
    (root / "options.json").write_text(json.dumps({**OPTIONS, "history_server": history}))
    up = run(env, "cluster", "up", "--agents", str(AGENTS), "--port", str(free_port()),
             "--resources", f"cpus:1;mem:2048;disk:2048;ports:{free_port_range()}")  # fmt: skip
    assert up.returncode == 0, up.stderr
    try:
        yield env
    finally:
        state = ClusterState.load(root / "cluster")
        if state is not None:
            stop_cluster(state)  # as `cluster down`: the drained agents kill their tasks


def run(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INFINITY, *args], env=env, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, check=False, cwd=Path(env["OPTIONS"]).parent,
    )  # fmt: skip


def endpoint(env: dict[str, str], name: str) -> list[str]:
    listed = run(env, "spark", "endpoints", name)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout.split()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def master_status(address: str) -> dict[str, Any]:
    status: dict[str, Any] = get_json(f"http://{address}/json/")
    return status


def master_pid(address: str) -> int:
    """The pid of the Spark master JVM listening at `address` (host:port): its task's
    process (the task's shell execs spark-class, which execs java)."""
    host, port = address.split(":")
    wanted = [b"org.apache.spark.deploy.master.Master", b"--host", host.encode(), b"--port"]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if all(w in argv for w in wanted) and argv[argv.index(b"--port") + 1] == port.encode():
            return int(entry.name)
    raise AssertionError(f"no Spark master process listening at {address}")


def master_task(env: dict[str, str]) -> tuple[str, str]:
    """(task id, state) of the master pod's task, as `infinity spark pod status` shows it."""
    listed = run(env, "spark", "pod", "status", "--json")
    assert listed.returncode == 0, listed.stderr
    [task] = [
        t
        for p in json.loads(listed.stdout)["pods"]
        if p["name"] == "master"
        for i in p["instances"]
        for t in i["tasks"]
    ]
    return task["id"], task["status"]


@pytest.mark.timeout(600)  # a master, a worker and a job's JVMs on a loaded 2-core machine
def test_spark_installs_runs_a_real_job_and_uninstalls(
    env: dict[str, str], zk_quorum: zookeeper.QuorumHandle
) -> None:
    installed = run(env, "install", "spark", "--options", env["OPTIONS"], "--yes", "--wait",
                    "--timeout", "240")  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    [master] = endpoint(env, "master")
    assert master.startswith("127.0.0.")
    [ui] = endpoint(env, "master-ui")
    status = master_status(ui)
    assert status["status"] == "ALIVE"
    assert [w["state"] for w in status["workers"]] == ["ALIVE"]
    # the master keeps its state in the cluster's ZooKeeper: it won the election there
    zk = KazooClient(hosts=zk_quorum.connect_string)
    zk.start(timeout=30)
    try:
        assert zk.get_children(f"{ZK_DIR}/leader_election")
        assert zk.exists(f"{ZK_DIR}/master_status") is not None
    finally:
        zk.stop()
        zk.close()

    # the master crashes: the SDK relaunches it in place (same host and ports), and it
    # recovers from ZooKeeper: it tells the worker it stored there that it leads again,
    # and the worker (not restarted) is registered with it again
    [worker] = [w["id"] for w in status["workers"]]
    crashed, _ = master_task(env)
    os.kill(master_pid(master), signal.SIGKILL)

    def relaunched() -> str | None:
        task_id, state = master_task(env)
        return task_id if task_id != crashed and state == "TASK_RUNNING" else None

    relaunched_id = wait_until(relaunched, 120, interval=1, message="the master relaunched")
    assert endpoint(env, "master") == [master]
    recovered = wait_until(
        lambda: (doc := master_status(ui))["status"] == "ALIVE" and doc["workers"] and doc,
        120, interval=1, message="the relaunched master ALIVE with its worker",
    )  # fmt: skip
    assert [(w["id"], w["state"]) for w in recovered["workers"]] == [(worker, "ALIVE")]
    log = run(env, "task", "log", relaunched_id, "--stderr")
    assert log.returncode == 0, log.stderr
    assert "New state: RECOVERING" in log.stdout, log.stdout[-3000:]
    assert "Recovery complete" in log.stdout, log.stdout[-3000:]
    wait_until(
        lambda: json.loads(run(env, "spark", "plan", "status", "recovery", "--json").stdout)[
            "status"] == "COMPLETE",
        120, interval=1, message="the recovery plan COMPLETE",
    )  # fmt: skip

    job = Path(env["OPTIONS"]).parent / "job.py"
    job.write_text(JOB)
    events = f"spark.eventLog.dir={env['EVENTS']}"
    done = run(env, "spark", "submit", "--driver-memory", "512m",
               "--conf", "spark.executor.memory=512m", "--conf", "spark.ui.enabled=false",
               "--conf", "spark.eventLog.enabled=true", "--conf", events,
               str(job), timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RESULT 333833500 [('a', 1), ('b', 2), ('c', 3)]" in done.stdout
    # it ran on the cluster (its executor on the worker): the master lists it completed
    apps = master_status(ui)["completedapps"]
    assert [a["name"] for a in apps] == ["infinity-sum-of-squares"]
    # the history server read its event log
    [history] = endpoint(env, "history-ui")
    listed = wait_until(
        lambda: get_json(f"http://{history}/api/v1/applications"),
        60,
        interval=1,
        message="the history server listing the application",
    )
    assert [a["name"] for a in listed] == ["infinity-sum-of-squares"]
    # an application that fails: its own message, and its status is the command's
    failing = Path(env["OPTIONS"]).parent / "failing.py"
    failing.write_text('import sys\nprint("no input for the sums", file=sys.stderr)\nsys.exit(3)\n')
    failed = run(env, "spark", "submit", str(failing), timeout=120)
    assert failed.returncode == 3, failed
    assert "no input for the sums" in failed.stdout + failed.stderr  # spark-submit merges them
    assert "the application exited with status 3" in failed.stderr

    removed = run(env, "uninstall", "spark", "--yes", "--timeout", "120")
    assert removed.returncode == 0, removed.stderr[-2000:]
    assert json.loads(run(env, "list", "--json").stdout) == []
