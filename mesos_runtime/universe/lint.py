"""`infinity package lint DIR`: what a package must pass before it is published — it loads;
its schema is valid, documented and its defaults satisfy it; its templates render with
the defaults into a valid spec; its Maven artifacts are locked; it has a README.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from .lock import LOCK_FILE
from .mirror import artifact_refs
from .options import OptionsError, resolve
from .package import README, SCHEMA, ArtifactKind, Package, PackageError, load_package
from .render import ClusterInfo, RenderError, ServiceIdentity, render_preview, service_name

__all__ = ["LintReport", "lint_package"]

# a fixed uid, so that lint's renders are the same every run
_LINT_UID = "00000000-0000-4000-8000-000000000000"


@dataclasses.dataclass(slots=True)
class LintReport:
    package: str
    errors: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _undocumented(schema: dict[str, Any], path: str = "") -> list[str]:
    missing = []
    for name, sub in (schema.get("properties") or {}).items():
        at = f"{path}.{name}" if path else name
        if not sub.get("description"):
            missing.append(at)
        missing.extend(_undocumented(sub, at))
    return missing


def _without_default(schema: dict[str, Any], path: str = "") -> list[str]:
    missing = []
    for name, sub in (schema.get("properties") or {}).items():
        at = f"{path}.{name}" if path else name
        if sub.get("properties"):
            missing.extend(_without_default(sub, at))
        elif "default" not in sub:
            missing.append(at)
    return missing


def lint_package(root: Path) -> LintReport:
    report = LintReport(package=root.name)
    try:
        package = load_package(root)
    except PackageError as e:
        report.errors.extend(e.errors)
        return report
    report.package = package.name
    if root.resolve().name != package.name:
        report.warnings.append(
            f"folder is {root.resolve().name!r}, the package is {package.name!r}"
        )
    if package.readme is None or not package.readme.strip():
        report.errors.append(f"{README}: missing (say what the package runs and its options)")
    if _lint_schema(package, report):
        _lint_render(package, report)
    _lint_artifacts(package, report)
    return report


def _lint_schema(package: Package, report: LintReport) -> bool:
    """Whether the defaults are valid options (so that the templates can be rendered)."""
    if package.schema.get("type") != "object":
        report.errors.append(f"{SCHEMA}: the top level must be an object of option groups")
    for path in _undocumented(package.schema):
        report.errors.append(f"{SCHEMA}: option {path} has no description")
    for path in _without_default(package.schema):
        report.warnings.append(f"{SCHEMA}: option {path} has no default (users must give it)")
    try:
        resolve(package.schema)
    except OptionsError as e:
        report.errors.extend(f"{SCHEMA}: the defaults break the schema: {m}" for m in e.errors)
        return False
    return True


def _lint_artifacts(package: Package, report: LintReport) -> None:
    for artifact in package.manifest.artifacts:
        if artifact.kind is not ArtifactKind.MAVEN:
            continue
        entry = package.lock.library(artifact.name) if package.lock else None
        assert artifact.maven is not None
        if entry is None:
            report.errors.append(
                f"{LOCK_FILE}: artifact {artifact.name} is not locked "
                f"(`infinity package lock {package.root}`)"
            )
        elif entry.coordinates != artifact.maven.coordinates or entry.scope != artifact.maven.scope:
            report.errors.append(
                f"{LOCK_FILE}: artifact {artifact.name} was locked for other coordinates; re-lock"
            )
        elif not entry.files:
            report.errors.append(f"{LOCK_FILE}: artifact {artifact.name} locks no files")
    names = {a.name for a in package.manifest.artifacts if a.kind is ArtifactKind.MAVEN}
    for lib in package.lock.libraries if package.lock else []:
        if lib.name not in names:
            report.warnings.append(f"{LOCK_FILE}: {lib.name} is locked but not an artifact")


def _lint_render(package: Package, report: LintReport) -> None:
    options = resolve(package.schema)
    service = ServiceIdentity(name=service_name(package, options), uid=_LINT_UID)
    clusters = [ClusterInfo()]
    if any(d.name == "zookeeper" for d in package.manifest.dependencies):
        clusters.append(ClusterInfo(zookeeper="zookeeper-1.invalid:2181"))
    used: set[str] = set()
    for cluster in clusters:
        try:
            rendered, _configs = render_preview(
                package, options, service, artifact_refs(package), cluster
            )
        except RenderError as e:
            where = " (with the cluster's ZooKeeper)" if cluster.zookeeper else ""
            report.errors.extend(f"{m}{where}" for m in e.errors)
            continue
        used.update(c.template for p in rendered.spec.pods for t in p.tasks for c in t.configs)
    if used:
        for unused in sorted(set(package.templates) - used):
            report.warnings.append(f"templates/{unused}: no task uses it with the defaults")
