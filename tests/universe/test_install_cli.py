"""`infinity install|list|update|rollback|history|uninstall` and `infinity <service>
plan|pod ...` as a user runs them, against a real local cluster (3 agents, each a host of
its own, and Marathon) with the real `infinity-scheduler` running a tiny real package:
refusals that name what is wrong and install nothing, dry runs, the record kept as the
scheduler app's labels, numbered revisions rolled out, pods restarted and replaced, plans
paused, resumed and force-completed, steps no offer can serve saying why, an `--atomic`
install that fails leaving nothing behind, and an uninstall that names what it could not
remove. The tests run in file order
and share the cluster."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mesos_runtime.cli.endpoints import master_state
from mesos_runtime.cli.localcluster import (
    ClusterState,
    free_port,
    start_cluster,
    stop_cluster,
)
from tests.harness.daemons import lose_host, wait_until
from tests.harness.operator import operator_headers
from tests.universe.test_universe_cli import files_server  # noqa: F401 - a fixture
from tests.universe.tiny_package import SCHEMA, make_package

pytestmark = pytest.mark.integration

INFINITY = str(Path(sys.executable).with_name("infinity"))

# a package whose deploy plan cannot complete: its second pod asks more cpus and volume
# disk than any agent has, after the first pod has reserved and launched (it renders a
# config, so it is placed as its peers' addresses must be: all of its pod type first)
STUCK = """name: {{ service.name }}
pods:
  app:
    count: 1
    tasks:
      server: {cmd: exec sleep 86400, cpus: 0.1, memory: 32}
  big:
    count: 1
    tasks:
      server:
        cmd: exec sleep 86400
        cpus: 8
        memory: 32
        volume: {path: data, type: ROOT, size: 4000}
        configs:
          conf: {template: big.conf.j2, dest: big.conf}
"""

# a package whose deploy plan cannot complete: one pod per host, and one more pod than
# the cluster has agents
CROWDED = """name: {{ service.name }}
pods:
  app:
    count: 4
    placement: hostname:UNIQUE
    tasks:
      server: {cmd: exec sleep 86400, cpus: 0.05, memory: 16}
"""

# replacements of its pods spaced out by min-replace-delay-secs (longer than a replacement
# takes here, so that the second one is seen waiting)
SPACED = """name: {{ service.name }}
pods:
  app:
    count: 2
    replacement-failure-policy: {min-replace-delay-secs: 30}
    tasks:
      server: {cmd: exec sleep 86400, cpus: 0.1, memory: 32}
"""


@dataclass
class Cluster:
    directory: Path
    env: dict[str, str]
    repo: Path

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [INFINITY, *args], env=self.env, capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip

    @property
    def marathon(self) -> str:
        state = ClusterState.load(self.directory)
        assert state is not None and state.marathon is not None
        return state.marathon.url

    def _marathon_get(self, path: str) -> urllib.request.Request:
        """A GET of the local Marathon's API, as the operator (the only one it admits)."""
        return urllib.request.Request(self.marathon + path, headers=operator_headers(self.state))

    def app(self, name: str) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(self._marathon_get(f"/v2/apps/{name}"), timeout=10) as r:
                return json.loads(r.read())["app"]
        except urllib.error.HTTPError as e:
            assert e.code == 404
            return None

    def apps(self) -> list[str]:
        with urllib.request.urlopen(self._marathon_get("/v2/apps"), timeout=10) as r:
            return [a["id"] for a in json.loads(r.read())["apps"]]

    @property
    def state(self) -> ClusterState:
        state = ClusterState.load(self.directory)
        assert state is not None
        return state

    def master(self) -> dict[str, Any]:
        return master_state(self.state.master.address)

    def json(self, *args: str) -> Any:
        return json.loads(ok(self.run(*args, "--json")).stdout)

    def tasks(self, service: str) -> dict[str, tuple[str, str, str]]:
        """pod instance -> (status, host, task id) of the service's tasks, as it shows them."""
        doc = self.json(service, "pod", "status")
        return {
            i["name"]: (t["status"], t["hostname"], t["id"])
            for p in doc["pods"]
            for i in p["instances"]
            for t in i["tasks"]
        }

    def running(self, service: str) -> dict[str, tuple[str, str]]:
        """pod instance -> (host, task id) of its running tasks."""
        return {
            name: (host, task_id)
            for name, (status, host, task_id) in self.tasks(service).items()
            if status == "TASK_RUNNING"
        }

    def reserved_hosts(self, service: str) -> set[str]:
        """The hosts whose agents hold resources reserved for the service's role."""
        return {
            a["hostname"]
            for a in self.master().get("slaves", [])
            if (a.get("reserved_resources") or {}).get(f"{service}-role")
        }

    def plan(self, service: str, plan: str = "deploy") -> dict[str, Any]:
        return dict(self.json(service, "plan", "status", plan))

    def assert_nothing_left(self, service: str) -> None:
        """No app, framework, task, reservation or stored state of the service."""
        assert f"/{service}" not in self.apps()
        doc = self.master()
        assert service not in [f["name"] for f in doc.get("frameworks", [])]
        assert self.reserved_hosts(service) == set()
        assert not (self.directory / "services" / service).exists()


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr + result.stdout
    return result


