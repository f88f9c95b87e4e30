"""The common role: the runtime installed offline from the wheelhouse into a venv of its
own under /opt/infinity, `current` pointing at it, its commands working."""

import os

import testinfra

# the scenario's container: this role's own, or that of a scenario converging it too
HOST = os.environ.get("INFINITY_ROLE_HOST", "mrole-common")


def test_runtime_is_installed_from_the_wheelhouse() -> None:
    host = testinfra.get_host(f"podman://{HOST}")
    current = host.file("/opt/infinity/current")
    assert current.is_symlink
    assert current.linked_to.startswith("/opt/infinity/releases/0.1.0-")
    assert host.file(current.linked_to + "/.installed").exists
    version = host.run("/opt/infinity/current/bin/mesos-master --version")
    assert version.rc == 0 and "Infinity 0.1.0" in version.stdout
    freeze = host.check_output("/opt/infinity/current/bin/pip freeze")
    assert "infinity-mesos==0.1.0" in freeze and "aiohttp==" in freeze
    assert host.user("mesos").exists
    assert host.file("/opt/infinity/bin/infinity-install-release").mode == 0o755


def test_the_host_gets_the_clusters_ca_and_its_own_certificate() -> None:
    host = testinfra.get_host(f"podman://{HOST}")
    key = host.file("/etc/mesos/ssl/host.key")
    assert key.exists and key.mode == 0o640 and key.group == "mesos"
    for name in ("ca.crt", "host.crt"):
        assert host.file(f"/etc/mesos/ssl/{name}").contains("BEGIN CERTIFICATE")
