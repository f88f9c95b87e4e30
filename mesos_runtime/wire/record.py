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
        own = {name for name in ("to_json", "from_json") if name in c.__dict__}
        made = dataclasses.dataclass(slots=True, kw_only=True, frozen=frozen, eq=True)(c)
        _install_lazy_codec(made, own)
        return made

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


# --- compiled codecs ----------------------------------------------------------------------
# Every @record class gets its own to_json/from_json, generated (on first use, when its
# forward references resolve) as straight-line code per field: the generic methods above
# walk a codec table per value, and records are encoded/decoded on every call and event.


def _install_lazy_codec(cls: type, own: set[str]) -> None:
    if "to_json" not in own:

        def to_json(self: Any) -> dict[str, Any]:
            return _compile(cls)[0](self)

        type.__setattr__(cls, "to_json", to_json)
    if "from_json" not in own:

        def from_json(c: Any, obj: Any, path: str = "") -> Any:
            if c is not cls:  # a subclass that is not a @record itself
                return Record.from_json.__func__(c, obj, path)  # type: ignore[attr-defined]
            return _compile(cls)[1](c, obj, path)

        type.__setattr__(cls, "from_json", classmethod(from_json))


_IDENTITY_TYPES = (str, bool, int, float)


def _compile(cls: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Generate, install and return `cls`'s (to_json, from_json)."""
    hints = typing.get_type_hints(cls)
    ns: dict[str, Any] = {
        "WireError": WireError,
        "_eb": _encode_bytes,
        "_dstr": _decode_str,
        "_dbool": _decode_bool,
        "_dint": _decode_int,
        "_dfloat": _decode_float,
        "_list": list,
        "_isinstance": isinstance,
        "_enumerate": enumerate,
    }
    enc = ["def to_json(self):", "    out = {}"]
    dec = [
        "def from_json(cls, obj, path=''):",
        "    if obj.__class__ is not dict and not _isinstance(obj, dict):",
        '        raise WireError(f"{path or cls.__name__}: expected a JSON object")',
        "    prefix = path + '.' if path else ''",
        "    get = obj.get",
        "    kw = {}",
    ]
    for i, f in enumerate(dataclasses.fields(cls)):
        name = f.name
        hint = _strip_optional(hints[name])
        dfn, efn = _codec_for(hint)
        ns[f"_d{i}"], ns[f"_e{i}"] = dfn, efn
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        # encoding
        enc.append(f"    v = self.{name}")
        origin = typing.get_origin(hint)
        if origin is list:
            item = _strip_optional(typing.get_args(hint)[0])
            enc.append("    if v is not None and (v.__class__ is not _list or v):")
            if isinstance(item, type) and issubclass(item, Record):
                enc.append(f"        out[{name!r}] = [x.to_json() for x in v]")
            elif isinstance(item, type) and issubclass(item, enum.Enum):
                enc.append(f"        out[{name!r}] = [x.value for x in v]")
            else:
                enc.append(f"        out[{name!r}] = _e{i}(v)")
        elif hint is typing.Any:
            enc.append("    if v is not None and not (_isinstance(v, _list) and not v):")
            enc.append(f"        out[{name!r}] = v")
        elif isinstance(hint, type) and issubclass(hint, Record):
            enc.append(f"    if v is not None: out[{name!r}] = v.to_json()")
        elif isinstance(hint, type) and issubclass(hint, enum.Enum):
            enc.append(f"    if v is not None: out[{name!r}] = v.value")
        elif hint is bytes:
            enc.append(f"    if v is not None: out[{name!r}] = _eb(v)")
        else:
            enc.append("    if v is not None and not (v.__class__ is _list and not v):")
            enc.append(f"        out[{name!r}] = _e{i}(v)")
        # decoding
        dec.append(f"    v = get({name!r})")
        dec.append("    if v is None:")
        if required:
            dec.append(
                f'        raise WireError("missing required field \'" + prefix + {name!r} + "\'")'
            )
        else:
            dec.append("        pass")
        if isinstance(hint, type) and issubclass(hint, Record):
            ns[f"_c{i}"] = hint
            dec.append(f"    else: kw[{name!r}] = _c{i}.from_json(v, prefix + {name!r})")
        elif isinstance(hint, type) and issubclass(hint, enum.Enum):
            ns[f"_m{i}"] = {m.value: m for m in hint}
            dec.append(f"    elif v.__class__ is str and v in _m{i}: kw[{name!r}] = _m{i}[v]")
            dec.append(f"    else: kw[{name!r}] = _d{i}(v, prefix + {name!r})")
        elif hint in _IDENTITY_TYPES:
            check = "v is True or v is False" if hint is bool else f"v.__class__ is {hint.__name__}"
            dec.append(f"    elif {check}: kw[{name!r}] = v")
            dec.append(f"    else: kw[{name!r}] = _d{i}(v, prefix + {name!r})")
        elif origin is list and _is_record(_strip_optional(typing.get_args(hint)[0])):
            ns[f"_c{i}"] = _strip_optional(typing.get_args(hint)[0])
            dec.append("    elif v.__class__ is _list:")
            dec.append(f"        p = prefix + {name!r}")
            dec.append(
                f"        kw[{name!r}] = [_c{i}.from_json(x, f'{{p}}[{{j}}]') "
                "for j, x in _enumerate(v)]"
            )
            dec.append(f"    else: kw[{name!r}] = _d{i}(v, prefix + {name!r})")
        else:
            dec.append(f"    else: kw[{name!r}] = _d{i}(v, prefix + {name!r})")
    enc.append("    return out")
    dec.append("    return cls(**kw)")
    exec(compile("\n".join(enc) + "\n" + "\n".join(dec), f"<record {cls.__name__}>", "exec"), ns)
    to_json, from_json = ns["to_json"], ns["from_json"]
    to_json.__qualname__ = f"{cls.__name__}.to_json"
    from_json.__qualname__ = f"{cls.__name__}.from_json"
    type.__setattr__(cls, "to_json", to_json)
    type.__setattr__(cls, "from_json", classmethod(from_json))
    return to_json, from_json


def _strip_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0]
    return hint


def _is_record(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, Record)