def refused(result: subprocess.CompletedProcess[str], *messages: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    for message in messages:
        assert message in result.stderr, result.stderr


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("install")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "INFINITY_"))}
    if "INFINITY_CACHE_DIR" in os.environ:
        env["INFINITY_CACHE_DIR"] = os.environ["INFINITY_CACHE_DIR"]
    env["INFINITY_CLUSTER_DIR"] = str(root / "cluster")
    env["INFINITY_CONFIG_DIR"] = str(root / "config")
    repo = root / "repo"
    make_package(repo / "tiny")
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["service"]["properties"]["name"]["default"] = "stuck"
    make_package(repo / "stuck", spec=STUCK, templates={"big.conf.j2": "big\n"}, schema=schema)
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["service"]["properties"]["name"]["default"] = "crowded"
    make_package(repo / "crowded", spec=CROWDED, templates={}, schema=schema)
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["service"]["properties"]["name"]["default"] = "spaced"
    make_package(repo / "spaced", spec=SPACED, templates={}, schema=schema)
    cluster = Cluster(root / "cluster", env, repo)
    ok(cluster.run("repo", "add", "local", str(repo)))
    # as `cluster up --agents 3`, with short agent ping timeouts so that a killed agent is
    # unreachable in seconds (the default takes 75 s)
    start_cluster(
        cluster.directory, agents=3, port=free_port(), agent_resources="cpus:1;mem:1024;disk:1024",
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


def test_the_agents_are_hosts_of_their_own_with_attributes(cluster: Cluster) -> None:
    doc = json.loads(ok(cluster.run("cluster", "status", "--json")).stdout)
    agents = sorted(doc["agents"], key=lambda a: a["hostname"])
    assert [a["hostname"] for a in agents] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert [a["address"].split(":")[0] for a in agents] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert sorted(a["attributes"]["rack"] for a in agents) == ["r1", "r2", "r3"]
    state = ClusterState.load(cluster.directory)
    assert state is not None and state.services_credential
    assert json.loads(Path(state.services_credential).read_text())["principal"] == "services"


def test_bad_options_are_refused_naming_the_option_and_nothing_is_installed(
    cluster: Cluster, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"app": {"count": "three"}}))
    refused(
        cluster.run("install", "tiny", "--options", str(bad), "--yes"),
        "app.count: 'three' is not of type 'integer'",
    )
    unknown = tmp_path / "unknown.yml"
    unknown.write_text("app:\n  colour: red\n")
    refused(
        cluster.run("install", "tiny", "--options", str(unknown), "--yes"),
        "Additional properties are not allowed ('colour' was unexpected)",
    )
    refused(cluster.run("install", "tiny", "--name", "Not_A_Name", "--yes"), "--name:")
    refused(cluster.run("install", "kafak", "--yes"), "unknown package 'kafak'", "kafka")
    assert cluster.apps() == []


