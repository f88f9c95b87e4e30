"""The zookeeper role on one host: a standalone member serving on the cluster address only."""

import os

import pytest
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


def test_a_served_release_is_installed_from_its_tarball() -> None:
    release = os.environ.get("INFINITY_ZK_TARBALL_VERSION")
    if not release:
        pytest.skip("converged from Debian's package (no release served)")
    host = testinfra.get_host(f"podman://{HOST}")
    lib = f"/opt/zookeeper/apache-zookeeper-{release}-bin/lib"
    assert host.file(f"{lib}/zookeeper.jar").exists
    unit = host.check_output("systemctl cat zookeeper")
    assert f"-cp /etc/zookeeper/conf:{lib}/*" in unit
    assert not host.package("zookeeper").is_installed
