"""A service's options: the package's JSON Schema defaults, layered with the user's options
(and, on `update`, with the stored ones), then validated; an error names the option's path
and the rule it breaks, as in `brokers.count: 'three' is not of type 'integer'`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mesos_runtime.sdk.spec import Problems, error_path

__all__ = [
    "OptionsError",
    "defaults",
    "load_options_file",
    "merge",
    "resolve",
    "update_options",
    "validate",
]


class OptionsError(Problems):
    """Options that break the schema, each problem naming its option path."""


def defaults(schema: dict[str, Any]) -> Any:
    """The document of every default in the schema, nested objects included."""
    value = copy.deepcopy(schema.get("default"))
    properties = schema.get("properties")
    if schema.get("type") == "object" or properties:
        nested = {
            name: sub
            for name, sub in ((n, defaults(s)) for n, s in (properties or {}).items())
            if sub is not None
        }
        if isinstance(value, dict):
            return merge(nested, value)
        return nested if value is None else value
    return value


def merge(base: Any, override: Any) -> Any:
    """`override` on top of `base`: objects merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(override)


def validate(schema: dict[str, Any], options: Any) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    found = sorted(validator.iter_errors(options), key=lambda e: list(map(str, e.path)))
    if found:
        raise OptionsError([f"{error_path(e)}: {e.message}" for e in found])


def resolve(schema: dict[str, Any], *layers: dict[str, Any]) -> dict[str, Any]:
    """Defaults, then each layer on top, validated: the options a service runs with."""
    options = defaults(schema)
    if not isinstance(options, dict):
        options = {}
    for layer in layers:
        options = merge(options, layer)
    validate(schema, options)
    return options


def update_options(
    schema: dict[str, Any], stored: dict[str, Any], given: dict[str, Any], replace: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the user's options to store, the resolved options) for an update: `given` on top
    of the stored user options, or on the defaults alone with `replace`."""
    user = copy.deepcopy(given) if replace else merge(stored, given)
    return user, resolve(schema, user)


def load_options_file(path: Path) -> dict[str, Any]:
    """An options file (JSON or YAML) holding one object."""
    try:
        text = path.read_text()
    except OSError as e:
        raise OptionsError([f"{path}: cannot read ({e.strerror or e})"]) from None
    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise OptionsError(
            [f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {e}"]
        ) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise OptionsError(
            [f"{path}: options are an object of option groups, not {type(doc).__name__}"]
        )
    return doc