def test_a_dry_run_renders_and_installs_nothing(cluster: Cluster) -> None:
    result = ok(cluster.run("install", "tiny", "--dry-run", "--json"))
    doc = json.loads(result.stdout)
    assert doc["service"] == "tiny" and doc["revision"] == 1
    assert doc["app"]["id"] == "/tiny"
    assert "count: 2" in doc["service_spec"]
    assert "nothing installed" in ok(cluster.run("install", "tiny", "--dry-run")).stdout
    assert cluster.apps() == []


def test_a_tampered_artifact_is_refused_naming_the_file_and_nothing_is_installed(
    cluster: Cluster,
    tmp_path: Path,
    files_server: tuple[str, Path],  # noqa: F811 - the fixture
) -> None:
    url, upstream = files_server
    good = b"#!/bin/sh\necho tool\n"
    (upstream / "tool.sh").write_bytes(b"#!/bin/sh\necho evil\n")
    repo = tmp_path / "repo"
    artifact = {"name": "tool", "url": f"{url}/tool.sh", "sha512": hashlib.sha512(good).hexdigest()}
    make_package(repo / "tampered", artifacts=[artifact])
    ok(cluster.run("repo", "add", "tampered", str(repo)))
    try:
        refused(
            cluster.run("install", "tampered", "--yes"),
            "tampered: artifact tool: tool.sh: sha512",
            "refused",
        )
        assert cluster.apps() == []
        assert not (cluster.directory / "mirror" / "tampered-0.1.0-1.0").exists()
    finally:
        ok(cluster.run("repo", "remove", "tampered"))


def test_install_waits_for_the_deploy_plan_and_keeps_the_record_as_labels(
    cluster: Cluster,
) -> None:
    result = ok(cluster.run("install", "tiny", "--yes", "--wait", "--timeout", "120", timeout=180))
    assert "installing tiny (tiny 0.1.0-1.0)" in result.stdout
    assert "tiny: deploy plan COMPLETE" in result.stderr
    app = cluster.app("tiny")
    assert app is not None
    assert "mesos_runtime.sdk.scheduler" in app["cmd"]  # the real scheduler, not a stand-in
    labels = app["labels"]
    assert labels["DCOS_PACKAGE_NAME"] == "tiny"
    assert labels["DCOS_PACKAGE_VERSION"] == "0.1.0-1.0"
    assert labels["INFINITY_REVISION"] == "1"
    assert json.loads(base64.b64decode(labels["DCOS_PACKAGE_OPTIONS"])) == {}
    env = app["env"]
    assert env["SERVICE_NAME"] == "tiny" and "name: tiny" in env["SERVICE_SPEC"]
    state = cluster.state
    assert env["MESOS_MASTER"] == state.master.address
    assert env["INFINITY_CREDENTIAL"] == state.services_credential
    assert env["SERVICE_STORE"] == str(cluster.directory / "services" / "tiny")
    # the package definition comes from the local cluster's verified mirror
    mirror = cluster.directory / "mirror" / "tiny-0.1.0-1.0"
    uris = {f["uri"] for f in app["fetch"]}
    assert (mirror / "packages" / "tiny" / "templates" / "app.conf.j2").as_uri() in uris
    listed = cluster.json("list")
    assert [(s["name"], s["package"], s["revision"]) for s in listed] == [("tiny", "tiny", 1)]
    # the service's pods run, each on a reservation of the service's role on its host
    running = cluster.running("tiny")
    assert sorted(running) == ["app-0", "app-1"]
    assert cluster.reserved_hosts("tiny") == {host for host, _ in running.values()}


def test_a_second_service_of_the_same_name_is_refused(cluster: Cluster) -> None:
    refused(cluster.run("install", "tiny", "--yes"), "a service named 'tiny' is already installed")
    assert cluster.apps() == ["/tiny"]


