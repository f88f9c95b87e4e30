"""`infinity cluster up` starts one Marathon beside the local master; `cluster down` stops
it with the rest. Run as a user would, as real subprocesses."""

from __future__ import annotations

import base64
import json
import os
import urllib.request
from pathlib import Path

import pytest

from mesos_runtime.cli.localcluster import ClusterState, stop_processes
from tests.harness.daemons import free_port, wait_until
from tests.integration.test_cli_cluster import infinity

from .conftest import api

pytestmark = pytest.mark.integration


def test_cluster_up_starts_a_marathon_that_runs_apps_and_down_stops_it(tmp_path: Path) -> None:
    directory = tmp_path / "cluster"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "INFINITY_"))}
    env["INFINITY_CLUSTER_DIR"] = str(directory)
    up = infinity(
        "cluster", "up", "--port", str(free_port()), "--resources", "cpus:2;mem:2048;disk:2048",
        env=env,
    )  # fmt: skip
    state = ClusterState.load(directory)
    try:
        assert up.returncode == 0, up.stderr
        assert state is not None and state.marathon is not None
        assert f"Marathon: {state.marathon.url}" in up.stdout
        info = wait_until(
            lambda: (
                (i := api(state.marathon.url, "GET", "/v2/info").body) and i["frameworkId"] and i
            ),
            30,
            message="Marathon subscribed",
        )
        assert info["marathon_config"]["master"] == state.master.address
        # authentication is on: Marathon registered under its own generated principal
        assert state.credential is not None
        operator = json.loads(Path(state.credential).read_text())
        basic = base64.b64encode(f"{operator['principal']}:{operator['secret']}".encode())
        request = urllib.request.Request(
            state.master.url + "/master/state", headers={"Authorization": b"Basic " + basic}
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            frameworks = json.load(r)["frameworks"]
        assert [f["principal"] for f in frameworks if f["name"] == "marathon"] == ["marathon"]
        app = {"id": "/hello", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32}
        assert api(state.marathon.url, "POST", "/v2/apps", app).status == 201
        wait_until(
            lambda: [
                t
                for t in api(state.marathon.url, "GET", "/v2/apps/hello/tasks").body["tasks"]
                if t["state"] == "TASK_RUNNING"
            ],
            30,
            message="the app running",
        )
        down = infinity("cluster", "down", env=env)
        assert down.returncode == 0, down.stderr
        assert not state.marathon.is_ours()
    finally:
        if state is not None:
            stop_processes(state.processes)
