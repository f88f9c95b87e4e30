"""`infinity search|describe|repo|mirror|package` as a user runs them: the installed command,
its output and exit status; bad input refused with a message that names what is wrong,
and nothing left behind."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mesos_runtime.universe.packing import sha512_of
from tests.universe.conftest import INFINITY, PACKAGES, CliResult
from tests.universe.tiny_package import make_package

Infinity = Callable[..., CliResult]
BUILTIN_PACKAGES = sorted(p.parent for p in PACKAGES.glob("*/package.yml"))


def ok(result: CliResult) -> CliResult:
    assert result.returncode == 0, result.stderr + result.stdout
    return result


def refused(result: CliResult, *messages: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    for message in messages:
        assert message in result.stderr, result.stderr
    return result.stderr


@pytest.fixture
def files_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP file server on loopback (an upstream download site's stand-in)."""
    root = tmp_path / "upstream"
    root.mkdir()

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, fmt: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def kafka_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mirror of the kafka package, built once by the real command."""
    directory = tmp_path_factory.mktemp("mirror") / "kafka-mirror"
    env = {k: v for k, v in os.environ.items() if k != "INFINITY_CONFIG_DIR"}
    env["INFINITY_CONFIG_DIR"] = str(directory.parent / "config")
    done = subprocess.run(
        [str(INFINITY), "mirror", "build", "kafka", "--dir", str(directory)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return directory


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


# --- search and describe ------------------------------------------------------------------


def test_search_lists_the_builtin_packages_and_filters_by_term(infinity: Infinity) -> None:
    rows = json.loads(ok(infinity("search", "--json")).stdout)
    assert {(r["name"], r["repository"]) for r in rows} == {
        (folder.name, "builtin") for folder in BUILTIN_PACKAGES
    }
    assert {"kafka", "spark"} <= {r["name"] for r in rows}
    assert [r["name"] for r in json.loads(ok(infinity("search", "kraft", "--json")).stdout)] == [
        "kafka"
    ]
    assert "no packages match 'cobol'" in ok(infinity("search", "cobol")).stdout


def test_describe_shows_the_manifest_and_how_each_artifact_is_verified(infinity: Infinity) -> None:
    view = json.loads(ok(infinity("describe", "kafka", "--json")).stdout)
    assert view["version"] == "1.0.0-4.1.1" and view["upstream_version"] == "4.1.1"
    (lib,) = view["artifacts"]
    lock = json.loads((PACKAGES / "kafka" / "artifacts.lock.json").read_text())
    assert lib["locked_files"] == len(lock["libraries"][0]["files"])
    text = ok(infinity("describe", "spark")).stdout
    assert "pyspark==4.0.1" in text and "depends on zookeeper (optional)" in text


def test_describe_config_lists_every_option_with_its_default(infinity: Infinity) -> None:
    text = ok(infinity("describe", "kafka", "--config")).stdout
    assert "brokers.count" in text and "controllers.mode" in text
    schema = json.loads(ok(infinity("describe", "kafka", "--config", "--json")).stdout)
    assert schema["properties"]["brokers"]["properties"]["count"]["default"] == 3


def test_describe_render_gives_the_spec_and_every_tasks_config(
    infinity: Infinity, tmp_path: Path
) -> None:
    options = tmp_path / "options.yml"
    options.write_text("brokers: {count: 2}\ncontrollers: {mode: dedicated, count: 1}\n")
    doc = json.loads(
        ok(infinity("describe", "kafka", "--render", "--options", str(options), "--json")).stdout
    )
    assert doc["options"]["brokers"]["count"] == 2
    assert "controller:" in doc["service_spec"]
    assert set(doc["configs"]) == {"kafka-0-broker", "kafka-1-broker", "controller-0-node"}
    broker = doc["configs"]["kafka-1-broker"]["server.properties"].splitlines()
    assert "node.id=1" in broker and "process.roles=broker" in broker
    controller = doc["configs"]["controller-0-node"]["server.properties"].splitlines()
    assert "node.id=1000" in controller and "process.roles=controller" in controller


def test_bad_options_are_refused_naming_each_option_path_and_rule(
    infinity: Infinity, tmp_path: Path
) -> None:
    options = tmp_path / "bad.json"
    options.write_text(json.dumps({"brokers": {"count": "three", "heap": 1}}))
    for command in (["--render"], []):
        result = infinity("describe", "kafka", "--options", str(options), *command)
        refused(
            result,
            "brokers.count: 'three' is not of type 'integer'",
            "brokers: Additional properties are not allowed ('heap' was unexpected)",
        )
        assert result.stdout == ""


def test_an_unknown_package_is_refused_with_a_suggestion(infinity: Infinity) -> None:
    refused(infinity("describe", "kafak"), "unknown package 'kafak'; did you mean kafka?")
    refused(infinity("describe", "kafka", "--package-version", "9.9.9-9"), "has no version 9.9.9-9")


# --- repositories -------------------------------------------------------------------------


def test_an_added_folder_repository_is_searched_first_and_can_be_removed(
    infinity: Infinity, tmp_path: Path
) -> None:
    make_package(tmp_path / "repo" / "tiny")
    ok(infinity("repo", "add", "local", str(tmp_path / "repo")))
    listed = json.loads(ok(infinity("repo", "list", "--json")).stdout)
    assert [(r["name"], r["packages"]) for r in listed] == [
        ("local", 1),
        ("builtin", len(BUILTIN_PACKAGES)),
    ]
    assert json.loads(ok(infinity("describe", "tiny", "--json")).stdout)["name"] == "tiny"
    ok(infinity("repo", "remove", "local"))
    refused(infinity("describe", "tiny"), "unknown package 'tiny'")


def test_repo_add_refuses_what_is_not_a_repository_and_keeps_the_list(
    infinity: Infinity, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    refused(infinity("repo", "add", "empty", str(tmp_path / "empty")), "holds no packages")
    refused(infinity("repo", "add", "gone", str(tmp_path / "missing")), "is not a folder")
    refused(infinity("repo", "add", "builtin", str(PACKAGES)), "exists already")
    refused(infinity("repo", "add", "Bad_Name", str(PACKAGES)), "lower-case letters")
    refused(infinity("repo", "remove", "nope"), "no repository named 'nope'")
    assert [r["name"] for r in json.loads(ok(infinity("repo", "list", "--json")).stdout)] == [
        "builtin"
    ]


# --- package lint and lock ----------------------------------------------------------------


def test_lint_passes_the_builtin_packages(infinity: Infinity) -> None:
    for name in ("kafka", "spark"):
        assert f"package {name}: ok" in ok(infinity("package", "lint", str(PACKAGES / name))).stdout


def test_lint_fails_a_broken_package_naming_each_problem(
    infinity: Infinity, tmp_path: Path
) -> None:
    broken = copy_tree(PACKAGES / "kafka", tmp_path / "kafka")
    (broken / "README.md").unlink()
    template = broken / "templates" / "server.properties.j2"
    template.write_text(template.read_text().replace("b.num_io_threads", "b.io_threads"))
    result = infinity("package", "lint", str(broken), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["errors"][0] == "README.md: missing (say what the package runs and its options)"
    assert any("server.properties.j2 line" in e and "io_threads" in e for e in report["errors"])


# --- mirrors ------------------------------------------------------------------------------


def test_a_mirror_holds_every_artifact_with_an_index_and_checksums(kafka_mirror: Path) -> None:
    index = json.loads((kafka_mirror / "index.json").read_text())
    (package,) = index["packages"]
    (artifact,) = package["artifacts"]
    tar = kafka_mirror / artifact["file"]["path"]
    lock = json.loads((PACKAGES / "kafka" / "artifacts.lock.json").read_text())["libraries"][0]
    assert sha512_of(tar) == artifact["file"]["sha512"] == lock["packed_sha512"]
    sums = dict(
        line.split("  ")[::-1] for line in (kafka_mirror / "SHA512SUMS").read_text().splitlines()
    )
    assert sums[artifact["file"]["path"]] == artifact["file"]["sha512"]
    assert "packages/kafka/package.yml" in sums and "index.json" in sums
    with tarfile.open(tar) as t:
        assert sorted(m.name for m in t.getmembers() if m.isfile()) == sorted(
            f"lib/{f['name']}" for f in lock["files"]
        )


def test_a_served_mirror_is_a_repository_and_an_artifact_source(
    infinity: Infinity, kafka_mirror: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFINITY_")}
    serve = subprocess.Popen(
        [str(INFINITY), "mirror", "serve", str(kafka_mirror), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline()
        assert line.startswith(f"serving mirror {kafka_mirror} (kafka) at http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[1].strip().rstrip("/")
        ok(infinity("repo", "add", "airgap", url))
        assert [
            r["repository"] for r in json.loads(ok(infinity("search", "kafka", "--json")).stdout)
        ] == [
            "airgap",
            "builtin",
        ]
        assert json.loads(ok(infinity("describe", "kafka", "--json")).stdout)["name"] == "kafka"
        # artifacts come from the served mirror, verified against the package again
        again = tmp_path / "again"
        ok(infinity("mirror", "build", "kafka", "--from", url, "--dir", str(again)))
        assert (again / "index.json").is_file()
        # nothing outside the mirror is served, and no listings
        host, port = url.removeprefix("http://").split(":")
        for path in ("/../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/artifacts/"):
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.request("GET", path)
            assert conn.getresponse().status in (403, 404), path
            conn.close()
    finally:
        os.kill(serve.pid, signal.SIGTERM)
        serve.wait(timeout=30)


def test_a_tampered_mirror_file_is_refused_naming_the_file(
    infinity: Infinity, kafka_mirror: Path, tmp_path: Path
) -> None:
    tampered = copy_tree(kafka_mirror, tmp_path / "tampered")
    tar = next((tampered / "artifacts").rglob("*.tar"))
    with open(tar, "r+b") as f:
        f.seek(4096)
        f.write(b"\x00evil")
    relative = tar.relative_to(tampered).as_posix()
    refused(infinity("mirror", "verify", str(tampered)), f"{relative}: sha512 does not match")
    target = tmp_path / "new-mirror"
    refused(
        infinity(
            "mirror",
            "build",
            "kafka",
            "--from",
            str(tampered),
            "--dir",
            str(target),
            cache=tmp_path / "cache",
        ),
        "kafka: artifact lib: kafka-lib-1.0.0-4.1.1.tar: sha512",
        "is not the package's",
    )
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".new-mirror")]


def test_the_packed_universe_unpacks_verified_and_a_tampered_one_is_refused(
    infinity: Infinity, kafka_mirror: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "universe.tar"
    ok(infinity("mirror", "pack", str(kafka_mirror), str(archive)))
    ok(infinity("mirror", "unpack", str(archive), "--dir", str(tmp_path / "site")))
    ok(infinity("mirror", "verify", str(tmp_path / "site")))
    # the same archive with one extra file that no checksum covers
    with tarfile.open(archive) as t:
        members = [(m, t.extractfile(m).read() if m.isfile() else None) for m in t.getmembers()]  # type: ignore[union-attr]
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as t:
        for member, data in members:
            t.addfile(member, io.BytesIO(data) if data is not None else None)
        extra = tarfile.TarInfo("universe/packages/kafka/extra.sh")
        extra.size = 4
        t.addfile(extra, io.BytesIO(b"evil"))
    refused(
        infinity("mirror", "unpack", str(bad), "--dir", str(tmp_path / "bad-site")),
        "packages/kafka/extra.sh: in the mirror but in no checksum list; refused",
    )
    assert not (tmp_path / "bad-site").exists()


def test_an_archive_whose_paths_escape_is_refused_and_writes_nothing(
    infinity: Infinity, tmp_path: Path
) -> None:
    archive = tmp_path / "escape.tar"
    with tarfile.open(archive, "w") as t:
        member = tarfile.TarInfo("universe/../../escaped.txt")
        member.size = 4
        t.addfile(member, io.BytesIO(b"evil"))
    refused(
        infinity("mirror", "unpack", str(archive), "--dir", str(tmp_path / "site" / "m")),
        "member 'universe/../../escaped.txt' escapes the destination; refused",
    )
    assert (
        not (tmp_path / "escaped.txt").exists() and not (tmp_path / "site" / "escaped.txt").exists()
    )
    assert not (tmp_path / "site" / "m").exists()


def test_a_download_that_does_not_match_its_sha512_is_refused_and_nothing_is_kept(
    infinity: Infinity, tmp_path: Path, files_server: tuple[str, Path]
) -> None:
    url, upstream = files_server
    good = b"#!/bin/sh\necho tool\n"
    (upstream / "tool.sh").write_bytes(b"#!/bin/sh\necho evil\n")
    digest = hashlib.sha512(good).hexdigest()
    repo = tmp_path / "repo"
    make_package(
        repo / "tiny", artifacts=[{"name": "tool", "url": f"{url}/tool.sh", "sha512": digest}]
    )
    ok(infinity("repo", "add", "local", str(repo)))
    cache = tmp_path / "cache"
    target = tmp_path / "m"
    result = infinity("mirror", "build", "tiny", "--dir", str(target), cache=cache)
    refused(result, "tiny: artifact tool: tool.sh: sha512", "is not the package's", "refused")
    assert not target.exists()
    assert not (cache / "artifacts" / digest).exists()
    assert list((cache / "tmp").iterdir()) == []
    (upstream / "tool.sh").write_bytes(good)
    ok(infinity("mirror", "build", "tiny", "--dir", str(target), cache=cache))
    assert (target / "artifacts" / "tiny" / "0.1.0-1.0" / "tool.sh").read_bytes() == good


def test_a_maven_file_that_does_not_match_the_lock_is_refused_naming_it(
    infinity: Infinity, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    package = make_package(
        repo / "tiny",
        artifacts=[{"name": "lib", "maven": {"coordinates": ["org.slf4j:slf4j-api:1.7.36"]}}],
    )
    ok(infinity("package", "lock", str(package)))
    lock_file = package / "artifacts.lock.json"
    lock = json.loads(lock_file.read_text())
    assert [f["name"] for f in lock["libraries"][0]["files"]] == ["slf4j-api-1.7.36.jar"]
    ok(infinity("package", "lint", str(package)))
    lock["libraries"][0]["files"][0]["sha512"] = "0" * 128
    lock_file.write_text(json.dumps(lock))
    ok(infinity("repo", "add", "local", str(repo)))
    target = tmp_path / "m"
    refused(
        infinity("mirror", "build", "tiny", "--dir", str(target), cache=tmp_path / "cache"),
        "tiny: artifact lib: slf4j-api-1.7.36.jar: sha512",
        "does not match the lock's 0000000000000000…; refused",
    )
    assert not target.exists()
