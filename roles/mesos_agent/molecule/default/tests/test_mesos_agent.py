"""The mesos_agent role: an agent registered with its resources, tasks kept over a restart
(KillMode=process, --recover=reconnect); the master asked as the operator over TLS (the
cluster's CA, the operator's client certificate, HTTP Basic), as the e2e test's checks do."""

import base64
import json
import os
import ssl
import urllib.request
from pathlib import Path

import testinfra

# the scenario's container: this role's own, or that of a scenario converging it too
HOST = os.environ.get("INFINITY_ROLE_HOST", "mrole-mesos-agent")
# where the roles made the cluster's secrets on the controller (infinity_secrets_dir)
SECRETS = Path.home() / ".infinity" / os.environ.get("INFINITY_CLUSTER", "molecule-mesos_agent")


def operator_call(url: str, body: object) -> object:
    context = ssl.create_default_context(cafile=str(SECRETS / "ca/ca.crt"))
    context.load_cert_chain(str(SECRETS / "operator.crt"), str(SECRETS / "operator.key"))
    secret = (SECRETS / "credentials/operator").read_text().strip()
    pair = base64.b64encode(f"operator:{secret}".encode()).decode()
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Basic {pair}",
        },
    )
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        return json.loads(response.read())


def test_the_agent_is_registered_with_its_resources() -> None:
    host = testinfra.get_host(f"podman://{HOST}")
    service = host.service("mesos-agent")
    assert service.is_running and service.is_enabled
    ip = json.loads(host.check_output("ip -j -4 addr show dev eth0"))[0]["addr_info"][0]["local"]
    answer = operator_call(f"https://{ip}:5050/api/v1", {"type": "GET_AGENTS"})
    assert isinstance(answer, dict)
    agents = answer["get_agents"]["agents"]
    assert len(agents) == 1
    resources = {r["name"]: r for r in agents[0]["total_resources"]}
    assert resources["cpus"]["scalar"]["value"] == 2.0
    assert agents[0]["active"] is True
    assert "KillMode=process" in host.check_output("systemctl show -p KillMode mesos-agent")