def test_service_commands_reach_the_services_scheduler(cluster: Cluster) -> None:
    assert {p["name"]: p["status"] for p in cluster.json("tiny", "plan", "list")} == {
        "deploy": "COMPLETE",
        "recovery": "COMPLETE",
        "update": "COMPLETE",  # the SDK's name for the deploy plan of a changed config
    }
    deploy = cluster.plan("tiny")
    assert [s["name"] for p in deploy["phases"] for s in p["steps"]] == [
        "app-0:[server]",
        "app-1:[server]",
    ]
    assert "app-0:[server] COMPLETE" in ok(cluster.run("tiny", "plan", "status")).stdout
    assert cluster.json("tiny", "pod", "list") == ["app-0", "app-1"]
    ok(cluster.run("tiny", "endpoints"))
    refused(cluster.run("tiny", "plan", "status", "nosuch"), "no plan 'nosuch'")
    refused(cluster.run("tiny", "pod", "restart", "app-9"), "no pod instance 'app-9'")
    refused(cluster.run("tiny", "plan", "pause", "deploy", "--phase", "nope"), "nope")
    refused(
        cluster.run("nosuch", "plan", "status"),
        "no scheduler of a service 'nosuch' is registered with the master",
    )
    assert "plan" in ok(cluster.run("tiny", "--help")).stdout


def test_pod_restart_relaunches_the_pod_in_place(cluster: Cluster) -> None:
    before = cluster.running("tiny")
    result = ok(cluster.run("tiny", "pod", "restart", "app-0"))
    assert "tiny: restart app-0 (app-0-server)" in result.stdout

    def relaunched() -> bool:
        now = cluster.running("tiny")
        return "app-0" in now and now["app-0"][1] != before["app-0"][1]

    wait_until(relaunched, 60, interval=0.5, message="app-0 relaunched")
    now = cluster.running("tiny")
    assert now["app-0"][0] == before["app-0"][0]  # on its reservation, on the same host
    assert now["app-1"] == before["app-1"]  # the other pod untouched
    wait_until(
        lambda: cluster.plan("tiny", "recovery")["status"] == "COMPLETE",
        60, interval=0.5, message="the recovery plan COMPLETE",
    )  # fmt: skip


def test_pod_replace_moves_the_pod_and_releases_its_reservation(cluster: Cluster) -> None:
    before = cluster.running("tiny")
    old_host = before["app-0"][0]
    ok(cluster.run("tiny", "pod", "replace", "app-0"))

    def moved() -> bool:
        now = cluster.running("tiny")
        return "app-0" in now and now["app-0"][0] != old_host

    wait_until(moved, 90, interval=0.5, message="app-0 replaced on another host")
    hosts = {host for host, _ in cluster.running("tiny").values()}
    # the old reservation is released once its agent offers it: only the pods' hosts hold one
    wait_until(
        lambda: cluster.reserved_hosts("tiny") == hosts,
        60, interval=0.5, message=f"only {sorted(hosts)} hold reservations of tiny-role",
    )  # fmt: skip


