"""Getting a package's artifacts, verified every time: from a mirror, or from their source
(a URL, PyPI through pip, Maven for a locked library), into a content-addressed cache
outside the repository. A file whose sha512 is not the package's is refused by name, and
nothing of a failed fetch is left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from . import maven
from .lock import ArtifactLock, LockedFile, LockedLibrary
from .package import ArtifactKind, ArtifactSpec, Package
from .packing import ArchiveError, pack, safe_extract, sha512_of
from .paths import UniversePaths

__all__ = ["ArtifactError", "ArtifactStore", "mirror_path"]

_CHUNK = 1 << 20
_DONE = ".complete"


class ArtifactError(ValueError):
    """An artifact that cannot be had, or whose content is not what the package says."""


def mirror_path(package: Package, artifact: ArtifactSpec) -> str:
    """Where an artifact lives in a mirror, relative to its root."""
    name = artifact.file_name(package.name, package.version)
    return f"artifacts/{package.name}/{package.version}/{name}"


def _short(digest: str) -> str:
    return digest[:16] + "…"


def _verify(path: Path, expected: str, label: str) -> None:
    got = sha512_of(path)
    if got != expected:
        raise ArtifactError(
            f"{label}: sha512 {_short(got)} is not the package's {_short(expected)}; refused"
        )


class ArtifactStore:
    """Verified artifacts, cached under `<cache>/artifacts/<sha512>/<file>`; unpacked forms
    under `<cache>/unpacked/`. With `mirror` (a URL or a directory) they come from it."""

    def __init__(self, paths: UniversePaths, mirror: str | None = None) -> None:
        self.paths = paths
        self.mirror = mirror
        self.root = paths.cache / "artifacts"
        self.unpacked_root = paths.cache / "unpacked"

    # --- what the package says each artifact must be -----------------------------------

    def expected_sha512(self, package: Package, artifact: ArtifactSpec) -> str:
        if artifact.kind is ArtifactKind.MAVEN:
            return self.locked(package, artifact).packed_sha512
        assert artifact.sha512 is not None
        return artifact.sha512

    def locked(self, package: Package, artifact: ArtifactSpec) -> LockedLibrary:
        entry = package.lock.library(artifact.name) if package.lock else None
        if entry is None or entry.coordinates != (
            artifact.maven.coordinates if artifact.maven else []
        ):
            raise ArtifactError(
                f"{package.name}: artifact {artifact.name} is not locked for its coordinates; "
                f"run `infinity package lock {package.root}`"
            )
        return entry

    # --- the verified file, as a mirror serves it --------------------------------------------

    def fetch(self, package: Package, artifact: ArtifactSpec) -> Path:
        """The artifact's file, verified against the package (fetched once, then cached)."""
        expected = self.expected_sha512(package, artifact)
        name = artifact.file_name(package.name, package.version)
        cached = self.root / expected / name
        if cached.is_file():
            if sha512_of(cached) == expected:
                return cached
            shutil.rmtree(cached.parent, ignore_errors=True)  # corrupted in the cache: fetch again
        label = f"{package.name}: artifact {artifact.name}: {name}"
        with self._staging() as tmp:
            if self.mirror is not None:
                path = self._from_mirror(mirror_path(package, artifact), tmp / name, label)
            elif artifact.kind is ArtifactKind.MAVEN:
                path = self._build_library(package, artifact, tmp, name)
            elif artifact.kind is ArtifactKind.PYPI:
                path = self._pip_download(artifact, tmp, label)
            else:
                assert artifact.url is not None
                path = self._download(artifact.url, tmp / name, label)
            _verify(path, expected, label)
            return self._keep(path, expected)

    def _keep(self, path: Path, digest: str) -> Path:
        final = self.root / digest
        holder = Path(tempfile.mkdtemp(dir=self._tmp_root()))
        os.replace(path, holder / path.name)
        try:
            os.replace(holder, final)
        except OSError:  # another process kept it first
            shutil.rmtree(holder, ignore_errors=True)
        return final / path.name

    def _tmp_root(self) -> Path:
        tmp = self.paths.cache / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        return tmp

    @contextlib.contextmanager
    def _staging(self) -> Iterator[Path]:
        tmp = Path(tempfile.mkdtemp(dir=self._tmp_root()))
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # --- sources ----------------------------------------------------------------------------

    def _from_mirror(self, relative: str, target: Path, label: str) -> Path:
        assert self.mirror is not None
        if urllib.parse.urlparse(self.mirror).scheme in ("http", "https"):
            return self._download(self.mirror.rstrip("/") + "/" + relative, target, label)
        source = Path(self.mirror) / relative
        if not source.is_file():
            raise ArtifactError(f"{label}: not in the mirror {self.mirror} ({relative})")
        shutil.copyfile(source, target)
        return target

    def _download(self, url: str, target: Path, label: str) -> Path:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
        except urllib.error.HTTPError as e:
            raise ArtifactError(f"{label}: {url} answered {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError) as e:
            raise ArtifactError(
                f"{label}: cannot fetch {url} ({getattr(e, 'reason', e)})"
            ) from None
        return target

    def _pip_download(self, artifact: ArtifactSpec, tmp: Path, label: str) -> Path:
        assert artifact.pypi is not None and artifact.file is not None
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        command += ["--no-binary", ":all:", "-d", str(tmp), artifact.pypi]
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
        target = tmp / artifact.file
        if done.returncode != 0 or not target.is_file():
            detail = (done.stderr or done.stdout).strip()[-1500:]
            raise ArtifactError(f"{label}: pip could not download {artifact.pypi}: {detail}")
        return target

    def _build_library(
        self, package: Package, artifact: ArtifactSpec, tmp: Path, name: str
    ) -> Path:
        """Resolve by Maven, check every file against the lock, pack it reproducibly."""
        entry = self.locked(package, artifact)
        files = self._resolve_checked(package, artifact, entry, tmp / "maven")
        out = tmp / name
        pack([(f"{artifact.name}/{f.name}", path) for f, path in files], out)
        return out

    def _resolve_checked(
        self, package: Package, artifact: ArtifactSpec, entry: LockedLibrary, workdir: Path
    ) -> list[tuple[LockedFile, Path]]:
        assert artifact.maven is not None
        label = f"{package.name}: artifact {artifact.name}"
        try:
            resolved = maven.resolve(
                artifact.maven.coordinates,
                workdir,
                scope=artifact.maven.scope,
                maven_repo=self.paths.maven_repo,
            )
        except maven.MavenError as e:
            raise ArtifactError(f"{label}: {e}") from None
        locked = {f.path: f for f in entry.files}
        added, missing = sorted(set(resolved) - set(locked)), sorted(set(locked) - set(resolved))
        if added or missing:
            raise ArtifactError(
                f"{label}: Maven resolved other files than the lock lists (not locked: "
                f"{', '.join(added) or 'none'}; missing: {', '.join(missing) or 'none'}); "
                f"re-lock with `infinity package lock {package.root}`"
            )
        checked = []
        for path, file in resolved.items():
            want = locked[path]
            got = sha512_of(file)
            if got != want.sha512:
                raise ArtifactError(
                    f"{label}: {want.name}: sha512 {_short(got)} does not match the lock's "
                    f"{_short(want.sha512)}; refused"
                )
            checked.append((want, file))
        return checked

    def check_source(self, package: Package, artifact: ArtifactSpec) -> int:
        """Get the artifact afresh from its source (neither cache nor mirror) and verify it
        against the package; the number of files checked."""
        with self._staging() as tmp:
            if artifact.kind is ArtifactKind.MAVEN:
                entry = self.locked(package, artifact)
                return len(self._resolve_checked(package, artifact, entry, tmp / "maven"))
            name = artifact.file_name(package.name, package.version)
            label = f"{package.name}: artifact {artifact.name}: {name}"
            if artifact.kind is ArtifactKind.PYPI:
                path = self._pip_download(artifact, tmp, label)
            else:
                assert artifact.url is not None
                path = self._download(artifact.url, tmp / name, label)
            _verify(path, self.expected_sha512(package, artifact), label)
            return 1

    # --- locking ----------------------------------------------------------------------------

    def lock(self, package: Package, artifact: ArtifactSpec) -> LockedLibrary:
        """Resolve a Maven library afresh and describe it for the lock file."""
        assert artifact.maven is not None
        with self._staging() as tmp:
            try:
                resolved = maven.resolve(
                    artifact.maven.coordinates,
                    tmp / "maven",
                    scope=artifact.maven.scope,
                    maven_repo=self.paths.maven_repo,
                )
            except maven.MavenError as e:
                raise ArtifactError(f"{package.name}: artifact {artifact.name}: {e}") from None
            names = maven.library_names(list(resolved))
            files = [
                LockedFile(path=p, name=names[p], sha512=sha512_of(f), size=f.stat().st_size)
                for p, f in resolved.items()
            ]
            packed = tmp / "packed.tar"
            pack([(f"{artifact.name}/{names[p]}", f) for p, f in resolved.items()], packed)
            return LockedLibrary(
                name=artifact.name,
                coordinates=list(artifact.maven.coordinates),
                scope=artifact.maven.scope,
                packed_sha512=sha512_of(packed),
                packed_size=packed.stat().st_size,
                files=sorted(files, key=lambda f: f.name),
            )

    def lock_package(self, package: Package) -> ArtifactLock:
        lock = package.lock or ArtifactLock()
        for artifact in package.manifest.artifacts:
            if artifact.kind is ArtifactKind.MAVEN:
                lock = lock.with_library(self.lock(package, artifact))
        keep = {a.name for a in package.manifest.artifacts if a.kind is ArtifactKind.MAVEN}
        return ArtifactLock(
            format=lock.format, libraries=[lib for lib in lock.libraries if lib.name in keep]
        )

    # --- unpacked, to run from --------------------------------------------------------------

    def unpack(self, package: Package, artifact: ArtifactSpec) -> Path:
        """A directory holding the artifact as a task's sandbox would after the fetcher
        extracted it (a Maven library as `<name>/*.jar`); a library is re-verified file by
        file on every call."""
        if artifact.kind is not ArtifactKind.MAVEN and not artifact.extract:
            raise ArtifactError(f"{package.name}: artifact {artifact.name} is not an archive")
        expected = self.expected_sha512(package, artifact)
        final = self.unpacked_root / expected[:32]
        if (final / _DONE).is_file():
            try:
                if artifact.kind is ArtifactKind.MAVEN:
                    self._check_unpacked_library(package, artifact, final)
                return final
            except (ArtifactError, OSError):  # changed in the cache: unpack it again
                shutil.rmtree(final, ignore_errors=True)
        archive = self.fetch(package, artifact)
        with self._staging() as tmp:
            tree = tmp / "tree"
            try:
                safe_extract(archive, tree)
            except ArchiveError as e:
                raise ArtifactError(f"{package.name}: artifact {artifact.name}: {e}") from None
            if artifact.kind is ArtifactKind.MAVEN:
                self._check_unpacked_library(package, artifact, tree)
            (tree / _DONE).write_text(expected + "\n")
            self.unpacked_root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tree, final)
        return final

    def _check_unpacked_library(self, package: Package, artifact: ArtifactSpec, tree: Path) -> None:
        entry = self.locked(package, artifact)
        lib = tree / artifact.name
        present = {p.name for p in lib.iterdir()} if lib.is_dir() else set()
        locked = {f.name: f for f in entry.files}
        label = f"{package.name}: artifact {artifact.name}"
        for extra in sorted(present - set(locked)):
            raise ArtifactError(f"{label}: {extra} is not in the lock; refused")
        for name, want in sorted(locked.items()):
            if name not in present:
                raise ArtifactError(f"{label}: {name} is missing")
            got = sha512_of(lib / name)
            if got != want.sha512:
                raise ArtifactError(
                    f"{label}: {name}: sha512 {_short(got)} does not match the lock's "
                    f"{_short(want.sha512)}; refused"
                )
