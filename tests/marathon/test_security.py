"""A secured Marathon, as `infinity_security_enabled` deploys it, with real daemons: HTTPS
only (`--disable_http`, TLS from `LIBPROCESS_SSL_*` with a CA the tests make) against a
master and agent that speak only TLS; HTTP Basic against `--http_credentials_file`.
Anonymous and wrong callers get a 401, the right credential runs an app, a standby proxies
to the leader over TLS with the caller's credentials, the CLI verifies and authenticates,
and bad TLS or credential flags stop Marathon at start, naming what to fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesos_runtime.marathon.main import main
from tests.harness import daemons, zookeeper
from tests.harness.tls import TlsFiles, make_pki
from tests.integration.test_agent_tasks import kill_leftover_tasks

from .conftest import Marathon, MarathonProcess, api, marathon

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-" + uuid.uuid4().hex[:8]
OPERATOR = f"operator:{SECRET}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secrets") / "marathon-http-credentials.json"
    path.write_text(json.dumps({"credentials": [{"principal": "operator", "secret": SECRET}]}))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def tls_cluster(
    pki: TlsFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[daemons.Daemon]:
    """A master and an agent that serve only TLS and demand client certificates."""
    root = tmp_path_factory.mktemp("tls-cluster")
    env = pki.environment(require_cert=True)
    master = daemons.master(root / "master", "--allocation_interval=200ms", env=env)
    agent = daemons.agent(
        root / "agent",
        master.address,
        "--resources=cpus:4;mem:4096;disk:4096;ports:[31000-31999]",
        env=env,
    )
    master.tls = agent.tls = pki.client_context()
    try:
        with daemons.running(master, agent):
            daemons.wait_until(lambda: daemons.registered_agents(master), 30, message="agent")
            yield master
    finally:
        kill_leftover_tasks(root / "agent")


def secured(
    work_dir: Path, master: daemons.Daemon, pki: TlsFiles, credentials: Path, **kw: str
) -> MarathonProcess:
    """An HTTPS-only Marathon whose API needs the operator's credential."""
    http_port, https_port = daemons.free_port(), daemons.free_port()
    process = marathon(
        work_dir,
        master.address,
        "--https_address=127.0.0.1",
        f"--https_port={https_port}",
        "--disable_http",
        f"--http_credentials_file={credentials}",
        port=http_port,
        env=pki.environment(require_cert=False),
        **kw,
    )
    process.port = https_port  # its URL, address and identifier
    process.tls = pki.client_context(with_cert=False)  # callers need no client certificate
    process.auth = OPERATOR
    process.http_port = http_port  # type: ignore[attr-defined]
    return process


@pytest.fixture(scope="module")
def secured_marathon(
    tls_cluster: daemons.Daemon,
    pki: TlsFiles,
    credentials: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Marathon]:
    process = secured(tmp_path_factory.mktemp("marathon"), tls_cluster, pki, credentials)
    with daemons.running(process):
        yield Marathon(process, tls_cluster)


def test_anonymous_and_wrong_callers_get_401_and_the_credential_runs_an_app(
    secured_marathon: Marathon,
) -> None:
    m = secured_marathon
    tls = m.process.tls
    for auth in (None, "operator:wrong", "nobody:" + SECRET):
        refused = api(m.url, "GET", "/v2/apps", context=tls, auth=auth)
        assert refused.status == 401, (auth, refused)
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="Mesosphere"'
        assert refused.headers["Content-Type"].startswith("application/json")
        assert refused.body["message"]
    assert (
        "Invalid credentials for principal 'operator'"
        in (api(m.url, "GET", "/v2/apps", context=tls, auth="operator:wrong").body["message"])
    )
    # nothing was created by the refused callers; /ping stays open for liveness probes
    refused = api(m.url, "POST", "/v2/apps", {"id": "/sneaky", "cmd": "sleep 1"}, context=tls)
    assert refused.status == 401
    assert api(m.url, "GET", "/ping", context=tls).status == 200

    app = {"id": "/secure/sleeper", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1}
    assert m("POST", "/v2/apps", app).status == 201
    m.wait_running("/secure/sleeper", 1)
    assert [a["id"] for a in m("GET", "/v2/apps").body["apps"]] == ["/secure/sleeper"]

    # https is what it advertises, in /v2/info and to Mesos as the framework's web UI
    info = m("GET", "/v2/info").body
    assert info["marathon_config"]["webui_url"] == m.url
    assert info["http_config"] == {"http_port": None, "https_port": m.process.port}
    state = daemons.http_json(m.master.url + "/master/state", context=m.master.tls)
    (framework,) = [f for f in state["frameworks"] if f["name"] == "marathon"]
    assert framework["webui_url"] == m.url
    m.remove("/secure/sleeper")


