"""The mesos_master role on one host: a standalone master under systemd that leads,
secured by default: it answers the operator over TLS (the cluster's CA, the operator's
client certificate, HTTP Basic), as the e2e test's checks do, and refuses anonymous calls."""

import base64
import json
import os
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import testinfra

# the scenario's container: this role's own, or that of a scenario converging it too
HOST = os.environ.get("INFINITY_ROLE_HOST", "mrole-mesos-master")
# where the roles made the cluster's secrets on the controller (infinity_secrets_dir)
SECRETS = Path.home() / ".infinity" / os.environ.get("INFINITY_CLUSTER", "molecule-mesos_master")


def operator_call(url: str, body: object = None, credentials: bool = True) -> object:
    context = ssl.create_default_context(cafile=str(SECRETS / "ca/ca.crt"))
    context.load_cert_chain(str(SECRETS / "operator.crt"), str(SECRETS / "operator.key"))
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if credentials:
        secret = (SECRETS / "credentials/operator").read_text().strip()
        pair = base64.b64encode(f"operator:{secret}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        return json.loads(response.read())


def test_the_master_runs_and_leads_serving_the_operator_only() -> None:
    host = testinfra.get_host(f"podman://{HOST}")
    service = host.service("mesos-master")
    assert service.is_running and service.is_enabled
    assert host.file("/etc/mesos/master.env").contains("MESOS_CLUSTER=molecule-")
    ip = json.loads(host.check_output("ip -j -4 addr show dev eth0"))[0]["addr_info"][0]["local"]
    metrics = operator_call(f"https://{ip}:5050/metrics/snapshot")
    assert isinstance(metrics, dict) and metrics["master/elected"] == 1.0
    with pytest.raises(urllib.error.HTTPError) as refused:
        operator_call(f"https://{ip}:5050/metrics/snapshot", credentials=False)
    assert refused.value.code == 401
    assert "Restart=always" in host.check_output("systemctl show -p Restart mesos-master")
