"""Spark end to end on a local cluster whose agents are hosts of their own: `infinity
install spark` (a master and a worker as pods) → ready → `infinity spark submit` runs a
real PySpark job on the cluster and streams the driver's output → `infinity uninstall`
leaves nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesos_runtime.cli.localcluster import ClusterState, free_port, stop_cluster
from tests.universe.test_spark_package import JOB

pytestmark = pytest.mark.integration

INFINITY = str(Path(sys.executable).with_name("infinity"))
OPTIONS = {
    "master": {"daemon_memory_mb": 160},
    "worker": {"count": 1, "cores": 1, "executor_memory_mb": 512, "daemon_memory_mb": 160},
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("spark-e2e")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "INFINITY_"))}
    if "INFINITY_CACHE_DIR" in os.environ:
        env["INFINITY_CACHE_DIR"] = os.environ["INFINITY_CACHE_DIR"]
    env["INFINITY_CLUSTER_DIR"] = str(root / "cluster")
    env["INFINITY_CONFIG_DIR"] = str(root / "config")
    env["OPTIONS"] = str(root / "options.json")
    (root / "options.json").write_text(json.dumps(OPTIONS))
    up = run(env, "cluster", "up", "--agents", "3", "--port", str(free_port()),
             "--resources", "cpus:1;mem:2048;disk:2048")  # fmt: skip
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


@pytest.mark.timeout(900)  # a master, a worker and a job's JVMs on a loaded 2-core machine
@pytest.mark.xfail(
    reason="known bug, open in issue 15: through the SDK the Spark master's readiness never "
    "passes (it is ALIVE within seconds, yet killed after the health grace period, and the "
    "rendered peer list names its RPC port as the web UI's); test_spark_package runs the "
    "same Spark for real without the SDK",
    strict=False,
)
def test_spark_installs_runs_a_real_job_and_uninstalls(env: dict[str, str]) -> None:
    installed = run(env, "install", "spark", "--options", env["OPTIONS"], "--yes", "--wait",
                    "--timeout", "240")  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    masters = run(env, "spark", "endpoints", "master")
    assert masters.returncode == 0 and masters.stdout.strip().startswith("127.0.0."), masters
    job = Path(env["OPTIONS"]).parent / "job.py"
    job.write_text(JOB)
    done = run(env, "spark", "submit", "--driver-memory", "512m",
               "--conf", "spark.executor.memory=512m", "--conf", "spark.ui.enabled=false",
               str(job), timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RESULT 333833500 [('a', 1), ('b', 2), ('c', 3)]" in done.stdout
    removed = run(env, "uninstall", "spark", "--yes", "--timeout", "120")
    assert removed.returncode == 0, removed.stderr[-2000:]
    assert json.loads(run(env, "list", "--json").stdout) == []
