"""`infinity install|list|update|rollback|history|uninstall` as a user runs them, against a
real local cluster (`cluster up --agents 3`: each agent a host of its own, and Marathon):
refusals that name what is wrong and install nothing, dry runs, the record kept as the
scheduler app's labels, numbered revisions. What runs in the app here is a stand-in
(`sleep`): these tests are about the CLI, not the service scheduler (test_kafka_e2e is)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mesos_runtime.cli.localcluster import ClusterState, free_port, stop_cluster
from tests.universe.test_universe_cli import files_server  # noqa: F401 - a fixture
from tests.universe.tiny_package import make_package

pytestmark = pytest.mark.integration

INFINITY = str(Path(sys.executable).with_name("infinity"))


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

    def app(self, name: str) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"{self.marathon}/v2/apps/{name}", timeout=10) as r:
                return json.loads(r.read())["app"]
        except urllib.error.HTTPError as e:
            assert e.code == 404
            return None

    def apps(self) -> list[str]:
        with urllib.request.urlopen(f"{self.marathon}/v2/apps", timeout=10) as r:
            return [a["id"] for a in json.loads(r.read())["apps"]]


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
    env["INFINITY_SCHEDULER_CMD"] = "sleep 3600"  # a stand-in: no service scheduler here
    repo = root / "repo"
    make_package(repo / "tiny")
    cluster = Cluster(root / "cluster", env, repo)
    ok(cluster.run("repo", "add", "local", str(repo)))
    up = cluster.run(
        "cluster", "up", "--agents", "3", "--port", str(free_port()),
        "--resources", "cpus:1;mem:1024;disk:1024",
    )  # fmt: skip
    ok(up)
    try:
        yield cluster
    finally:
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


def test_install_creates_the_schedulers_app_with_the_record_as_labels(cluster: Cluster) -> None:
    result = ok(cluster.run("install", "tiny", "--yes"))
    assert "installing tiny (tiny 0.1.0-1.0)" in result.stdout
    app = cluster.app("tiny")
    assert app is not None
    labels = app["labels"]
    assert labels["DCOS_PACKAGE_NAME"] == "tiny"
    assert labels["DCOS_PACKAGE_VERSION"] == "0.1.0-1.0"
    assert labels["INFINITY_REVISION"] == "1"
    assert json.loads(base64.b64decode(labels["DCOS_PACKAGE_OPTIONS"])) == {}
    env = app["env"]
    assert env["SERVICE_NAME"] == "tiny" and "name: tiny" in env["SERVICE_SPEC"]
    state = ClusterState.load(cluster.directory)
    assert state is not None
    assert env["MESOS_MASTER"] == state.master.address
    assert env["INFINITY_CREDENTIAL"] == state.services_credential
    assert env["SERVICE_STORE"] == str(cluster.directory / "services" / "tiny")
    # the package definition comes from the local cluster's verified mirror
    mirror = cluster.directory / "mirror" / "tiny-0.1.0-1.0"
    uris = {f["uri"] for f in app["fetch"]}
    assert (mirror / "packages" / "tiny" / "templates" / "app.conf.j2").as_uri() in uris
    listed = json.loads(ok(cluster.run("list", "--json")).stdout)
    assert [(s["name"], s["package"], s["revision"]) for s in listed] == [("tiny", "tiny", 1)]


def test_a_second_service_of_the_same_name_is_refused(cluster: Cluster) -> None:
    refused(cluster.run("install", "tiny", "--yes"), "a service named 'tiny' is already installed")
    assert cluster.apps() == ["/tiny"]


def test_update_merges_rollback_restores_and_history_numbers_them(
    cluster: Cluster, tmp_path: Path
) -> None:
    first = cluster.app("tiny")
    assert first is not None
    change = tmp_path / "change.json"
    change.write_text(json.dumps({"app": {"count": 3}}))
    ok(cluster.run("update", "tiny", "--options", str(change)))
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
    ok(cluster.run("rollback", "tiny", "1"))
    app = cluster.app("tiny")
    assert app is not None
    assert app["env"]["SERVICE_SPEC"] == first["env"]["SERVICE_SPEC"]
    doc = json.loads(ok(cluster.run("history", "tiny", "--json")).stdout)
    assert doc["current"] == 4
    assert [(r["revision"], r["action"]) for r in doc["revisions"]] == [
        (1, "install"),
        (2, "update"),
        (3, "update"),
        (4, "rollback to 1"),
    ]
    refused(cluster.run("rollback", "tiny", "9"), "tiny has no revision 9")
    refused(cluster.run("update", "nosuch"), "no service named 'nosuch' is installed")


def test_service_commands_need_the_services_registered_scheduler(cluster: Cluster) -> None:
    # the stand-in never registers a framework: the per-service commands say so
    for command in (("plan", "status"), ("pod", "list"), ("endpoints",)):
        refused(
            cluster.run("tiny", *command),
            "no scheduler of a service 'tiny' is registered with the master",
        )
    assert "plan" in ok(cluster.run("tiny", "--help")).stdout


def test_uninstall_deletes_the_app_and_names_what_it_could_not_remove(cluster: Cluster) -> None:
    result = cluster.run("uninstall", "tiny", "--yes", "--timeout", "3")
    assert cluster.app("tiny") is None
    if result.returncode != 0:  # the stand-in runs no uninstall plan: it must say so
        assert "could not remove: the uninstall plan did not complete" in result.stderr
    assert json.loads(ok(cluster.run("list", "--json")).stdout) == []
    refused(cluster.run("uninstall", "tiny", "--yes"), "no service named 'tiny' is installed")
