"""The docker containerizer's tests: a tiny image built here, on this machine's podman.

No registry is reachable, so the image is `podman import` of a tarball holding Debian's
static busybox (package `busybox-static`) and links to the applets the tests use. Every
container and image these tests (and their agents) make is named `infinity-ctest-<pid>-...`
and only those are removed afterwards: other podman containers on the machine (another
suite's test hosts) are never touched.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PREFIX = f"infinity-ctest-{os.getpid()}-"
BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "sleep", "echo", "cat", "ls", "mkdir", "httpd", "env", "test", "true", "id", "dd")


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(
        ["podman", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def our_containers() -> list[str]:
    done = podman("ps", "--all", "--format", "{{.Names}}", check=False)
    return [n for n in done.stdout.split() if n.startswith(PREFIX)]


def our_images() -> list[str]:
    done = podman("images", "--format", "{{.Repository}}:{{.Tag}}", check=False)
    return [n for n in done.stdout.split() if n.removeprefix("localhost/").startswith(PREFIX)]


@dataclass(frozen=True)
class Images:
    """What the tests run: `busybox` in podman's store; `archived`, only in `archive` (a
    `podman save` tarball), so a task must load it; `registered`, only as
    `<registry>/<name>:<tag>.tar`; `missing`, nowhere."""

    busybox: str
    archived: str
    archive: Path
    missing: str
    registered: str  # only in `registry` (an agent's --docker_registry directory)
    registry: Path


def _rootfs_tarball(path: Path) -> None:
    with tarfile.open(path, "w") as tar:
        for directory in ("bin", "tmp", "www", "etc"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, "bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
        page = b"hello from the container\n"
        info = tarfile.TarInfo("www/index.html")
        info.size = len(page)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(page))


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Images]:
    if shutil.which("podman") is None or not BUSYBOX.exists():
        pytest.fail("podman and busybox-static are needed (bash .ci/bootstrap.sh installs them)")
    base = tmp_path_factory.mktemp("images")
    rootfs = base / "rootfs.tar"
    _rootfs_tarball(rootfs)
    busybox = f"localhost/{PREFIX}busybox:1"
    archived = f"localhost/{PREFIX}archived:1"
    try:  # whatever was made is removed, also when a step fails
        podman(
            "import", "--quiet", "--change", 'CMD ["/bin/sh"]', "--change", "ENV PATH=/bin",
            str(rootfs), busybox,
        )  # fmt: skip
        podman("tag", busybox, archived)
        archive = base / "archived.tar"
        podman("save", "--quiet", "--format", "docker-archive", "--output", str(archive), archived)
        podman("rmi", archived)
        registered = f"localhost/{PREFIX}registered:1"
        registry = base / "registry"
        registry.mkdir()
        podman("tag", busybox, registered)
        # `podman save` refuses a ':' in the file name that Mesos' registry layout has
        saved = registry / "saved.tar"
        podman("save", "--quiet", "--format", "docker-archive", "--output", str(saved), registered)
        saved.rename(registry / f"{registered.removeprefix('localhost/')}.tar")
        podman("rmi", registered)
        yield Images(
            busybox, archived, archive, f"localhost/{PREFIX}missing:1", registered, registry
        )
    finally:
        cleanup()


def cleanup() -> None:
    for name in our_containers():
        podman("rm", "--force", "--time", "0", name, check=False)
    for name in our_images():
        podman("rmi", "--force", name, check=False)


def remove_our_containers() -> None:
    for name in our_containers():
        with contextlib.suppress(subprocess.TimeoutExpired):
            podman("rm", "--force", "--time", "0", name, check=False)


DOCKER_FLAGS = (
    "--containerizers=mesos,docker",
    "--image_providers=docker",
    f"--docker_container_prefix={PREFIX}",
)