def test_update_rolls_out_rollback_restores_and_history_numbers_them(
    cluster: Cluster, tmp_path: Path
) -> None:
    change = tmp_path / "change.json"
    change.write_text(json.dumps({"app": {"count": 3}}))
    ok(cluster.run("update", "tiny", "--options", str(change), "--wait", "--timeout", "120",
                   timeout=180))  # fmt: skip
    assert sorted(cluster.running("tiny")) == ["app-0", "app-1", "app-2"]
    second = cluster.app("tiny")
    assert second is not None
    greeting = tmp_path / "greeting.json"
    greeting.write_text(json.dumps({"app": {"greeting": "hello"}}))
    ok(cluster.run("update", "tiny", "--options", str(greeting)))
    app = cluster.app("tiny")
    assert app is not None
    assert "count: 3" in app["env"]["SERVICE_SPEC"]  # merged with the stored options
    assert json.loads(base64.b64decode(app["labels"]["DCOS_PACKAGE_OPTIONS"])) == {
        "app": {"count": 3, "greeting": "hello"}
    }
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"app": {"count": 0}}))
    refused(cluster.run("update", "tiny", "--options", str(bad)), "app.count: 0 is less than")
    # what the scheduler could not roll out is refused before anything changes
    shrink = tmp_path / "shrink.json"
    shrink.write_text(json.dumps({"app": {"count": 2}}))
    refused(
        cluster.run("update", "tiny", "--options", str(shrink)),
        "tiny: revision 4 cannot be rolled out: pods.app.count: cannot shrink from 3 to 2",
        "nothing changed",
    )
    refused(cluster.run("rollback", "tiny", "1"), "cannot shrink from 3 to 2")
    unchanged = cluster.app("tiny")
    assert unchanged is not None and unchanged["labels"] == app["labels"]
    ok(cluster.run("rollback", "tiny", "--wait", "--timeout", "120", timeout=180))
    app = cluster.app("tiny")
    assert app is not None
    assert app["env"]["SERVICE_SPEC"] == second["env"]["SERVICE_SPEC"]
    assert cluster.plan("tiny")["status"] == "COMPLETE"
    assert sorted(cluster.running("tiny")) == ["app-0", "app-1", "app-2"]
    doc = cluster.json("history", "tiny")
    assert doc["current"] == 4
    assert [(r["revision"], r["action"]) for r in doc["revisions"]] == [
        (1, "install"),
        (2, "update"),
        (3, "update"),
        (4, "rollback to 2"),
    ]
    refused(cluster.run("rollback", "tiny", "9"), "tiny has no revision 9")
    refused(cluster.run("update", "nosuch"), "no service named 'nosuch' is installed")


def test_a_stuck_plan_is_paused_resumed_and_force_completed(cluster: Cluster) -> None:
    ok(cluster.run("install", "stuck", "--yes"))

    def waits_for_big() -> dict[str, Any] | None:
        plan = cluster.run("stuck", "plan", "status", "--json")
        if plan.returncode != 0:
            return None  # its scheduler not registered yet
        doc = json.loads(plan.stdout)
        said = doc["phases"][1]["steps"][0]["message"]
        return doc if doc["phases"][0]["status"] == "COMPLETE" and said else None

    doc = wait_until(waits_for_big, 120, interval=0.5, message="stuck's big pod says why it waits")
    assert doc["status"] == "IN_PROGRESS"
    step = doc["phases"][1]["steps"][0]
    assert step["status"] == "PENDING"  # no offer has 8 cpus and 4000 MB of disk
    # the step says why, from the best offer: what the pod needs beside what that offer has
    needs, _, has = step["message"].partition("; the best offer (127.0.0.")
    assert needs == "waiting for an offer: needs cpus 8, disk 4000 MB for volume data"
    assert re.fullmatch(r"[234]\) has cpus [\d.]+, disk \d+ MB", has), step["message"]
    shown = ok(cluster.run("stuck", "plan", "status")).stdout
    assert f"big-0:[server] PENDING  {needs}; the best offer" in shown, shown
    assert ok(cluster.run("stuck", "plan", "pause")).stdout == "stuck: paused plan deploy\n"
    assert cluster.plan("stuck")["status"] == "WAITING"
    assert ok(cluster.run("stuck", "plan", "resume")).stdout == "stuck: resumed plan deploy\n"
    assert cluster.plan("stuck")["status"] == "IN_PROGRESS"
    done = ok(cluster.run("stuck", "plan", "force-complete", "--phase", "big")).stdout
    assert done == "stuck: force-completed phase big of plan deploy\n"
    doc = cluster.plan("stuck")
    assert doc["status"] == "COMPLETE"
    assert [p["status"] for p in doc["phases"]] == ["COMPLETE", "COMPLETE"]
    assert sorted(cluster.running("stuck")) == ["app-0"]  # nothing launched for big
    result = ok(cluster.run("uninstall", "stuck", "--yes", "--timeout", "120", timeout=180))
    assert "stuck uninstalled: no tasks, reservations or state left" in result.stdout
    cluster.assert_nothing_left("stuck")


