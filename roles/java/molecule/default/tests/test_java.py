"""The java role: Debian's headless OpenJDK answers."""

import os

import testinfra

# the scenario's container: this role's own, or that of a scenario converging it too
HOST = os.environ.get("INFINITY_ROLE_HOST", "mrole-java")


def test_java_runs() -> None:
    host = testinfra.get_host(f"podman://{HOST}")
    version = host.run("java -version")  # on PATH, as Debian sets it up
    assert version.rc == 0
    assert "openjdk" in version.stderr.lower()
    assert host.package("default-jre-headless").is_installed
