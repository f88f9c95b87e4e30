"""The artifact mirror: a directory with every artifact of some packages, their
definitions, an `index.json` and `SHA512SUMS`, served over HTTP to the agents; packed into
one archive (the packed universe) for air-gapped sites and unpacked there, verified.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from mesos_runtime.wire.record import Record, WireError, record, repeated, required

from .artifacts import ArtifactStore, mirror_path
from .package import ArtifactKind, Package
from .packing import ArchiveError, pack, safe_extract, sha512_of
from .render import ArtifactRef

__all__ = [
    "INDEX",
    "SUMS",
    "MirrorArtifact",
    "MirrorError",
    "MirrorFile",
    "MirrorIndex",
    "MirrorPackage",
    "artifact_refs",
    "build_mirror",
    "load_index",
    "pack_mirror",
    "unpack_mirror",
    "verify_mirror",
]

INDEX = "index.json"
SUMS = "SHA512SUMS"
PLACEHOLDER_MIRROR = "http://mirror.invalid"  # what describe/lint render with, unless told


class MirrorError(ValueError):
    """A mirror that cannot be built, read or trusted; the message names the file."""


@record(frozen=True)
class MirrorFile(Record):
    path: str = required()  # relative to the mirror's root
    sha512: str = required()
    size: int = required()


@record(frozen=True)
class MirrorArtifact(Record):
    name: str = required()
    kind: str = required()
    file: MirrorFile = required()
    extract: bool = False


@record(frozen=True)
class MirrorPackage(Record):
    name: str = required()
    version: str = required()
    upstream_version: str = required()
    description: str = required()
    tags: list[str] = repeated()
    definition: list[MirrorFile] = repeated()  # the package folder, under packages/<name>/
    artifacts: list[MirrorArtifact] = repeated()


@record(frozen=True)
class MirrorIndex(Record):
    format: int = 1
    built: str | None = None
    packages: list[MirrorPackage] = repeated()

    def package(self, name: str) -> MirrorPackage | None:
        return next((p for p in self.packages if p.name == name), None)

    def files(self) -> list[MirrorFile]:
        return [f for p in self.packages for f in [*p.definition, *(a.file for a in p.artifacts)]]


def artifact_refs(package: Package, mirror_url: str = PLACEHOLDER_MIRROR) -> dict[str, ArtifactRef]:
    """How tasks fetch each artifact of `package` from the mirror at `mirror_url`. The
    checksum comes from the package itself (its manifest, or its lock for a library)."""
    refs = {}
    for artifact in package.manifest.artifacts:
        if artifact.kind is ArtifactKind.MAVEN:
            entry = package.lock.library(artifact.name) if package.lock else None
            digest = entry.packed_sha512 if entry else "0" * 128  # unlocked: lint says so
        else:
            assert artifact.sha512 is not None
            digest = artifact.sha512
        refs[artifact.name] = ArtifactRef(
            uri=mirror_url.rstrip("/") + "/" + mirror_path(package, artifact),
            checksum=f"sha512:{digest}",
            file=artifact.file_name(package.name, package.version),
            extract=artifact.kind is ArtifactKind.MAVEN or artifact.extract,
        )
    return refs


def _file(root: Path, relative: str) -> MirrorFile:
    path = root / relative
    return MirrorFile(path=relative, sha512=sha512_of(path), size=path.stat().st_size)


def _write_index(root: Path, index: MirrorIndex) -> None:
    (root / INDEX).write_text(json.dumps(index.to_json(), indent=2) + "\n")
    lines = [f"{f.sha512}  {f.path}" for f in sorted(index.files(), key=lambda f: f.path)]
    lines.append(f"{sha512_of(root / INDEX)}  {INDEX}")
    (root / SUMS).write_text("\n".join(lines) + "\n")


def build_mirror(packages: list[Package], store: ArtifactStore, dest: Path) -> MirrorIndex:
    """Put every artifact of `packages` (verified) and their definitions into `dest`. The
    mirror is built beside `dest` and swapped in whole: a failure leaves `dest` as it was."""
    if dest.exists() and any(dest.iterdir()) and not (dest / INDEX).is_file():
        raise MirrorError(f"{dest}: exists and is not a mirror; choose an empty or new directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    staging.chmod(0o755)  # served to others: not mkdtemp's 0700
    try:
        entries = []
        for package in packages:
            definition = []
            for relative in package.files():
                target = staging / "packages" / package.name / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(package.root / relative, target)
                definition.append(_file(staging, f"packages/{package.name}/{relative.as_posix()}"))
            artifacts = []
            for artifact in package.manifest.artifacts:
                source = store.fetch(package, artifact)
                relative_path = mirror_path(package, artifact)
                target = staging / relative_path
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                artifacts.append(
                    MirrorArtifact(
                        name=artifact.name,
                        kind=artifact.kind.value,
                        file=_file(staging, relative_path),
                        extract=artifact.kind is ArtifactKind.MAVEN or artifact.extract,
                    )
                )
            m = package.manifest
            entries.append(
                MirrorPackage(
                    name=m.name,
                    version=m.version,
                    upstream_version=m.upstream_version,
                    description=m.description,
                    tags=list(m.tags),
                    definition=definition,
                    artifacts=artifacts,
                )
            )
        built = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        index = MirrorIndex(built=built, packages=entries)
        _write_index(staging, index)
        _swap_in(staging, dest)
        return index
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_in(staging: Path, dest: Path) -> None:
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
    os.replace(staging, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def load_index(root: Path) -> MirrorIndex:
    try:
        return MirrorIndex.from_json(json.loads((root / INDEX).read_text()))
    except FileNotFoundError:
        raise MirrorError(f"{root}: not a mirror (no {INDEX})") from None
    except (ValueError, WireError) as e:
        raise MirrorError(f"{root / INDEX}: not a mirror index ({e})") from None


def verify_mirror(root: Path) -> MirrorIndex:
    """Check that every file the index and SHA512SUMS list is there with its checksum, and
    that nothing else is."""
    index = load_index(root)
    try:
        sums_text = (root / SUMS).read_text()
    except FileNotFoundError:
        raise MirrorError(f"{root}: no {SUMS}") from None
    sums: dict[str, str] = {}
    for line in sums_text.splitlines():
        digest, sep, path = line.partition("  ")
        if not sep or len(digest) != 128:
            raise MirrorError(f"{SUMS}: malformed line {line[:80]!r}")
        sums[path] = digest
    listed = {f.path: f.sha512 for f in index.files()} | {INDEX: sums.get(INDEX, "")}
    if set(listed) != set(sums):
        odd = sorted(set(listed) ^ set(sums))
        raise MirrorError(f"{SUMS} and {INDEX} disagree about {', '.join(odd[:5])}")
    for path, digest in sorted(sums.items()):
        if path != INDEX and listed[path] != digest:
            raise MirrorError(f"{path}: {SUMS} and {INDEX} give different checksums")
        target = root / path
        if not target.is_file():
            raise MirrorError(f"{path}: missing from the mirror")
        if sha512_of(target) != digest:
            raise MirrorError(f"{path}: sha512 does not match {SUMS}; refused")
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    extra = sorted(present - set(sums) - {SUMS})
    if extra:
        raise MirrorError(f"{extra[0]}: in the mirror but in no checksum list; refused")
    return index


def pack_mirror(root: Path, archive: Path) -> None:
    """The packed universe: the verified mirror as one (reproducible) tar."""
    verify_mirror(root)
    files = [p for p in root.rglob("*") if p.is_file()]
    partial = archive.with_name(f".{archive.name}.partial")
    try:
        pack([(f"universe/{p.relative_to(root).as_posix()}", p) for p in files], partial)
        os.replace(partial, archive)
    finally:
        partial.unlink(missing_ok=True)


def unpack_mirror(archive: Path, dest: Path) -> MirrorIndex:
    """Unpack a packed universe into `dest` (new or empty): members that escape, links and
    special files are refused, and every file must match its checksum, else nothing stays."""
    if dest.exists() and any(dest.iterdir()):
        raise MirrorError(f"{dest}: not empty; unpack into a new directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        try:
            written = safe_extract(archive, staging)
        except ArchiveError as e:
            raise MirrorError(str(e)) from None
        outside = [w for w in written if PurePosixPath(w).parts[0] != "universe"]
        if outside:
            raise MirrorError(f"{archive.name}: {outside[0]!r} is outside universe/; refused")
        index = verify_mirror(staging / "universe")
        (staging / "universe").chmod(0o755)
        if dest.exists():
            dest.rmdir()
        os.replace(staging / "universe", dest)
        return index
    finally:
        shutil.rmtree(staging, ignore_errors=True)
