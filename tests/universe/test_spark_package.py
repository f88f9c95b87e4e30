"""The Spark package without a cluster: the distribution from PyPI's pyspark sdist,
verified and unpacked outside the repository; the spec and configs rendered for each
choice of recovery, masters and history server. `test_spark_e2e.py` runs it for real
through the SDK."""

from __future__ import annotations

import os
import uuid

import pytest

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


def test_the_optional_history_server_is_a_third_phase_reading_its_log_directory(
    spark_package: Package,
) -> None:
    options = resolve(
        spark_package.schema,
        {"history_server": {"enabled": True, "log_directory": "file:/shared/spark-events"}},
    )
    service = ServiceIdentity(name="spark", uid=str(uuid.uuid4()))
    spec = render_spec(spark_package, options, service, artifact_refs(spark_package)).spec
    assert [p.name for p in build_plan(spec, "deploy").phases] == ["master", "worker", "history"]
    _rendered, configs = render_preview(
        spark_package, options, service, artifact_refs(spark_package)
    )
    defaults = configs["history-0-server"]["conf/spark-defaults.conf"].splitlines()
    assert "spark.history.fs.logDirectory file:/shared/spark-events" in defaults
