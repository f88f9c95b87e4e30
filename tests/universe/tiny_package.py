"""A tiny package written on the fly for the universe's tests: one pod, one template,
artifacts given by the test (a URL on a loopback server, a small Maven library, ...). It
runs for real under `infinity-scheduler`: each task shows its rendered config and stays up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "service": {
            "type": "object",
            "description": "The service.",
            "properties": {
                "name": {"type": "string", "description": "Its name.", "default": "tiny"}
            },
        },
        "app": {
            "type": "object",
            "description": "The app pods.",
            "additionalProperties": False,
            "properties": {
                "count": {"type": "integer", "minimum": 1, "description": "Pods.", "default": 2},
                "greeting": {"type": "string", "description": "What it says.", "default": "hi"},
            },
        },
    },
}

SPEC = """name: {{ service.name }}
pods:
  app:
    count: {{ options.app.count }}
    tasks:
      server:
        cmd: cat app.conf && exec sleep 86400
        cpus: 0.1
        memory: 32
        ports: {http: {port: 0}}
        configs:
          conf: {template: app.conf.j2, dest: app.conf}
"""

TEMPLATE = "greeting={{ options.app.greeting }} on {{ task.hostname }}:{{ task.ports.http }}\n"


def make_package(
    root: Path,
    *,
    artifacts: list[dict[str, Any]] | None = None,
    manifest: dict[str, Any] | None = None,
    schema: dict[str, Any] | None = None,
    spec: str = SPEC,
    templates: dict[str, str] | None = None,
    readme: bool = True,
) -> Path:
    """Write a package folder `root` (named after the package) and return it."""
    root.mkdir(parents=True, exist_ok=True)
    doc = {
        "name": root.name,
        "version": "0.1.0-1.0",
        "upstream_version": "1.0",
        "description": "A tiny test package.",
        "tags": ["test"],
        "maintainer": "tests",
        "artifacts": artifacts or [],
    }
    doc.update(manifest or {})
    (root / "package.yml").write_text(yaml.safe_dump(doc))
    (root / "config.schema.json").write_text(json.dumps(schema or SCHEMA, indent=2))
    (root / "service.yml.j2").write_text(spec)
    (root / "templates").mkdir(exist_ok=True)
    for name, text in (templates if templates is not None else {"app.conf.j2": TEMPLATE}).items():
        (root / "templates" / name).write_text(text)
    if readme:
        (root / "README.md").write_text(f"# {root.name}\nA test package.\n")
    return root
