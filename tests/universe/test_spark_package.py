"""The Spark package for real: the distribution from PyPI's pyspark sdist, verified; a
master in ZooKeeper recovery mode (the session's real quorum) and a worker started from
the package's rendered spec and configs; a real PySpark job run against them."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient

from mesos_runtime.sdk.context import PodInstance
from mesos_runtime.sdk.plans import build_plan
from mesos_runtime.universe.artifacts import ArtifactStore
from mesos_runtime.universe.mirror import artifact_refs
from mesos_runtime.universe.options import resolve
from mesos_runtime.universe.package import Package
from mesos_runtime.universe.render import (
    ClusterInfo,
    RenderError,
    ServiceIdentity,
    render_preview,
    render_spec,
)
from tests.harness import zookeeper
from tests.harness.daemons import free_port
from tests.universe.sandbox_launcher import SandboxTask

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


@dataclass
class SparkCluster:
    master: SandboxTask
    worker: SandboxTask
    master_instance: PodInstance
    zookeeper_dir: str
    distribution: Path

    def master_status(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.master_instance.ports['master-ui']}/json/"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)


def spark_options(zookeeper_dir: str) -> dict[str, Any]:
    return {
        "master": {"recovery": "zookeeper", "daemon_memory_mb": 160},
        "worker": {"count": 1, "cores": 1, "executor_memory_mb": 512, "daemon_memory_mb": 160},
        "spark": {"zookeeper_dir": zookeeper_dir},
    }


@pytest.fixture(scope="module")
def spark(
    spark_package: Package,
    store: ArtifactStore,
    zk_quorum: zookeeper.QuorumHandle,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SparkCluster]:
    distribution = store.unpack(spark_package, spark_package.manifest.artifact("distribution"))
    zk_dir = f"/infinity-test-{uuid.uuid4().hex[:8]}/spark"
    options = resolve(spark_package.schema, spark_options(zk_dir))
    service = ServiceIdentity(name="spark", uid=str(uuid.uuid4()))
    cluster = ClusterInfo(zookeeper=zk_quorum.connect_string)
    spec = render_spec(spark_package, options, service, artifact_refs(spark_package), cluster).spec
    master = PodInstance(
        pod="master",
        index=0,
        hostname="127.0.0.1",
        ports={"master": free_port(), "master-ui": free_port()},
    )
    worker = PodInstance(
        pod="worker",
        index=0,
        hostname="127.0.0.1",
        ports={"worker": free_port(), "worker-ui": free_port()},
    )
    peers = {"master": [master], "worker": [worker]}
    master_task, worker_task = (
        SandboxTask.of(
            spec, instance, task, peers, tmp_path_factory.mktemp(f"{instance.name}-{task}")
        ).prepare(spark_package, options, service, [distribution], cluster)
        for instance, task in ((master, "master"), (worker, "worker"))
    )
    try:
        master_task.start().wait_ready(120)
        worker_task.start().wait_ready(120)
        yield SparkCluster(master_task, worker_task, master, zk_dir, distribution)
    finally:
        worker_task.stop()
        master_task.stop()


def test_the_distribution_is_the_pyspark_sdist_verified_and_unpacked_outside_the_repo(
    spark_package: Package, store: ArtifactStore
) -> None:
    artifact = spark_package.manifest.artifact("distribution")
    archive = store.fetch(spark_package, artifact)
    assert archive.name == "pyspark-4.0.1.tar.gz"
    tree = store.unpack(spark_package, artifact) / "pyspark-4.0.1"
    assert (tree / "deps" / "bin" / "spark-class").is_file()
    assert os.access(tree / "deps" / "bin" / "spark-class", os.X_OK)
    assert any((tree / "deps" / "jars").glob("spark-core_2.13-4.0.1.jar"))
    assert spark_package.root.resolve() not in archive.resolve().parents


def test_the_master_leads_through_zookeeper_and_the_worker_registers(
    spark: SparkCluster, zk_quorum: zookeeper.QuorumHandle
) -> None:
    status = spark.master_status()
    assert status["status"] == "ALIVE"
    assert [w["state"] for w in status["workers"]] == ["ALIVE"]
    assert status["workers"][0]["port"] == spark.worker.launch.instance.ports["worker"]
    zk = KazooClient(hosts=zk_quorum.connect_string)
    zk.start(timeout=30)
    try:
        assert zk.get_children(f"{spark.zookeeper_dir}/leader_election")
        assert zk.exists(f"{spark.zookeeper_dir}/master_status") is not None
    finally:
        zk.stop()
        zk.close()


def test_a_pyspark_job_runs_on_the_cluster_and_gives_the_right_answer(
    spark: SparkCluster, tmp_path: Path
) -> None:
    job = tmp_path / "job.py"
    job.write_text(JOB)
    home = spark.distribution / "pyspark-4.0.1" / "deps"
    zips = sorted((spark.distribution / "pyspark-4.0.1" / "lib").glob("*.zip"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK", "MESOS_"))}
    env.update(
        SPARK_HOME=str(home),
        PYTHONPATH=":".join(map(str, zips)),
        PYSPARK_PYTHON="python3",
        SPARK_LOCAL_IP="127.0.0.1",
    )
    masters = f"spark://127.0.0.1:{spark.master_instance.ports['master']}"
    done = subprocess.run(
        [
            str(home / "bin" / "spark-submit"),
            "--master", masters,
            "--driver-memory", "512m",
            "--conf", "spark.executor.memory=512m",
            "--conf", "spark.ui.enabled=false",
            "--conf", "spark.driver.host=127.0.0.1",
            str(job),
        ],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RESULT 333833500 [('a', 1), ('b', 2), ('c', 3)]" in done.stdout
    # it ran on the cluster's worker, not in the driver: the master lists it as completed
    apps = spark.master_status()["completedapps"]
    assert [a["name"] for a in apps] == ["infinity-sum-of-squares"]


def test_zookeeper_recovery_is_refused_when_the_cluster_has_no_zookeeper(
    spark_package: Package,
) -> None:
    options = resolve(spark_package.schema, {"master": {"recovery": "zookeeper"}})
    with pytest.raises(RenderError, match="the cluster has no ZooKeeper"):
        render_spec(
            spark_package,
            options,
            ServiceIdentity(name="spark", uid=str(uuid.uuid4())),
            artifact_refs(spark_package),
        )


def test_standby_masters_are_all_given_to_workers_and_need_zookeeper(
    spark_package: Package,
) -> None:
    service = ServiceIdentity(name="spark", uid=str(uuid.uuid4()))
    options = resolve(spark_package.schema, {"master": {"count": 2}})
    with pytest.raises(RenderError, match=r"master\.count > 1 needs ZooKeeper recovery"):
        render_spec(spark_package, options, service, artifact_refs(spark_package))
    cluster = ClusterInfo(zookeeper="zk-1.invalid:2181,zk-2.invalid:2181")
    _rendered, configs = render_preview(
        spark_package, options, service, artifact_refs(spark_package), cluster
    )
    env = configs["worker-0-worker"]["conf/spark-env.sh"]
    assert (
        'SPARK_MASTERS="spark://master-0.agent.invalid:31000,master-1.agent.invalid:31002"' in env
    )
    defaults = configs["master-1-master"]["conf/spark-defaults.conf"].splitlines()
    assert "spark.deploy.recoveryMode ZOOKEEPER" in defaults
    assert "spark.deploy.zookeeper.url zk-1.invalid:2181,zk-2.invalid:2181" in defaults
    assert "spark.deploy.zookeeper.dir /infinity/spark/spark" in defaults


def test_the_optional_history_server_starts_from_its_rendered_config(
    spark_package: Package, store: ArtifactStore, tmp_path: Path
) -> None:
    distribution = store.unpack(spark_package, spark_package.manifest.artifact("distribution"))
    events = tmp_path / "spark-events"
    events.mkdir()
    options = resolve(
        spark_package.schema,
        {
            "history_server": {
                "enabled": True,
                "log_directory": f"file:{events}",
                "daemon_memory_mb": 128,
            }
        },
    )
    service = ServiceIdentity(name="spark", uid=str(uuid.uuid4()))
    spec = render_spec(spark_package, options, service, artifact_refs(spark_package)).spec
    assert [p.name for p in build_plan(spec, "deploy").phases] == ["master", "worker", "history"]
    history = PodInstance(
        pod="history", index=0, hostname="127.0.0.1", ports={"history-ui": free_port()}
    )
    master = PodInstance(
        pod="master",
        index=0,
        hostname="127.0.0.1",
        ports={"master": free_port(), "master-ui": free_port()},
    )
    task = SandboxTask.of(
        spec, history, "server", {"master": [master], "history": [history]}, tmp_path / "history"
    ).prepare(spark_package, options, service, [distribution])
    assert (
        f"spark.history.fs.logDirectory file:{events}"
        in (task.sandbox / "conf" / "spark-defaults.conf").read_text().splitlines()
    )
    try:
        task.start().wait_ready(120)
        url = f"http://127.0.0.1:{history.ports['history-ui']}/api/v1/applications"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert json.load(response) == []
    finally:
        task.stop()
