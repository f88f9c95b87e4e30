"""Resolving Maven coordinates with their dependencies by Maven itself: a throwaway pom
listing them, `dependency:copy-dependencies` in repository layout (so every file names its
group, artifact and version), Maven's own checksum checks strict, its cache in ~/.m2.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path, PurePosixPath
from xml.sax.saxutils import escape

__all__ = ["DEPENDENCY_PLUGIN", "MavenError", "library_names", "resolve"]

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"


class MavenError(RuntimeError):
    """Maven could not resolve the coordinates; the message carries Maven's own error."""


def _dependency(coordinate: str) -> str:
    parts = coordinate.split(":")
    group, artifact, version = parts[0], parts[1], parts[-1]
    extension = parts[2] if len(parts) >= 4 else None
    classifier = parts[3] if len(parts) == 5 else None
    xml = [f"<groupId>{escape(group)}</groupId>", f"<artifactId>{escape(artifact)}</artifactId>"]
    xml.append(f"<version>{escape(version)}</version>")
    if extension:
        xml.append(f"<type>{escape(extension)}</type>")
    if classifier:
        xml.append(f"<classifier>{escape(classifier)}</classifier>")
    return "<dependency>" + "".join(xml) + "</dependency>"


def _pom(coordinates: list[str]) -> str:
    deps = "\n    ".join(_dependency(c) for c in coordinates)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>infinity.universe</groupId>
  <artifactId>resolve</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    {deps}
  </dependencies>
</project>
"""


def resolve(
    coordinates: list[str],
    workdir: Path,
    *,
    scope: str = "runtime",
    maven_repo: Path | None = None,
    timeout: float = 1200.0,
) -> dict[str, Path]:
    """Resolve into `workdir`: {path in repository layout: the file}."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenError("mvn is not on PATH (Debian: apt-get install maven)")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "pom.xml").write_text(_pom(coordinates))
    out = workdir / "repository"
    command = [mvn, "-B", "-q", "-ntp", "-C", "-f", str(workdir / "pom.xml")]
    if maven_repo is not None:
        command.append(f"-Dmaven.repo.local={maven_repo}")
    command += [
        f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        f"-DincludeScope={scope}",
        "-Dmdep.useRepositoryLayout=true",
        "-Dmdep.copyPom=false",
        f"-DoutputDirectory={out}",
    ]
    try:
        done = subprocess.run(
            command, cwd=workdir, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise MavenError(f"Maven did not finish resolving within {timeout:.0f}s") from None
    if done.returncode != 0:
        lines = [ln for ln in (done.stdout + done.stderr).splitlines() if "ERROR" in ln]
        detail = "\n".join(lines[:8]) or (done.stdout + done.stderr)[-2000:]
        raise MavenError(f"Maven could not resolve {', '.join(coordinates)}:\n{detail}")
    if not out.is_dir():
        return {}
    files = (p for p in sorted(out.rglob("*")) if p.is_file())
    return {p.relative_to(out).as_posix(): p for p in files if _is_artifact(p.relative_to(out))}


def _is_artifact(relative: Path) -> bool:
    """An artifact file in repository layout (group/.../artifact/version/artifact-version*),
    not Maven's bookkeeping (maven-metadata-local.xml and the like)."""
    parts = relative.parts
    return len(parts) >= 4 and parts[-1].startswith(f"{parts[-3]}-{parts[-2]}")


def library_names(paths: list[str]) -> dict[str, str]:
    """The flat file name of each repository path in the library directory: the file's own
    name, prefixed with its group where two groups ship files of the same name."""
    base = {p: PurePosixPath(p).name for p in paths}
    names = list(base.values())
    out = {}
    for path, name in base.items():
        group = ".".join(PurePosixPath(path).parts[:-3])
        out[path] = f"{group}.{name}" if names.count(name) > 1 else name
    return out
