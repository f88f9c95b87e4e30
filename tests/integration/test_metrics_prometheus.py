"""`/metrics` in Prometheus' text format on a real master, agent and Marathon, read with
`prometheus_client`'s own parser: the same figures as the JSON snapshots under
Prometheus-safe names, and they move when a task runs."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mesos_runtime.wire.prometheus import metric_name
from tests.harness import daemons
from tests.integration.test_agent_tasks import kill_leftover_tasks
from tests.marathon.conftest import api, marathon

pytestmark = pytest.mark.integration

INFINITY = str(Path(sys.executable).with_name("infinity"))


def scrape(url: str) -> tuple[str, dict[str, float], dict[str, str]]:
    """(content type, values and types by metric name) of one scrape. By family: the parser
    names a counter's sample `<name>_total`, as OpenMetrics does."""
    with urllib.request.urlopen(url, timeout=10) as response:
        content_type = response.headers["Content-Type"]
        text = response.read().decode()
    values: dict[str, float] = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        (sample,) = family.samples  # one unlabelled sample per metric
        values[family.name] = sample.value
    return content_type, values, types


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[daemons.Daemon, daemons.Daemon]]:
    root = tmp_path_factory.mktemp("prometheus")
    master = daemons.master(root / "master", "--allocation_interval=100ms")
    agent = daemons.agent(root / "agent", master.address, "--resources=cpus:4;mem:4096;disk:4096")
    try:
        with daemons.running(master, agent):
            daemons.wait_until(
                lambda: len(daemons.registered_agents(master)) == 1, 30, message="the agent"
            )
            yield master, agent
    finally:
        kill_leftover_tasks(agent.work_dir)


def run_task(master: daemons.Daemon, command: str) -> None:
    result = subprocess.run(
        [INFINITY, "task", "run", "--master", master.address, "--name", "scraped", "--", command],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_master_and_agent_metrics_parse_and_count_a_finished_task(
    cluster: tuple[daemons.Daemon, daemons.Daemon],
) -> None:
    master, agent = cluster
    content_type, before, types = scrape(master.url + "/metrics")
    assert content_type.startswith("text/plain; version=0.0.4")
    snapshot = daemons.http_json(master.url + "/metrics/snapshot")
    # every snapshot key is there under its Prometheus-safe name
    assert {metric_name(k) for k in snapshot} <= set(before)
    assert before["master_elected"] == 1.0
    assert before["master_slaves_active"] == 1.0
    assert types["master_tasks_finished"] == "counter"
    assert types["master_tasks_running"] == "gauge"
    _, agent_before, agent_types = scrape(agent.url + "/metrics")
    assert agent_before["slave_registered"] == 1.0
    assert agent_types["slave_tasks_finished"] == "counter"

    run_task(master, "true")

    daemons.wait_until(
        lambda: (
            scrape(master.url + "/metrics")[1]["master_tasks_finished"]
            == before["master_tasks_finished"] + 1
        ),
        30,
        message="master_tasks_finished to count the task",
    )
    _, agent_after, _ = scrape(agent.url + "/metrics")
    assert agent_after["slave_tasks_finished"] == agent_before["slave_tasks_finished"] + 1
    assert agent_after["slave_valid_status_updates"] > agent_before["slave_valid_status_updates"]
    assert agent_after["slave_uptime_secs"] > agent_before["slave_uptime_secs"]


def test_marathon_keeps_json_metrics_and_serves_prometheus_beside_them(
    cluster: tuple[daemons.Daemon, daemons.Daemon], tmp_path: Path
) -> None:
    # Marathon's /metrics is Dropwizard JSON (clients read it so); Prometheus has its own path
    master, _agent = cluster
    with daemons.running(marathon(tmp_path, master.address)) as (process,):
        assert "gauges" in api(process.url, "GET", "/metrics").body
        _, before, types = scrape(process.url + "/metrics/prometheus")
        assert types["marathon_events_published_counter"] == "counter"
        app = {"id": "/scraped", "cmd": "sleep 600", "cpus": 0.1, "mem": 16, "instances": 1}
        assert api(process.url, "POST", "/v2/apps", app).status == 201
        try:
            daemons.wait_until(
                lambda: (
                    scrape(process.url + "/metrics/prometheus")[1].get(
                        "marathon_instances_running_gauge"
                    )
                    == 1.0
                ),
                60,
                message="one running instance in Marathon's metrics",
            )
            _, after, _ = scrape(process.url + "/metrics/prometheus")
            assert after["marathon_apps_active_gauge"] == 1.0
            published = "marathon_events_published_counter"
            assert after[published] > before[published]
        finally:
            api(process.url, "DELETE", "/v2/apps/scraped?force=true")
            daemons.wait_until(
                lambda: not api(process.url, "GET", "/v2/tasks").body["tasks"],
                60,
                message="the app's task gone",
            )