def test_a_failing_atomic_install_leaves_nothing_behind(cluster: Cluster) -> None:
    result = cluster.run(
        "install", "crowded", "--name", "doomed", "--yes", "--atomic", "--timeout", "30",
        timeout=300,
    )  # fmt: skip
    refused(result, "--atomic: uninstalling doomed", "doomed did not deploy within 30s")
    # it got as far as reserving and launching a pod on each host: that is what was undone
    assert "app-2:[server] COMPLETE" in result.stderr
    # the plan it gave up on says why the last pod waited: no host the rule allows
    waited = re.search(r"app-3:\[server\] PENDING  (.*)", result.stderr)
    assert waited is not None, result.stderr
    assert waited[1].startswith("waiting for an offer: every agent offered is ruled out: 127.")
    assert waited[1].endswith(" by placement hostname:UNIQUE"), waited[1]
    assert "doomed uninstalled: no tasks, reservations or state left" in result.stderr
    cluster.assert_nothing_left("doomed")
    assert [s["name"] for s in cluster.json("list")] == ["tiny"]


def test_replacements_are_spaced_by_min_replace_delay_secs(cluster: Cluster) -> None:
    ok(cluster.run("install", "spaced", "--yes", "--wait", "--timeout", "120", timeout=180))
    before = cluster.running("spaced")
    ok(cluster.run("spaced", "pod", "replace", "app-0"))  # the first goes at once
    wait_until(
        lambda: cluster.running("spaced").get("app-0", ("", ""))[0] not in ("", before["app-0"][0]),
        60, interval=0.5, message="app-0 replaced",
    )  # fmt: skip
    ok(cluster.run("spaced", "pod", "replace", "app-1"))

    def delayed() -> str | None:
        steps = [s for p in cluster.plan("spaced", "recovery")["phases"] for s in p["steps"]]
        step = next((s for s in steps if s["name"] == "app-1:[server]"), None)
        message = step["message"] if step else ""
        return message if "min-replace-delay-secs 30" in message else None

    message = wait_until(delayed, 30, interval=0.3, message="app-1's replacement delayed")
    assert message.startswith("replacement delayed")
    assert "app-1" not in cluster.running("spaced")  # killed, and not yet launched again
    wait_until(
        lambda: "app-1" in cluster.running("spaced"),
        90, interval=0.5, message="app-1 replaced once the delay passed",
    )  # fmt: skip
    assert cluster.running("spaced")["app-1"][0] != before["app-1"][0]
    ok(cluster.run("uninstall", "spaced", "--yes", "--timeout", "120", timeout=180))
    cluster.assert_nothing_left("spaced")


def test_uninstall_with_an_agent_down_names_what_it_could_not_remove(cluster: Cluster) -> None:
    app = cluster.app("tiny")
    assert app is not None
    scheduler_host = app["tasks"][0]["host"]
    victim, (host, _task) = next(
        (name, where)
        for name, where in sorted(cluster.running("tiny").items())
        if where[0] != scheduler_host
    )
    lose_host(next(a for a in cluster.state.agents if a.ip == host))
    wait_until(
        lambda: cluster.tasks("tiny")[victim][0] == "TASK_UNREACHABLE",
        60, interval=0.5, message=f"{victim} unreachable",
    )  # fmt: skip
    result = cluster.run("uninstall", "tiny", "--yes", "--timeout", "120", timeout=240)
    assert result.returncode == 1, result.stdout + result.stderr
    # the uninstall plan's own list: the task and the reservation on the unreachable agent
    assert f"could not remove: task {victim}-server" in result.stderr, result.stderr
    assert "could not remove: reservation" in result.stderr
    assert f"on {host}" in result.stderr and "unreachable" in result.stderr
    assert "no tasks, reservations or state left" not in result.stdout
    assert cluster.app("tiny") is None
    assert cluster.json("list") == []
    refused(cluster.run("uninstall", "tiny", "--yes"), "no service named 'tiny' is installed")
