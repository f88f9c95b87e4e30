"""The mesos_agent role: an agent registered with its resources, tasks kept over a restart
(KillMode=process, --recover=reconnect)."""

import json
import os

import testinfra

# the scenario's container: this role's own, or that of a scenario converging it too
HOST = os.environ.get("INFINITY_ROLE_HOST", "mrole-mesos-agent")


def test_the_agent_is_registered_with_its_resources() -> None:
    host = testinfra.get_host(f"podman://{HOST}")
    service = host.service("mesos-agent")
    assert service.is_running and service.is_enabled
    ip = json.loads(host.check_output("ip -j -4 addr show dev eth0"))[0]["addr_info"][0]["local"]
    script = (
        "import json, urllib.request; r = urllib.request.Request("
        f"'http://{ip}:5050/api/v1', data=b'{{\\\"type\\\": \\\"GET_AGENTS\\\"}}',"
        " headers={'Content-Type': 'application/json'}); "
        "print(urllib.request.urlopen(r).read().decode())"
    )
    agents = json.loads(host.check_output(f'python3 -c "{script}"'))["get_agents"]["agents"]
    assert len(agents) == 1
    resources = {r["name"]: r for r in agents[0]["total_resources"]}
    assert resources["cpus"]["scalar"]["value"] == 2.0
    assert agents[0]["active"] is True
    assert "KillMode=process" in host.check_output("systemctl show -p KillMode mesos-agent")
