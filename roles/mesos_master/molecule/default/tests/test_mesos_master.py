"""The mesos_master role on one host: a standalone master under systemd that leads."""

import json
import os

import testinfra

# the scenario's container: this role's own, or that of a scenario converging it too
HOST = os.environ.get("INFINITY_ROLE_HOST", "mrole-mesos-master")


def test_the_master_runs_and_leads() -> None:
    host = testinfra.get_host(f"podman://{HOST}")
    service = host.service("mesos-master")
    assert service.is_running and service.is_enabled
    assert host.file("/etc/mesos/master.env").contains("MESOS_CLUSTER=molecule-")
    ip = json.loads(host.check_output("ip -j -4 addr show dev eth0"))[0]["addr_info"][0]["local"]
    metrics = json.loads(
        host.check_output(
            f"python3 -c \"import urllib.request; print(urllib.request.urlopen('http://{ip}:5050/metrics/snapshot').read().decode())\""
        )
    )
    assert metrics["master/elected"] == 1.0
    assert "Restart=always" in host.check_output("systemctl show -p Restart mesos-master")
