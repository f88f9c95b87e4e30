"""A package folder: `package.yml` (name, `<package>-<upstream>` version, notes, optional
dependencies, artifacts) as typed records, `config.schema.json`, `service.yml.j2`,
`templates/`, the artifact lock and a README; loaded and checked at the edge.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mesos_runtime import __version__ as RUNTIME_VERSION
from mesos_runtime.sdk.spec import Problems, error_path
from mesos_runtime.wire.record import Record, record, repeated, required

from .lock import LOCK_FILE, ArtifactLock, LockError

__all__ = [
    "ArtifactKind",
    "ArtifactSpec",
    "Dependency",
    "MavenLibrary",
    "Package",
    "PackageError",
    "PackageManifest",
    "load_package",
    "version_tuple",
]

MANIFEST = "package.yml"
SCHEMA = "config.schema.json"
SPEC_TEMPLATE = "service.yml.j2"
TEMPLATES = "templates"
README = "README.md"

_NAME = r"^[a-z][a-z0-9-]{0,62}$"
_COORDINATE = r"^[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+){1,3}$"
_FILE = r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,254}$"
_SHA512 = r"^[0-9a-f]{128}$"
_VERSION = r"^[0-9]+(\.[0-9]+){1,3}$"


def _any_of(*keys: str) -> dict[str, Any]:
    return {"anyOf": [{"required": [k]} for k in keys]}


KNOWN_DEPENDENCIES = {"zookeeper": "the cluster's ZooKeeper ensemble"}

_MANIFEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "version", "upstream_version", "description", "maintainer", "artifacts"],
    "properties": {
        "name": {"type": "string", "pattern": _NAME},
        "version": {"type": "string", "maxLength": 64},
        "upstream_version": {"type": "string", "pattern": r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,40}$"},
        "description": {"type": "string", "minLength": 1, "maxLength": 2000},
        "tags": {"type": "array", "items": {"type": "string", "pattern": _NAME}, "maxItems": 32},
        "maintainer": {"type": "string", "minLength": 1, "maxLength": 200},
        "website": {"type": "string", "maxLength": 500},
        "minimum_runtime_version": {"type": "string", "pattern": _VERSION},
        "pre_install_notes": {"type": "string", "maxLength": 5000},
        "post_install_notes": {"type": "string", "maxLength": 5000},
        "dependencies": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"enum": sorted(KNOWN_DEPENDENCIES)},
                    "optional": {"type": "boolean"},
                    "description": {"type": "string", "maxLength": 500},
                },
            },
        },
        "artifacts": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": _NAME},
                    "description": {"type": "string", "maxLength": 500},
                    "url": {"type": "string", "pattern": r"^(https?|file)://", "maxLength": 4096},
                    "pypi": {
                        "type": "string",
                        "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*==[0-9A-Za-z.+_-]+$",
                    },
                    "file": {"type": "string", "pattern": _FILE},
                    "sha512": {"type": "string", "pattern": _SHA512},
                    "extract": {"type": "boolean"},
                    "maven": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["coordinates"],
                        "properties": {
                            "coordinates": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"type": "string", "pattern": _COORDINATE},
                            },
                            "scope": {"enum": ["compile", "runtime"]},
                        },
                    },
                },
                # exactly one source; a URL or PyPI file carries its sha512
                "oneOf": [
                    {"required": ["url", "sha512"], "not": _any_of("pypi", "maven")},
                    {"required": ["pypi", "file", "sha512"], "not": _any_of("url", "maven")},
                    {"required": ["maven"], "not": _any_of("url", "pypi", "sha512")},
                ],
            },
        },
    },
}


class PackageError(Problems):
    """A package that cannot be loaded, each problem naming its file and path."""


class ArtifactKind(enum.Enum):
    URL = "url"  # a file at a URL, with its sha512 (an upstream release)
    PYPI = "pypi"  # a file of a PyPI release (an sdist), fetched by pip, with its sha512
    MAVEN = "maven"  # Maven coordinates resolved with their dependencies, locked per file


@record(frozen=True)
class MavenLibrary(Record):
    coordinates: list[str] = repeated()
    scope: str = "runtime"


@record(frozen=True)
class ArtifactSpec(Record):
    name: str = required()
    description: str | None = None
    url: str | None = None
    pypi: str | None = None
    file: str | None = None
    sha512: str | None = None
    extract: bool = False
    maven: MavenLibrary | None = None

    @property
    def kind(self) -> ArtifactKind:
        if self.maven is not None:
            return ArtifactKind.MAVEN
        return ArtifactKind.PYPI if self.pypi else ArtifactKind.URL

    def file_name(self, package: str, version: str) -> str:
        """The artifact's file in the mirror (a Maven library is packed as a tar)."""
        if self.maven is not None:
            return f"{package}-{self.name}-{version}.tar"
        if self.file:
            return self.file
        assert self.url is not None
        return self.url.rstrip("/").rsplit("/", 1)[-1]


