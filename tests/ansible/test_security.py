"""Secure by default, on the controller: the roles' CA, per-host certificates and
credentials, and the daemons' security configuration with Mesos' own flags (rendered from
the roles' templates with infinity_security_enabled on), with no secret in the output."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.harness.playbooks import BIN, REPO

pytestmark = pytest.mark.ansible

PRINCIPALS = {"agent", "operator", "marathon", "infinity"}
MASTER_FLAGS = {
    "MESOS_AUTHENTICATE_FRAMEWORKS": "true",
    "MESOS_AUTHENTICATE_AGENTS": "true",
    "MESOS_AUTHENTICATE_HTTP_READONLY": "true",
    "MESOS_AUTHENTICATE_HTTP_READWRITE": "true",
    "MESOS_CREDENTIALS": "/etc/mesos/credentials.json",
    "MESOS_ACLS": "/etc/mesos/acls.json",
    "LIBPROCESS_SSL_ENABLED": "true",
    "LIBPROCESS_SSL_CERT_FILE": "/etc/mesos/ssl/host.crt",
    "LIBPROCESS_SSL_KEY_FILE": "/etc/mesos/ssl/host.key",
    "LIBPROCESS_SSL_CA_FILE": "/etc/mesos/ssl/ca.crt",
    "LIBPROCESS_SSL_REQUIRE_CERT": "true",
}
AGENT_FLAGS = {
    "MESOS_CREDENTIAL": "/etc/mesos/agent-credential.json",
    "MESOS_EXECUTOR_SECRET_KEY": "/etc/mesos/executor-secret-key",
    "MESOS_SWITCH_USER": "true",
    "MESOS_AUTHENTICATE_HTTP_READONLY": "true",
    "MESOS_AUTHENTICATE_HTTP_READWRITE": "true",
    "MESOS_AUTHENTICATE_HTTP_EXECUTORS": "true",
    "MESOS_HTTP_CREDENTIALS": "/etc/mesos/agent-http-credentials.json",
    "MESOS_ACLS": "/etc/mesos/agent-acls.json",
    "LIBPROCESS_SSL_ENABLED": "true",
    "LIBPROCESS_SSL_REQUIRE_CERT": "true",
}


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs if not k.startswith("#")}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    work = tmp_path_factory.mktemp("security")
    inventory = work / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "control-1": {"ansible_host": "198.18.0.201"},
                        "worker-1": {"ansible_host": "198.18.0.202"},
                    },
                    "vars": {"ansible_connection": "local", "infinity_cluster_name": "sec"},
                    "children": {
                        "zookeeper": {"hosts": {"control-1": {}}},
                        "masters": {"hosts": {"control-1": {}}},
                        "agents": {"hosts": {"control-1": {}, "worker-1": {}}},
                    },
                }
            }
        )
    )
    secrets, out = work / "secrets", work / "rendered"
    command = [
        str(BIN / "ansible-playbook"),
        "-i",
        str(inventory),
        str(REPO / "tests/ansible/playbooks/render_security.yml"),
        "-e",
        f"infinity_secrets_dir={secrets}",
        "-e",
        f"render_dir={out}",
    ]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    env["PATH"] = f"{BIN}:{os.environ['PATH']}"
    env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] = str(work / "facts")
    outputs = []
    # the second run must change nothing, and so must check mode with --diff (which shows
    # no secret either)
    for extra in ([], [], ["--check", "--diff"]):
        run = subprocess.run(
            command + extra, cwd=REPO, env=env, capture_output=True, text=True, check=False
        )
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        outputs.append(run.stdout + run.stderr)
    return secrets, out, outputs


def test_the_controller_makes_a_ca_and_a_certificate_per_host(
    rendered: tuple[Path, Path, list[str]],
) -> None:
    secrets, _out, _outputs = rendered
    ca = x509.load_pem_x509_certificate((secrets / "ca/ca.crt").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    for host, ip in (("control-1", "198.18.0.201"), ("worker-1", "198.18.0.202")):
        cert = x509.load_pem_x509_certificate((secrets / f"hosts/{host}.crt").read_bytes())
        cert.verify_directly_issued_by(ca)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert host in names.get_values_for_type(x509.DNSName)
        assert ip in [str(a) for a in names.get_values_for_type(x509.IPAddress)]
        assert (secrets / f"hosts/{host}.key").stat().st_mode & 0o777 == 0o600
    operator = x509.load_pem_x509_certificate((secrets / "operator.crt").read_bytes())
    operator.verify_directly_issued_by(ca)
    usage = operator.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage
    assert {p.name for p in (secrets / "credentials").iterdir()} >= PRINCIPALS
    assert (secrets / "ca/ca.key").stat().st_mode & 0o777 == 0o600


def test_masters_and_agents_get_mesos_security_flags_and_credentials(
    rendered: tuple[Path, Path, list[str]],
) -> None:
    secrets, out, _outputs = rendered
    master = env_file(out / "control-1/master.env")
    assert {k: master.get(k) for k in MASTER_FLAGS} == MASTER_FLAGS
    credentials = json.loads((out / "control-1/credentials.json").read_text())["credentials"]
    assert {c["principal"] for c in credentials} == PRINCIPALS
    for c in credentials:
        assert c["secret"] == (secrets / "credentials" / c["principal"]).read_text().strip()
    acls = json.loads((out / "control-1/acls.json").read_text())
    assert acls["permissive"] is False
    assert acls["register_agents"][0]["principals"]["values"] == ["agent"]
    assert "operator" in acls["drain_agents"][0]["principals"]["values"]
    agent = env_file(out / "worker-1/agent.env")
    assert {k: agent.get(k) for k in AGENT_FLAGS} == AGENT_FLAGS
    credential = json.loads((out / "worker-1/agent-credential.json").read_text())
    assert credential == {
        "principal": "agent",
        "secret": (secrets / "credentials/agent").read_text().strip(),
    }
    assert len((out / "worker-1/executor-secret-key").read_text().strip()) == 64
    # the agent's own endpoints: the operator only, with its secret; sandboxes by ACL
    http = json.loads((out / "worker-1/agent-http-credentials.json").read_text())["credentials"]
    assert http == [
        {"principal": "operator", "secret": (secrets / "credentials/operator").read_text().strip()}
    ]
    agent_acls = json.loads((out / "worker-1/agent-acls.json").read_text())
    assert agent_acls["permissive"] is False
    assert agent_acls["access_sandboxes"][0]["principals"]["values"] == ["operator"]


def test_no_secret_is_logged_and_a_second_run_changes_nothing(
    rendered: tuple[Path, Path, list[str]],
) -> None:
    secrets, _out, outputs = rendered
    values = [p.read_text().strip() for p in (secrets / "credentials").iterdir()]
    keys = [p.read_text() for p in (secrets / "hosts").glob("*.key")]
    for output in outputs:
        for secret in values + [k.splitlines()[1] for k in keys]:
            assert secret not in output
    for output in outputs[1:]:
        changed = re.findall(r"changed=(\d+)", output.split("PLAY RECAP")[-1])
        assert changed == ["0", "0"], output[-4000:]
