"""Typed records with protobuf's JSON mapping, the way Mesos' v1 HTTP API speaks it.

A record is a slotted dataclass whose field names are the proto field names. Decoding
ignores unknown fields (clients send legacy extras), reports a missing required field by
its path, base64-decodes `bytes` fields and accepts int64s given as strings. Encoding
omits unset fields, as protobuf does.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from typing import Any, Self, TypeVar

__all__ = ["Record", "WireError", "record", "repeated", "required"]


class WireError(ValueError):
    """A request or message that does not decode: the message says what to change."""


T = TypeVar("T", bound="Record")

_Decoder = Callable[[Any, str], Any]
_Encoder = Callable[[Any], Any]


def record(cls: type[T] | None = None, *, frozen: bool = False) -> Any:
    """Declare a record: a keyword-only slotted dataclass with the JSON mapping."""

    def wrap(c: type[T]) -> type[T]:
        return dataclasses.dataclass(slots=True, kw_only=True, frozen=frozen, eq=True)(c)

    return wrap(cls) if cls is not None else wrap


def repeated() -> Any:
    """A repeated field: an empty list by default."""
    return dataclasses.field(default_factory=list)


def required() -> Any:
    """Mark a field required (no default): decoding fails with its path when absent."""
    return dataclasses.field()


class Record:
    """Base of every wire record; subclasses are declared with `@record`."""

    __slots__ = ()

    @classmethod
    def _fields(cls) -> tuple[tuple[str, _Decoder, _Encoder, bool], ...]:
        codec = cls.__dict__.get("_codec_cache")
        if codec is None:
            hints = typing.get_type_hints(cls)
            entries = []
            for f in dataclasses.fields(cls):  # type: ignore[arg-type]
                dec, enc = _codec_for(hints[f.name])
                is_required = (
                    f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                )
                entries.append((f.name, dec, enc, is_required))
            codec = tuple(entries)
            type.__setattr__(cls, "_codec_cache", codec)
        return codec

    @classmethod
    def from_json(cls, obj: Any, path: str = "") -> Self:
        """Decode a JSON value (already parsed) into this record, or raise WireError."""
        if not isinstance(obj, dict):
            raise WireError(f"{path or cls.__name__}: expected a JSON object")
        prefix = f"{path}." if path else ""
        kwargs: dict[str, Any] = {}
        for name, dec, _enc, is_required in cls._fields():
            value = obj.get(name)
            if value is None:
                if is_required:
                    raise WireError(f"missing required field '{prefix}{name}'")
                continue
            kwargs[name] = dec(value, prefix + name)
        return cls(**kwargs)

    def to_json(self) -> dict[str, Any]:
        """Encode to a JSON-ready dict, omitting unset fields and empty lists."""
        out: dict[str, Any] = {}
        for name, _dec, enc, _req in type(self)._fields():
            value = getattr(self, name)
            if value is None or (isinstance(value, list) and not value):
                continue
            out[name] = enc(value)
        return out

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


# --- codecs per field type -------------------------------------------------------------


def _identity(value: Any) -> Any:
    return value


def _decode_str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise WireError(f"field '{path}' must be a string")
    return value


def _decode_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise WireError(f"field '{path}' must be true or false")
    return value


def _decode_int(value: Any, path: str) -> int:
    # protobuf's JSON mapping writes 64-bit integers as strings
    if isinstance(value, bool):
        raise WireError(f"field '{path}' must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise WireError(f"field '{path}' must be an integer")


def _decode_float(value: Any, path: str) -> float:
    if isinstance(value, bool):
        raise WireError(f"field '{path}' must be a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise WireError(f"field '{path}' must be a number")


def _decode_bytes(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise WireError(f"field '{path}' must be a base64 string")
    try:
        return base64.b64decode(
            value + "=" * (-len(value) % 4), altchars=_altchars(value), validate=True
        )
    except (binascii.Error, ValueError):
        raise WireError(f"field '{path}' is not valid base64") from None


def _altchars(value: str) -> bytes | None:
    # protobuf parsers accept the URL-safe alphabet too
    return b"-_" if ("-" in value or "_" in value) else None


def _encode_bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _decode_json_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(f"field '{path}' must be a JSON object")
    return value


def _enum_codec(kind: type[enum.Enum]) -> tuple[_Decoder, _Encoder]:
    members = {m.value: m for m in kind}

    def decode(value: Any, path: str) -> enum.Enum:
        member = members.get(value)
        if member is None:
            raise WireError(f"field '{path}' has unknown value {value!r}")
        return member

    return decode, lambda m: m.value


def _list_codec(item: Any) -> tuple[_Decoder, _Encoder]:
    dec, enc = _codec_for(item)

    def decode(value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise WireError(f"field '{path}' must be a list")
        return [dec(v, f"{path}[{i}]") for i, v in enumerate(value)]

    if enc is _identity:
        return decode, list
    return decode, lambda values: [enc(v) for v in values]


def _codec_for(hint: Any) -> tuple[_Decoder, _Encoder]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _codec_for(args[0])
    if origin is list:
        return _list_codec(typing.get_args(hint)[0])
    if origin is dict or hint is dict:
        return _decode_json_object, _identity
    if hint is typing.Any:
        return (lambda v, p: v), _identity
    if isinstance(hint, type):
        if issubclass(hint, Record):
            return hint.from_json, lambda r: r.to_json()
        if issubclass(hint, enum.Enum):
            return _enum_codec(hint)
        if hint is bool:
            return _decode_bool, _identity
        if hint is int:
            return _decode_int, _identity
        if hint is float:
            return _decode_float, _identity
        if hint is str:
            return _decode_str, _identity
        if hint is bytes:
            return _decode_bytes, _encode_bytes
    raise TypeError(f"no JSON mapping for field type {hint!r}")