@record(frozen=True)
class Dependency(Record):
    name: str = required()
    optional: bool = False
    description: str | None = None


@record(frozen=True)
class PackageManifest(Record):
    name: str = required()
    version: str = required()
    upstream_version: str = required()
    description: str = required()
    tags: list[str] = repeated()
    maintainer: str = required()
    website: str | None = None
    minimum_runtime_version: str | None = None
    pre_install_notes: str | None = None
    post_install_notes: str | None = None
    dependencies: list[Dependency] = repeated()
    artifacts: list[ArtifactSpec] = repeated()

    def artifact(self, name: str) -> ArtifactSpec:
        for artifact in self.artifacts:
            if artifact.name == name:
                return artifact
        raise KeyError(name)


@dataclasses.dataclass(frozen=True, slots=True)
class Package:
    """A loaded package: its manifest and the texts of its files."""

    root: Path
    manifest: PackageManifest
    schema: dict[str, Any]
    spec_template: str
    templates: dict[str, str]  # file name under templates/ -> text
    readme: str | None
    lock: ArtifactLock | None

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    def files(self) -> list[Path]:
        """Every file of the definition (what a mirror copies), relative to the root."""
        return sorted(
            p.relative_to(self.root)
            for p in self.root.rglob("*")
            if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(self.root).parts)
        )


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("-", 1)[0]))


def _read(root: Path, name: str, errors: list[str]) -> str | None:
    path = root / name
    if not path.is_file():
        errors.append(f"{name}: missing")
        return None
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        errors.append(f"{name}: cannot read ({e})")
        return None


def _manifest(doc: Any, errors: list[str]) -> PackageManifest | None:
    validator = jsonschema.Draft202012Validator(_MANIFEST_SCHEMA)
    found = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path)))
    for e in found:
        message = e.message
        if e.validator == "oneOf":
            message = "give exactly one of: url + sha512, pypi + file + sha512, or maven"
        errors.append(f"{MANIFEST}: {error_path(e)}: {message}")
    if found:
        return None
    manifest = PackageManifest.from_json(doc)
    version, upstream = manifest.version, manifest.upstream_version
    if not re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+-" + re.escape(upstream), version):
        errors.append(
            f"{MANIFEST}: version: {version!r} is not '<package>-<upstream>' "
            f"(e.g. '1.0.0-{upstream}')"
        )
    names = [a.name for a in manifest.artifacts]
    for name in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"{MANIFEST}: artifacts: {name!r} appears twice")
    wanted = manifest.minimum_runtime_version
    if wanted and version_tuple(wanted) > version_tuple(RUNTIME_VERSION):
        errors.append(
            f"{MANIFEST}: minimum_runtime_version: needs runtime {wanted}, "
            f"this is {RUNTIME_VERSION}"
        )
    return manifest


def load_package(root: Path) -> Package:
    """Load and check a package folder, or raise PackageError listing every problem."""
    errors: list[str] = []
    if not (root / MANIFEST).is_file():
        raise PackageError([f"{root}: not a package (no {MANIFEST})"])
    manifest_text = _read(root, MANIFEST, errors)
    manifest = None
    if manifest_text is not None:
        try:
            manifest = _manifest(yaml.safe_load(manifest_text), errors)
        except yaml.YAMLError as e:
            errors.append(f"{MANIFEST}: not valid YAML: {e}")
    schema: dict[str, Any] = {}
    schema_text = _read(root, SCHEMA, errors)
    if schema_text is not None:
        try:
            schema = json.loads(schema_text)
            jsonschema.Draft202012Validator.check_schema(schema)
        except ValueError as e:
            errors.append(f"{SCHEMA}: not valid JSON: {e}")
        except jsonschema.SchemaError as e:
            errors.append(f"{SCHEMA}: not a valid JSON Schema: {error_path(e)}: {e.message}")
    spec_template = _read(root, SPEC_TEMPLATE, errors)
    templates: dict[str, str] = {}
    template_dir = root / TEMPLATES
    if template_dir.is_dir():
        for path in sorted(template_dir.iterdir()):
            if path.is_file():
                text = _read(template_dir, path.name, errors)
                if text is not None:
                    templates[path.name] = text
    readme_path = root / README
    readme = readme_path.read_text() if readme_path.is_file() else None
    lock = None
    try:
        lock = ArtifactLock.load(root / LOCK_FILE)
    except LockError as e:
        errors.append(str(e))
    if errors or manifest is None or spec_template is None:
        raise PackageError(errors)
    return Package(
        root=root,
        manifest=manifest,
        schema=schema,
        spec_template=spec_template,
        templates=templates,
        readme=readme,
        lock=lock,
    )
