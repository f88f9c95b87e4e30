"""`infinity search` and `infinity describe`: the packages of every repository, and one
package's manifest, options (`--config`), resolved options (`--options F`) and the whole
rendered service spec and config files (`--render`).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from mesos_runtime.universe.mirror import PLACEHOLDER_MIRROR, artifact_refs
from mesos_runtime.universe.options import load_options_file, resolve
from mesos_runtime.universe.package import ArtifactKind, Package
from mesos_runtime.universe.render import (
    ClusterInfo,
    ServiceIdentity,
    render_preview,
    service_name,
)
from mesos_runtime.universe.repository import search as search_packages

from .catalog import JsonOption, find, repositories, schema_rows, universe_errors
from .output import out, print_json, table

__all__ = ["describe", "search"]


def search(
    term: Annotated[str | None, typer.Argument(help="Part of a name, tag or description.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Packages in every repository (the first repository listed wins on install)."""
    with universe_errors():
        found = search_packages(repositories(), term)
    rows = [dataclasses.asdict(s) for s in found]
    if json_output:
        print_json(rows)
        return
    if not rows:
        out.print("no packages" + (f" match {term!r}" if term else ""))
        return
    out.print(
        table(
            None,
            ["NAME", "VERSION", "REPOSITORY", "DESCRIPTION"],
            [
                (r["name"], r["version"], r["repository"], _first_sentence(r["description"]))
                for r in rows
            ],
        )
    )


def _first_sentence(text: str) -> str:
    head = text.split(". ", maxsplit=1)[0].strip()
    return head if len(head) <= 100 else head[:97] + "..."


def _manifest_view(package: Package) -> dict[str, Any]:
    view = package.manifest.to_json()
    for artifact in view.get("artifacts", []):
        entry = package.lock.library(artifact["name"]) if package.lock else None
        if entry is not None:
            artifact["locked_files"] = len(entry.files)
            artifact["packed_sha512"] = entry.packed_sha512
    return view


def describe(
    name: Annotated[str, typer.Argument(help="Package name.")],
    *,
    package_version: Annotated[
        str | None, typer.Option("--package-version", help="A version other than the newest.")
    ] = None,
    config: Annotated[bool, typer.Option("--config", help="Show the package's options.")] = False,
    render: Annotated[
        bool,
        typer.Option("--render", help="Render the whole service spec and every config file."),
    ] = False,
    options_file: Annotated[
        Path | None,
        typer.Option(
            "--options", help="Options file (JSON or YAML) to check, show or render with."
        ),
    ] = None,
    zookeeper: Annotated[
        str | None,
        typer.Option(
            "--zookeeper", help="Render as for a cluster with this ZooKeeper (host:port,...)."
        ),
    ] = None,
    mirror: Annotated[
        str, typer.Option("--mirror", help="Artifact mirror URL to render the URIs with.")
    ] = PLACEHOLDER_MIRROR,
    json_output: JsonOption = False,
) -> None:
    """A package's manifest; or its options, resolved options, or rendered service."""
    package = find(name, package_version)
    with universe_errors():
        given = load_options_file(options_file) if options_file else {}
        options = resolve(package.schema, given) if (render or options_file) else None
    if render:
        assert options is not None
        _describe_render(package, options, zookeeper, mirror, json_output)
    elif options is not None and json_output:
        print_json(options)
    elif options is not None:
        out.print_json(json.dumps(options))
    elif config:
        rows = schema_rows(package.schema)
        if json_output:
            print_json(package.schema)
            return
        out.print(
            table(
                f"{package.name} {package.version} options",
                ["OPTION", "TYPE", "DEFAULT", "DESCRIPTION"],
                [
                    (r["option"], r["type"], json.dumps(r["default"]), r["description"])
                    for r in rows
                ],
            )
        )
    elif json_output:
        print_json(_manifest_view(package))
    else:
        _print_manifest(package)


def _describe_render(
    package: Package,
    options: dict[str, Any],
    zookeeper: str | None,
    mirror: str,
    json_output: bool,
) -> None:
    service = ServiceIdentity(name=service_name(package, options), uid=str(uuid.uuid4()))
    with universe_errors():
        rendered, configs = render_preview(
            package,
            options,
            service,
            artifact_refs(package, mirror),
            ClusterInfo(zookeeper=zookeeper),
        )
    if json_output:
        print_json({"options": options, "service_spec": rendered.text, "configs": configs})
        return
    out.print(
        f"# service.yml ({package.name} {package.version}; "
        "hosts and dynamic ports below are stand-ins)",
        markup=False,
    )
    out.print(rendered.text, markup=False, highlight=False)
    for task, files in configs.items():
        for dest, text in files.items():
            out.print(f"# {task}: {dest}", markup=False)
            out.print(text, markup=False, highlight=False)


def _print_manifest(package: Package) -> None:
    m = package.manifest
    out.print(f"[bold]{m.name}[/] {m.version} (upstream {m.upstream_version})")
    out.print(m.description, markup=False)
    facts = [
        ("tags", ", ".join(m.tags)),
        ("maintainer", m.maintainer),
        ("website", m.website),
        ("needs runtime", m.minimum_runtime_version and f">= {m.minimum_runtime_version}"),
    ]
    for label, value in facts:
        if value:
            out.print(f"{label}: {value}", markup=False)
    for dep in m.dependencies:
        kind = "optional" if dep.optional else "required"
        out.print(f"depends on {dep.name} ({kind}): {dep.description or ''}", markup=False)
    rows = []
    for artifact in m.artifacts:
        if artifact.kind is ArtifactKind.MAVEN:
            assert artifact.maven is not None
            entry = package.lock.library(artifact.name) if package.lock else None
            locked = f"{len(entry.files)} files locked" if entry else "NOT LOCKED"
            rows.append((artifact.name, "maven", "\n".join(artifact.maven.coordinates), locked))
        else:
            source = artifact.pypi or artifact.url or ""
            rows.append(
                (
                    artifact.name,
                    artifact.kind.value,
                    source,
                    f"sha512 {(artifact.sha512 or '')[:16]}…",
                )
            )
    out.print(table("artifacts", ["NAME", "KIND", "SOURCE", "VERIFIED BY"], rows))
    for label, note in (
        ("before installing", m.pre_install_notes),
        ("after installing", m.post_install_notes),
    ):
        if note:
            out.print(f"{label}: {note}", markup=False)
