"""The java role: Debian's headless OpenJDK answers."""

import testinfra


def test_java_runs() -> None:
    host = testinfra.get_host("podman://mrole-java")
    version = host.run("java -version")  # on PATH, as Debian sets it up
    assert version.rc == 0
    assert "openjdk" in version.stderr.lower()
    assert host.package("default-jre-headless").is_installed
