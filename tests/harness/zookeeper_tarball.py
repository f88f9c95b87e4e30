"""A ZooKeeper release tarball in Apache's layout (`apache-zookeeper-<version>-bin/lib/*.jar`)
for the zookeeper role's `tarball` install, built from the controller's Debian jars (no
Apache download site is reachable here), with its sha512; and a loopback HTTP server the
controller's `get_url` fetches it from, as it would from a mirror.

    python -m tests.harness.zookeeper_tarball OUT_DIR   # builds it, prints path and sha512
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import io
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

JAVA = Path("/usr/share/java")
# what Debian's classpath adds to zookeeper.jar (roles/zookeeper/tasks/install_debian.yml)
ROOTS = ("zookeeper.jar", "slf4j-log4j12.jar", "log4j-1.2.jar")


class TarballError(RuntimeError):
    """The tarball cannot be built here (the message says what is missing)."""


def _class_path(jar: Path) -> list[Path]:
    """The jars a jar's manifest names (Debian's are absolute paths)."""
    with zipfile.ZipFile(jar) as archive:
        try:
            manifest = archive.read("META-INF/MANIFEST.MF").decode()
        except KeyError:
            return []
    # manifest lines wrap at 72 bytes: a continuation starts with one space
    joined = manifest.replace("\r\n", "\n").replace("\n ", "")
    for line in joined.splitlines():
        if line.startswith("Class-Path:"):
            return [Path(p) for p in line.split(":", 1)[1].split()]
    return []


def jars() -> list[Path]:
    """zookeeper.jar, the logging jars, and every jar their manifests name, transitively."""
    seen: dict[str, Path] = {}
    pending = [JAVA / name for name in ROOTS]
    while pending:
        jar = pending.pop()
        if not jar.is_absolute():
            jar = JAVA / jar
        real = jar.resolve()
        if not real.is_file():
            continue  # a manifest may name optional jars Debian does not ship
        if real.name in seen:
            continue
        seen[real.name] = real
        pending.extend(_class_path(real))
    for name in ROOTS:
        if (JAVA / name).resolve().name not in seen:
            raise TarballError(f"{JAVA / name} is missing: install Debian's zookeeper package")
    return sorted(seen.values())


def version() -> str:
    """The version of the controller's ZooKeeper jar (Debian's, e.g. 3.8.0)."""
    for link in sorted(JAVA.glob("zookeeper-[0-9]*.jar")):
        if link.resolve() == (JAVA / "zookeeper.jar").resolve():
            return link.name.removeprefix("zookeeper-").removesuffix(".jar")
    raise TarballError(f"no versioned zookeeper jar in {JAVA}")


def build(out: Path) -> tuple[Path, str, str]:
    """`apache-zookeeper-<version>-bin.tar.gz` in `out`: sorted entries, no owners, no dates
    (the same jars, the same bytes). Returns (path, version, sha512 hex)."""
    release = version()
    top = f"apache-zookeeper-{release}-bin"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in (top, f"{top}/lib"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for jar in jars():
            info = tarfile.TarInfo(f"{top}/lib/{jar.name}")
            info.size, info.mode = jar.stat().st_size, 0o644
            with jar.open("rb") as f:
                tar.addfile(info, f)
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{top}.tar.gz"
    path.write_bytes(packed.getvalue())
    return path, release, hashlib.sha512(packed.getvalue()).hexdigest()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextlib.contextmanager
def served(directory: Path) -> Iterator[str]:
    """Serve `directory` on 127.0.0.1 (the controller fetches the release); yields its URL."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="zk-mirror", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


if __name__ == "__main__":
    built, release, sha512 = build(Path(sys.argv[1]))
    print(f"{built}\n{release}\nsha512:{sha512}")
