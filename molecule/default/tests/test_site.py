"""The converged (and upgraded) site: every ZooKeeper member leader or follower, exactly one
leading master, every agent registered with its resources, a task runs on every agent.
Hosts through testinfra's podman:// backend, the cluster as the operator reaches it (over
TLS with the cluster's CA and credentials, made on the controller for cluster `local`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import testinfra

from tests.ansible import cluster_checks as checks
from tests.harness.daemons import wait_until

HOSTS = ["msite-1", "msite-2", "msite-3"]
# inventories/local's cluster name: the roles' infinity_secrets_dir
SECRETS = Path.home() / ".infinity" / "local"


@pytest.fixture(scope="module")
def access() -> checks.Access:
    return checks.Access.of_secrets(SECRETS)


@pytest.fixture(scope="module")
def ips() -> dict[str, str]:
    out = {}
    for name in HOSTS:
        host = testinfra.get_host(f"podman://{name}")
        (address,) = json.loads(host.check_output("ip -j -4 addr show dev eth0"))
        out[name] = address["addr_info"][0]["local"]
    return out


@pytest.mark.parametrize("name", HOSTS)
def test_services_run_under_systemd(name: str) -> None:
    host = testinfra.get_host(f"podman://{name}")
    for unit in ("zookeeper", "mesos-master", "mesos-agent", "marathon"):
        service = host.service(unit)
        assert service.is_running and service.is_enabled, unit
    assert host.file("/opt/infinity/current/bin/mesos-agent").exists
    assert host.file("/etc/mesos/agent.env").contains("MESOS_MASTER=zk://")


def test_every_zookeeper_member_is_leader_or_follower(ips: dict[str, str]) -> None:
    modes = sorted(checks.zookeeper_mode(ip) or "down" for ip in ips.values())
    assert modes == ["follower", "follower", "leader"]


def test_exactly_one_master_leads(ips: dict[str, str], access: checks.Access) -> None:
    wait_until(
        lambda: len(checks.leading_masters(access, list(ips.values()))) == 1,
        60,
        message="one leading master",
    )


def test_every_agent_is_registered_with_its_resources_and_runs_a_task(
    ips: dict[str, str], access: checks.Access
) -> None:
    leader = wait_until(lambda: checks.leader_url(access, list(ips.values())), 60, message="leader")
    agents = checks.agents(access, leader)
    assert sorted(checks.agent_ip(a) for a in agents) == sorted(ips.values())
    for agent in agents:
        scalars = {
            r["name"]: r["scalar"]["value"] for r in agent["total_resources"] if "scalar" in r
        }
        assert scalars["cpus"] == 2.0 and scalars["mem"] == 1024.0
    ran = checks.run_on_every_agent(access, leader, "molecule", command="echo hi")
    assert set(ran.values()) == {a["agent_info"]["id"]["value"] for a in agents}


def test_the_marathon_instances_agree_on_one_leader(
    ips: dict[str, str], access: checks.Access
) -> None:
    # secured: HTTPS only (the marathon role's marathon_https_port) with credentials
    leader = wait_until(
        lambda: checks.marathon_leader(list(ips.values()), access, 8443),
        60,
        message="one Marathon leader",
    )
    info = access.get_json(leader + "/v2/info")
    assert info["elected"] is True and info["frameworkId"]