def test_plain_http_is_refused_when_disabled(secured_marathon: Marathon) -> None:
    port = secured_marathon.process.http_port  # type: ignore[attr-defined]
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5)
    assert isinstance(refused.value.reason, ConnectionRefusedError)
    # and the https port speaks no plain HTTP either
    with pytest.raises((urllib.error.URLError, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{secured_marathon.process.port}/ping", timeout=5)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("infinity")), *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_cli_verifies_an_https_marathon_and_presents_its_credential(
    secured_marathon: Marathon, pki: TlsFiles, tmp_path: Path
) -> None:
    m = secured_marathon
    labels = {"DCOS_PACKAGE_NAME": "hello", "DCOS_SERVICE_NAME": "hello-cli"}
    app = {"id": "/hello-cli", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "labels": labels}
    assert m("POST", "/v2/apps", app).status == 201
    credential = tmp_path / "operator.json"
    credential.write_text(json.dumps({"principal": "operator", "secret": SECRET}))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("INFINITY_", "LIBPROCESS_"))}
    env = {
        **base,
        "HOME": str(tmp_path),
        "INFINITY_MARATHON": m.url,
        "LIBPROCESS_SSL_CA_FILE": str(pki.ca),
        "INFINITY_CREDENTIAL": str(credential),
    }
    try:
        listed = _cli("list", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        assert [s["name"] for s in json.loads(listed.stdout)] == ["hello-cli"]

        anonymous = _cli("list", env={k: v for k, v in env.items() if k != "INFINITY_CREDENTIAL"})
        assert anonymous.returncode == 1
        assert "Marathon answered 401" in anonymous.stderr
        unverified = _cli("list", env={k: v for k, v in env.items() if "SSL" not in k})
        assert unverified.returncode == 1
        assert "LIBPROCESS_SSL_CA_FILE" in unverified.stderr
    finally:
        m.remove("/hello-cli")


@pytest.mark.zookeeper
def test_a_standby_proxies_to_the_leader_over_tls_with_the_callers_credentials(
    tls_cluster: daemons.Daemon,
    pki: TlsFiles,
    credentials: Path,
    zk_quorum: zookeeper.QuorumHandle,
    tmp_path: Path,
) -> None:
    zk_quorum.wait_for_quorum()
    zk = zk_quorum.zk_url(f"/marathon-tls-{uuid.uuid4().hex[:8]}")
    processes = [
        secured(tmp_path / f"m{i}", tls_cluster, pki, credentials, zk=zk) for i in range(2)
    ]
    with daemons.running(*processes):
        instances = [Marathon(p, tls_cluster) for p in processes]

        def leader() -> Marathon | None:
            named = {m("GET", "/v2/leader").body.get("leader") for m in instances}
            return next((m for m in instances if {m.process.address} == named), None)

        leading = daemons.wait_until(leader, 30, message="one leader named by both")
        standby = next(m for m in instances if m is not leading)
        anonymous = api(standby.url, "GET", "/v2/apps", context=standby.process.tls)
        assert anonymous.status == 401
        app = {"id": "/proxied", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 0}
        created = standby("POST", "/v2/apps", app)
        assert created.status == 201, created
        assert created.headers["X-Marathon-Leader"] == leading.url
        assert leading("GET", "/v2/apps/proxied").body["app"]["id"] == "/proxied"
        assert standby("DELETE", "/v2/apps/proxied?force=true").status == 200


@pytest.mark.parametrize(
    ("argv", "env", "words"),
    [
        (
            [],
            {"LIBPROCESS_SSL_ENABLED": "true", "LIBPROCESS_SSL_CERT_FILE": "{pki.cert}"},
            "LIBPROCESS_SSL_KEY_FILE",
        ),
        (
            [],
            {
                "LIBPROCESS_SSL_ENABLED": "true",
                "LIBPROCESS_SSL_CERT_FILE": "{pki.cert}",
                "LIBPROCESS_SSL_KEY_FILE": "/nonexistent/key.pem",
            },
            "/nonexistent/key.pem",
        ),
        (
            ["--http_credentials_file=/nonexistent/credentials.json"],
            {},
            "--http_credentials_file: cannot read credentials file /nonexistent/credentials.json",
        ),
        (["--http_credentials_file={pki.ca}"], {}, "--http_credentials_file"),
        (["--http_credentials=operator"], {}, "--http_credentials: expected user:password"),
        (["--disable_http"], {}, "--disable_http needs HTTPS"),
    ],
)
def test_bad_tls_and_credential_flags_stop_marathon_naming_them(
    argv: list[str],
    env: dict[str, str],
    words: str,
    *,
    pki: TlsFiles,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in list(os.environ):
        if name.startswith(("LIBPROCESS_", "SSL_", "MARATHON_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(pki=pki))
    argv = [a.format(pki=pki) for a in argv]
    assert main(["--master=127.0.0.1:5050", *argv]) == 1
    assert words in capsys.readouterr().err
