"""The zookeeper role on one host: a standalone member serving on the cluster address only."""

import os

import testinfra

# the scenario's container: this role's own, or that of a scenario converging it too
HOST = os.environ.get("INFINITY_ROLE_HOST", "mrole-zookeeper")


def test_zookeeper_serves_on_the_cluster_address_only() -> None:
    host = testinfra.get_host(f"podman://{HOST}")
    assert host.service("zookeeper").is_running
    assert host.service("zookeeper").is_enabled
    assert host.check_output("/usr/local/sbin/zookeeper-mode") == "standalone"
    listening = host.check_output("ss -ltnH '( sport = :2181 )'")
    assert "198.18.0." in listening
    assert "0.0.0.0:2181" not in listening and "*:2181" not in listening
    assert host.file("/var/lib/zookeeper/data/myid").content_string.strip() == "1"
    assert host.file("/etc/zookeeper/conf/zoo.cfg").contains("admin.enableServer=false")
