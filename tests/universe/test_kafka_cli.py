"""`infinity kafka topic create|list|describe|delete` and `infinity kafka broker list`: Kafka's
own admin tools from the package's locked library, against a real broker (the package's
rendered broker, started in a sandbox; `--bootstrap` names it, as the endpoint would)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.universe.conftest import INFINITY
from tests.universe.test_kafka_package import Broker, broker  # noqa: F401 - a fixture


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFINITY_")}
    if "INFINITY_CACHE_DIR" in os.environ:
        env["INFINITY_CACHE_DIR"] = os.environ["INFINITY_CACHE_DIR"]
    env["INFINITY_CONFIG_DIR"] = str(tmp_path / "config")
    env["INFINITY_CLUSTER_DIR"] = str(tmp_path / "no-cluster")
    return subprocess.run(
        [str(INFINITY), *args], env=env, capture_output=True, text=True, timeout=180,
        stdin=subprocess.DEVNULL, check=False, cwd=tmp_path,
    )  # fmt: skip


def test_topics_are_created_listed_described_and_deleted(
    broker: Broker,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    at = ("--bootstrap", broker.bootstrap)
    created = run(tmp_path, "kafka", "topic", "create", "events", "--partitions", "3",
                  "--replication", "1", "--config", "retention.ms=60000", *at)  # fmt: skip
    assert created.returncode == 0, created.stderr
    listed = run(tmp_path, "kafka", "topic", "list", "--json", *at)
    assert listed.returncode == 0, listed.stderr
    assert "events" in json.loads(listed.stdout)
    described = run(tmp_path, "kafka", "topic", "describe", "events", "--json", *at)
    assert described.returncode == 0, described.stderr
    doc = json.loads(described.stdout)
    assert doc["partition_count"] == 3 and doc["replication_factor"] == 1
    assert [p["partition"] for p in doc["partitions"]] == [0, 1, 2]
    assert all(p["leader"] == 0 and p["isr"] == [0] for p in doc["partitions"])
    again = run(tmp_path, "kafka", "topic", "create", "events", "--replication", "1", *at)
    assert again.returncode == 1 and "already exists" in again.stderr
    too_many = run(tmp_path, "kafka", "topic", "create", "wide", "--replication", "3", *at)
    assert too_many.returncode == 1 and "replication factor" in too_many.stderr.lower()
    deleted = run(tmp_path, "kafka", "topic", "delete", "events", *at)
    assert deleted.returncode == 0, deleted.stderr
    listed = run(tmp_path, "kafka", "topic", "list", "--json", *at)
    assert "events" not in json.loads(listed.stdout)


def test_broker_list_names_each_registered_broker(
    broker: Broker,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    result = run(tmp_path, "kafka", "broker", "list", "--json", "--bootstrap", broker.bootstrap)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"id": 0, "address": broker.bootstrap, "rack": None, "fenced": False}
    ]
