"""`infinity cluster up` starts one Marathon beside the local master; `cluster down` stops
it with the rest; when the cluster authenticates, Marathon's API takes the operator's
credential only. Run as a user would, as real subprocesses."""

from __future__ import annotations

import base64
import json
import os
import stat
import urllib.request
from pathlib import Path

import pytest

from mesos_runtime.cli.localcluster import (
    CREDENTIALS_DIR,
    ClusterState,
    ensure_credentials,
    stop_processes,
)
from tests.harness.daemons import free_port, wait_until
from tests.harness.operator import operator_auth
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
        auth = operator_auth(state)
        info = wait_until(
            lambda: (
                (i := api(state.marathon.url, "GET", "/v2/info", auth=auth).body)
                and i["frameworkId"]
                and i
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
        assert api(state.marathon.url, "POST", "/v2/apps", app, auth=auth).status == 201
        wait_until(
            lambda: [
                t
                for t in api(state.marathon.url, "GET", "/v2/apps/hello/tasks", auth=auth).body[
                    "tasks"
                ]
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


def _env(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "INFINITY_"))}
    env["INFINITY_CLUSTER_DIR"] = str(directory)
    return env


def _up(env: dict[str, str], *flags: str) -> ClusterState:
    up = infinity(
        "cluster", "up", "--agents", "1", "--port", str(free_port()),
        "--resources", "cpus:1;mem:512;disk:512", *flags, env=env,
    )  # fmt: skip
    state = ClusterState.load(Path(env["INFINITY_CLUSTER_DIR"]))
    if up.returncode != 0 and state is not None:
        stop_processes(state.processes)
    assert up.returncode == 0, up.stderr
    assert state is not None and state.marathon is not None
    return state


def test_an_authenticating_cluster_s_marathon_takes_the_operator_s_credential_only(
    tmp_path: Path,
) -> None:
    secured = tmp_path / "secured"
    # a cluster directory from before Marathon's API was secured: no marathon-api.json yet
    files = ensure_credentials(secured)
    files.marathon_api.unlink()
    env = _env(secured)
    state = _up(env)
    try:
        assert state.marathon is not None
        url = state.marathon.url
        mode = (secured / CREDENTIALS_DIR / "marathon-api.json").stat().st_mode
        assert stat.S_IMODE(mode) == 0o600
        anonymous = api(url, "GET", "/v2/apps")
        assert anonymous.status == 401, anonymous.body
        assert anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
        with urllib.request.urlopen(url + "/ping", timeout=10) as r:
            assert r.status == 200
        operator = operator_auth(state)
        assert operator is not None and operator.startswith("infinity:")
        assert api(url, "GET", "/v2/apps", auth=operator).body == {"apps": []}
        wrong = api(url, "GET", "/v2/apps", auth="infinity:not-the-secret")
        assert wrong.status == 401
        # the cluster's other principals are the master's, not Marathon's callers
        services = json.loads(files.services.read_text())
        other = api(url, "GET", "/v2/apps", auth=f"{services['principal']}:{services['secret']}")
        assert other.status == 401
        # the CLI presents the operator's credential on its own: `list`, and `task kill`,
        # which asks the framework's web UI whether it is a Marathon (else tears it down)
        listed = infinity("list", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == []
        app = {"id": "/one", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32}
        assert api(url, "POST", "/v2/apps", app, auth=operator).status == 201
        (task,) = wait_until(
            lambda: [
                t["id"]
                for t in api(url, "GET", "/v2/apps/one/tasks", auth=operator).body["tasks"]
                if t["state"] == "TASK_RUNNING"
            ],
            30,
            message="the app running",
        )
        killed = infinity("task", "kill", task, "--scale", env=env)
        assert killed.returncode == 0, killed.stderr
        assert "through Marathon" in killed.stderr
        assert killed.stdout.strip() == f"{task} TASK_KILLED"
        assert api(url, "GET", "/v2/apps/one", auth=operator).body["app"]["instances"] == 0
        assert infinity("cluster", "down", env=env).returncode == 0
    finally:
        stop_processes(state.processes)

    env = _env(tmp_path / "open")
    state = _up(env, "--no-authenticate")
    try:
        assert state.marathon is not None and state.credential is None
        assert api(state.marathon.url, "GET", "/v2/apps").body == {"apps": []}
        assert infinity("cluster", "down", env=env).returncode == 0
    finally:
        stop_processes(state.processes)
