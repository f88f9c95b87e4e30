"""The service spec's shape as a JSON Schema: what `spec.parse_spec` checks before it
builds records, so that a structural mistake is reported with its path and the rule.
Key spellings are the Mesosphere SDK's (`readiness-check`, `env-key`, ...).
"""

from __future__ import annotations

from typing import Any

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
ENV_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"

_name: dict[str, Any] = {"type": "string", "pattern": NAME_PATTERN}
_seconds: dict[str, Any] = {"type": "number", "minimum": 0, "maximum": 86400}
_positive_seconds: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0, "maximum": 86400}
_cmd: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 65536}

_volume: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path", "size"],
    "properties": {
        "path": {"type": "string", "minLength": 1, "maxLength": 255},
        "type": {"enum": ["ROOT", "MOUNT"]},
        "size": {"type": "integer", "minimum": 1},
    },
}

_port: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "port": {"type": "integer", "minimum": 0, "maximum": 65535},
        "env-key": {"type": "string", "pattern": ENV_KEY_PATTERN},
        "advertise": {"type": "boolean"},
    },
}

_health_check: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["cmd"],
    "properties": {
        "cmd": _cmd,
        "interval": _positive_seconds,
        "delay": _seconds,
        "timeout": _positive_seconds,
        "grace-period": _seconds,
        "max-consecutive-failures": {"type": "integer", "minimum": 1, "maximum": 1000},
    },
}

_readiness_check: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["cmd"],
    "properties": {
        "cmd": _cmd,
        "interval": _positive_seconds,
        "delay": _seconds,
        "timeout": _positive_seconds,
    },
}

_uri: dict[str, Any] = {
    "oneOf": [
        {"type": "string", "minLength": 1, "maxLength": 4096},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["uri"],
            "properties": {
                "uri": {"type": "string", "minLength": 1, "maxLength": 4096},
                "checksum": {"type": "string", "pattern": r"^(sha256|sha512):[0-9a-f]+$"},
                "extract": {"type": "boolean"},
                "cache": {"type": "boolean"},
                "executable": {"type": "boolean"},
                "output-file": {"type": "string", "minLength": 1, "maxLength": 255},
            },
        },
    ]
}

_task: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["cmd", "cpus", "memory"],
    "properties": {
        "goal": {"enum": ["RUNNING", "FINISH", "ONCE"]},
        "cmd": _cmd,
        "cpus": {"type": "number", "exclusiveMinimum": 0, "maximum": 1024},
        "memory": {"type": "number", "exclusiveMinimum": 0, "maximum": 16777216},
        "disk": {"type": "number", "minimum": 0},
        "ports": {"type": "object", "propertyNames": _name, "additionalProperties": _port},
        "env": {
            "type": "object",
            "propertyNames": {"pattern": ENV_KEY_PATTERN},
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        },
        "configs": {
            "type": "object",
            "propertyNames": _name,
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["template", "dest"],
                "properties": {
                    "template": {"type": "string", "minLength": 1, "maxLength": 255},
                    "dest": {"type": "string", "minLength": 1, "maxLength": 255},
                },
            },
        },
        "volume": _volume,
        "volumes": {"type": "object", "propertyNames": _name, "additionalProperties": _volume},
        "health-check": _health_check,
        "readiness-check": _readiness_check,
        "kill-grace-period": _seconds,
        "essential": {"type": "boolean"},
    },
}

_placement: dict[str, Any] = {
    "oneOf": [
        {"type": "string", "maxLength": 4096},
        {
            "type": "array",
            "maxItems": 64,
            "items": {
                "type": "array",
                "minItems": 2,
                "maxItems": 3,
                "items": {"type": "string", "maxLength": 1024},
            },
        },
    ]
}

_pod: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["count", "tasks"],
    "properties": {
        "count": {"type": "integer", "minimum": 1, "maximum": 10000},
        "placement": _placement,
        "uris": {"type": "array", "maxItems": 256, "items": _uri},
        "user": {"type": "string", "minLength": 1, "maxLength": 64},
        "volume": _volume,
        "volumes": {"type": "object", "propertyNames": _name, "additionalProperties": _volume},
        "replacement-failure-policy": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "permanent-failure-timeout-secs": _seconds,
                "min-replace-delay-secs": _seconds,
            },
        },
        "tasks": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": _name,
            "additionalProperties": _task,
        },
    },
}

_strategy: dict[str, Any] = {"enum": ["serial", "parallel"]}

_phase: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["pod"],
    "properties": {
        "strategy": _strategy,
        "pod": _name,
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "propertyNames": {"pattern": r"^(default|[0-9]{1,5})$"},
                "additionalProperties": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "array", "minItems": 1, "items": _name},
                },
            },
        },
    },
}

_plan: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["phases"],
    "properties": {
        "strategy": _strategy,
        "phases": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": _name,
            "additionalProperties": _phase,
        },
    },
}

SPEC_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "pods"],
    "properties": {
        "name": _name,
        "scheduler": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "principal": {"type": "string", "minLength": 1, "maxLength": 255},
                "user": {"type": "string", "minLength": 1, "maxLength": 64},
                "role": {"type": "string", "minLength": 1, "maxLength": 255},
            },
        },
        "pods": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": _name,
            "additionalProperties": _pod,
        },
        "plans": {"type": "object", "propertyNames": _name, "additionalProperties": _plan},
    },
}
