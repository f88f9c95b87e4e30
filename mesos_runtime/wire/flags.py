"""Mesos-style command-line flags: `--name=value`, `MESOS_NAME` environment variables,
`file://` values, a `--config` file, Mesos durations (`500ms`, `4secs`, `1mins`) and byte
sizes (`512MB`).

A daemon declares its flags once as a dataclass whose fields carry `flag(help=...)`;
`parse_flags` fills it from (lowest to highest precedence) defaults, the config file,
the environment and the command line, and reports an unknown or malformed flag by name.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "Bytes",
    "Duration",
    "FlagError",
    "HelpRequested",
    "Port",
    "flag",
    "parse_bytes",
    "parse_duration",
    "parse_flags",
    "usage",
]


class FlagError(ValueError):
    """A flag that is unknown or whose value does not parse."""


class HelpRequested(FlagError):
    """`--help`: the message is the usage text (print it on stdout and exit 0)."""


class Duration(float):
    """Seconds, parsed from and printed in Mesos' duration syntax."""

    def __str__(self) -> str:
        return format_duration(self)


class Bytes(int):
    """Bytes, parsed from Mesos' size syntax (`512MB`, `1GB`)."""


class Port(int):
    """A TCP port, 0-65535 (0: any free one), refused by name otherwise rather than by
    `bind()` failing deep in start-up."""


def parse_port(text: str) -> Port:
    port = int(text)
    if not 0 <= port <= 65535:
        raise FlagError(f"port {text!r} is out of range (0-65535)")
    return Port(port)


_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ns|us|ms|secs|mins|hrs|days|weeks)\s*$")
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "ms": 1e-3,
    "secs": 1.0,
    "mins": 60.0,
    "hrs": 3600.0,
    "days": 86400.0,
    "weeks": 604800.0,
}


# what fits Mesos' Duration (int64 nanoseconds)
MAX_DURATION = 9.2e9


def parse_duration(text: str) -> Duration:
    match = _DURATION.match(text)
    if not match:
        raise FlagError(f"invalid duration {text!r} (use e.g. 500ms, 4secs, 1mins, 2hrs)")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not seconds <= MAX_DURATION:  # also refuses inf (a long string of digits)
        raise FlagError(f"duration {text!r} is too long (at most about 292 years)")
    return Duration(seconds)


def format_duration(seconds: float) -> str:
    for unit in ("weeks", "days", "hrs", "mins", "secs", "ms", "us"):
        scaled = seconds / _UNITS[unit]
        if scaled >= 1 and abs(scaled - round(scaled, 3)) < 1e-9:
            return f"{round(scaled, 3):g}{unit}"
    return f"{seconds * 1e9:g}ns"


_BYTES = re.compile(r"^\s*([0-9]+)\s*(B|KB|MB|GB|TB)?\s*$")
_BYTE_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


def parse_bytes(text: str) -> Bytes:
    match = _BYTES.match(text)
    if not match:
        raise FlagError(f"invalid size {text!r} (use e.g. 512MB, 1GB)")
    return Bytes(int(match.group(1)) * _BYTE_UNITS[match.group(2) or "B"])


def flag(default: Any = None, *, help: str) -> Any:  # noqa: A002 - mirrors argparse
    return dataclasses.field(default=default, metadata={"help": help})


F = TypeVar("F")


def _convert(name: str, hint: Any, raw: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, __import__("types").UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0]
    if not isinstance(raw, str):
        raw = str(raw).lower() if isinstance(raw, bool) else str(raw)
    if raw.startswith("file://"):
        # Mesos reads a flag's value from a file when given as file:///path
        raw = Path(raw[len("file://") :]).read_text().strip()
    try:
        if hint is bool:
            lowered = raw.lower()
            if lowered in ("true", "1", "yes", ""):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise FlagError(f"expected true or false, got {raw!r}")
        if hint is Duration:
            return parse_duration(raw)
        if hint is Bytes:
            return parse_bytes(raw)
        if hint is Port:
            return parse_port(raw)
        if hint is int:
            return int(raw)
        if hint is float:
            number = float(raw)
            if number - number != 0.0:
                raise FlagError(f"expected a finite number, got {raw!r}")
            return number
        return raw
    except (FlagError, ValueError) as e:
        raise FlagError(f"flag --{name}: {e}") from None


