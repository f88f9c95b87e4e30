"""Package repositories: the built-in `packages/`, and those added with `infinity repo add
NAME URL-or-path` (a folder of packages, a mirror folder, or a mirror served over HTTP),
kept in order in the CLI's config dir (`repositories.json`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Protocol

from mesos_runtime.wire.record import Record, WireError, record, repeated, required

from .mirror import INDEX, MirrorError, MirrorIndex, MirrorPackage, load_index
from .package import Package, PackageError, load_package, version_tuple
from .packing import sha512_of
from .paths import UniversePaths

__all__ = [
    "BUILTIN",
    "PackageSummary",
    "RepositoryEntry",
    "RepositoryError",
    "RepositoryList",
    "find_package",
    "open_repositories",
    "search",
]

BUILTIN = "builtin"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


class RepositoryError(ValueError):
    """A repository that cannot be added, read or found; or a package it does not have."""


@record(frozen=True)
class RepositoryEntry(Record):
    name: str = required()
    location: str = required()  # an absolute folder path, or an http(s) URL of a mirror


@record(frozen=True)
class _Stored(Record):
    repositories: list[RepositoryEntry] = repeated()


@dataclasses.dataclass(frozen=True, slots=True)
class PackageSummary:
    name: str
    version: str
    description: str
    tags: list[str]
    repository: str


class Repository(Protocol):
    name: str
    location: str

    def summaries(self) -> list[PackageSummary]: ...

    def load(self, name: str) -> Package | None: ...


class RepositoryList:
    """The added repositories, in the order they are searched (the built-in one last)."""

    def __init__(self, paths: UniversePaths) -> None:
        self.paths = paths
        self.file = paths.config / "repositories.json"

    def entries(self) -> list[RepositoryEntry]:
        try:
            return _Stored.from_json(json.loads(self.file.read_text())).repositories
        except FileNotFoundError:
            return []
        except (ValueError, WireError) as e:
            raise RepositoryError(f"{self.file}: not a repository list ({e})") from None

    def all(self) -> list[RepositoryEntry]:
        builtin = self.paths.builtin_packages
        extra = [RepositoryEntry(name=BUILTIN, location=str(builtin))] if builtin else []
        return self.entries() + extra

    def _save(self, entries: list[RepositoryEntry]) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.file.parent, prefix=".repositories.")
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(_Stored(repositories=entries).to_json(), indent=2) + "\n")
        os.replace(tmp, self.file)

    def add(self, name: str, location: str) -> RepositoryEntry:
        """Add after checking that the name is free and the location is a repository."""
        if not _NAME.match(name):
            raise RepositoryError(f"repository name {name!r}: lower-case letters, digits and '-'")
        entries = self.entries()
        if name == BUILTIN or any(e.name == name for e in entries):
            raise RepositoryError(f"a repository named {name!r} exists already")
        if urllib.parse.urlparse(location).scheme not in ("http", "https"):
            location = str(Path(location).expanduser().resolve())
        entry = RepositoryEntry(name=name, location=location)
        repo = _open(entry, self.paths)
        if not repo.summaries():
            raise RepositoryError(f"{location}: holds no packages")
        self._save([*entries, entry])
        return entry

    def remove(self, name: str) -> None:
        entries = self.entries()
        if name == BUILTIN:
            raise RepositoryError("the built-in repository cannot be removed")
        if not any(e.name == name for e in entries):
            known = ", ".join(e.name for e in entries) or "none added"
            raise RepositoryError(f"no repository named {name!r} (added: {known})")
        self._save([e for e in entries if e.name != name])


class _FolderRepository:
    """A folder of packages (`<name>/package.yml`), or a mirror folder (`packages/<name>/`
    with the mirror's index, every file checked against it)."""

    def __init__(self, name: str, location: str) -> None:
        self.name, self.location = name, location
        self.root = Path(location)
        self.index: MirrorIndex | None = None
        if (self.root / INDEX).is_file():
            try:
                self.index = load_index(self.root)
            except MirrorError as e:
                raise RepositoryError(str(e)) from None
        elif not self.root.is_dir():
            raise RepositoryError(f"repository {name}: {location} is not a folder")

    def _folders(self) -> dict[str, Path]:
        base = self.root / "packages" if self.index is not None else self.root
        if not base.is_dir():
            return {}
        return {p.name: p for p in sorted(base.iterdir()) if (p / "package.yml").is_file()}

    def summaries(self) -> list[PackageSummary]:
        if self.index is not None:
            return [_summary(p, self.name) for p in self.index.packages]
        out = []
        for folder in self._folders().values():
            with contextlib.suppress(PackageError):  # `infinity package lint` says why
                m = load_package(folder).manifest
                out.append(PackageSummary(m.name, m.version, m.description, m.tags, self.name))
        return out

    def load(self, name: str) -> Package | None:
        folder = self._folders().get(name)
        if folder is None:
            return None
        if self.index is not None:
            entry = self.index.package(name)
            if entry is None:
                return None
            for f in entry.definition:
                if sha512_of(self.root / f.path) != f.sha512:
                    raise _tampered(self.name, f.path)
        return load_package(folder)


def _tampered(repository: str, path: str) -> RepositoryError:
    return RepositoryError(
        f"repository {repository}: {path}: sha512 does not match the mirror's index; refused"
    )


def _summary(p: MirrorPackage, repository: str) -> PackageSummary:
    return PackageSummary(p.name, p.version, p.description, list(p.tags), repository)


class _HttpMirrorRepository:
    """A mirror served over HTTP (`infinity mirror serve`): its index, and each package's
    definition fetched on demand into the cache, verified against the index."""

    def __init__(self, name: str, location: str, paths: UniversePaths) -> None:
        self.name, self.location = name, location.rstrip("/")
        key = hashlib.sha256(location.encode()).hexdigest()[:24]
        self.cache = paths.cache / "repositories" / key
        self._index: MirrorIndex | None = None

    def _get(self, relative: str) -> bytes:
        url = f"{self.location}/{relative}"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.read()
        except urllib.error.HTTPError as e:
            raise RepositoryError(
                f"repository {self.name}: {url} answered {e.code} {e.reason}"
            ) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise RepositoryError(
                f"repository {self.name}: cannot reach {url} ({reason})"
            ) from None

    def index(self) -> MirrorIndex:
        if self._index is None:
            try:
                self._index = MirrorIndex.from_json(json.loads(self._get(INDEX)))
            except (ValueError, WireError) as e:
                raise RepositoryError(
                    f"repository {self.name}: {INDEX} is not a mirror index ({e})"
                ) from None
        return self._index

    def summaries(self) -> list[PackageSummary]:
        return [_summary(p, self.name) for p in self.index().packages]

    def load(self, name: str) -> Package | None:
        entry = self.index().package(name)
        if entry is None:
            return None
        self.cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.cache))
        try:
            for f in entry.definition:
                data = self._get(f.path)
                if hashlib.sha512(data).hexdigest() != f.sha512:
                    raise _tampered(self.name, f.path)
                parts = PurePosixPath(f.path).parts
                if parts[:2] != ("packages", name) or ".." in parts or len(parts) < 3:
                    raise RepositoryError(
                        f"repository {self.name}: {f.path}: outside packages/{name}/; refused"
                    )
                target = staging.joinpath(*parts[2:])
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            final = self.cache / name
            shutil.rmtree(final, ignore_errors=True)
            os.replace(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return load_package(final)


def _open(entry: RepositoryEntry, paths: UniversePaths) -> Repository:
    if urllib.parse.urlparse(entry.location).scheme in ("http", "https"):
        return _HttpMirrorRepository(entry.name, entry.location, paths)
    return _FolderRepository(entry.name, entry.location)


def open_repositories(paths: UniversePaths) -> list[Repository]:
    return [_open(entry, paths) for entry in RepositoryList(paths).all()]


def search(repositories: list[Repository], term: str | None = None) -> list[PackageSummary]:
    """Every package whose name, tags or description contains `term` (all without one)."""
    needle = (term or "").lower()
    found = []
    for repo in repositories:
        for s in repo.summaries():
            text = " ".join([s.name, *s.tags, s.description]).lower()
            if needle in text:
                found.append(s)
    return found


def find_package(repositories: list[Repository], name: str, version: str | None = None) -> Package:
    """The package from the first repository that has it (that version, if given)."""
    known: set[str] = set()
    versions: list[str] = []
    for repo in repositories:
        summaries = repo.summaries()
        known.update(s.name for s in summaries)
        for s in summaries:
            if s.name == name and (version is None or s.version == version):
                package = repo.load(name)
                if package is not None:
                    return package
            elif s.name == name:
                versions.append(s.version)
    if versions:
        listed = ", ".join(sorted(set(versions), key=version_tuple))
        raise RepositoryError(f"package {name!r} has no version {version} (there are: {listed})")
    close = difflib.get_close_matches(name, sorted(known), n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise RepositoryError(f"unknown package {name!r}{hint} (`infinity search` lists them)")