def parse_flags(
    kind: type[F],
    argv: Sequence[str],
    environ: Mapping[str, str] | None = None,
    prefix: str = "MESOS_",
) -> F:
    """Build `kind` from a config file, `MESOS_*` variables and `--flags` (that order)."""
    environ = os.environ if environ is None else environ
    hints = typing.get_type_hints(kind)
    fields = {f.name: f for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}

    cli: dict[str, str] = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if not arg.startswith("--"):
            raise FlagError(f"unexpected argument {arg!r} (flags look like --name=value)")
        name, eq, value = arg[2:].partition("=")
        if name == "help" and "help" not in fields:
            raise HelpRequested(usage(kind))
        if not eq:
            # Mesos' boolean forms: --name (true), --no-name (false), --name=true|false
            if name.startswith("no-") and name[3:] in fields and _is_bool(hints[name[3:]]):
                name, value = name[3:], "false"
            elif name in fields and _is_bool(hints[name]):
                value = "true"
            elif name not in fields and name != "config":
                raise FlagError(f"unknown flag --{name}")
            elif args and not args[0].startswith("--"):
                value = args.pop(0)
            else:
                raise FlagError(f"flag --{name} needs a value")
        cli[name] = value

    config_path = cli.get("config") or environ.get(prefix + "CONFIG")
    if config_path:
        values.update(_read_config(config_path))
    for name in fields:
        env_value = environ.get(prefix + name.upper())
        if env_value is not None:
            values[name] = env_value
    values.update(cli)

    kwargs: dict[str, Any] = {}
    for name, raw in values.items():
        if name == "config" and "config" not in fields:
            continue
        if name not in fields:
            raise FlagError(f"unknown flag --{name}")
        kwargs[name] = _convert(name, hints[name], raw)
    return kind(**kwargs)


def _is_bool(hint: Any) -> bool:
    return hint is bool or (
        typing.get_origin(hint) in (typing.Union, __import__("types").UnionType)
        and bool in typing.get_args(hint)
    )


def _read_config(path: str) -> dict[str, Any]:
    """A config file: JSON or YAML mapping, or `name=value` lines, of flag names."""
    text = Path(path).read_text()
    if text.lstrip().startswith("{"):
        data = json.loads(text)
    else:
        try:
            import yaml

            data = yaml.safe_load(text)
        except Exception:  # noqa: BLE001 - fall through to key=value lines
            data = None
        if not isinstance(data, dict):
            data = {}
            for raw_line in text.splitlines():
                line = raw_line.strip()
                if line and not line.startswith("#"):
                    key, _, value = line.partition("=")
                    data[key.strip().removeprefix("--")] = value.strip()
    if not isinstance(data, dict):
        raise FlagError(f"config file {path}: expected a mapping of flag names to values")
    return {str(k).removeprefix("--"): v for k, v in data.items()}


def usage(kind: type) -> str:
    lines = ["Flags (also MESOS_<NAME> environment variables or --config=FILE):"]
    for f in dataclasses.fields(kind):
        default = "" if f.default is None else f" (default: {f.default})"
        lines.append(f"  --{f.name:<32} {f.metadata.get('help', '')}{default}")
    return "\n".join(lines)


def as_dict(flags: Any) -> dict[str, str]:
    """Flags as Mesos' GET_FLAGS / `/flags` report them: every value a string."""
    out = {}
    for f in dataclasses.fields(flags):
        value = getattr(flags, f.name)
        if value is None:
            continue
        out[f.name] = str(value).lower() if isinstance(value, bool) else str(value)
    return out
