"""Typed records with protobuf's JSON mapping, the way Mesos' v1 HTTP API speaks it.

A record is a slotted dataclass whose field names are the proto field names. Decoding
ignores unknown fields (clients send legacy extras), reports a missing required field by
its path, base64-decodes `bytes` fields and accepts int64s given as strings. Encoding
omits unset fields, as protobuf does.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from typing import Any, Self, TypeVar

from . import bounds
from .errors import WireError

__all__ = ["Record", "WireError", "optional", "record", "repeated", "required"]


T = TypeVar("T", bound="Record")

_Decoder = Callable[[Any, str], Any]
_Encoder = Callable[[Any], Any]


# a field's own bound (`max_length`: characters of a string, items of a list) and check
# (`check(value, path)` returns the value or raises WireError; of each item for a list)
Check = Callable[[Any, str], Any]


def _metadata(max_length: int | None, check: Check | None) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if max_length is not None:
        meta["max_length"] = max_length
    if check is not None:
        meta["check"] = check
    return meta


def repeated(*, max_length: int | None = None, check: Check | None = None) -> Any:
    """A repeated field: an empty list by default."""
    return dataclasses.field(default_factory=list, metadata=_metadata(max_length, check))


def required(*, max_length: int | None = None, check: Check | None = None) -> Any:
    """Mark a field required (no default): decoding fails with its path when absent."""
    return dataclasses.field(metadata=_metadata(max_length, check))


def optional(*, max_length: int | None = None, check: Check | None = None) -> Any:
    """An optional field (None when absent) with its own bound or check."""
    return dataclasses.field(default=None, metadata=_metadata(max_length, check))


@typing.overload
def record(cls: type[T], /) -> type[T]: ...


@typing.overload
def record(*, frozen: bool = False) -> Callable[[type[T]], type[T]]: ...


# A type checker sees what the decorator makes: keyword-only constructors with the fields.
# `required()` is a field specifier (no default); `optional()` and `repeated()` are
# declared as plain defaults, which is what they are to a caller.
@typing.dataclass_transform(
    kw_only_default=True,
    eq_default=True,
    field_specifiers=(
        dataclasses.field,
        required,
    ),
)
def record(cls: type[T] | None = None, *, frozen: bool = False) -> Any:
    """Declare a record: a keyword-only slotted dataclass with the JSON mapping."""

    def wrap(c: type[T]) -> type[T]:
        own = {name for name in ("to_json", "from_json") if name in c.__dict__}
        made = dataclasses.dataclass(slots=True, kw_only=True, frozen=frozen, eq=True)(c)
        _install_lazy_codec(made, own)
        return made

    return wrap(cls) if cls is not None else wrap


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
                dec, enc = _codec_for(hints[f.name], f.metadata)
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
    if len(value) > bounds.MAX_STRING:
        raise WireError(f"field '{path}' is longer than {bounds.MAX_STRING} characters")
    return value


def _bounded(decode: _Decoder, meta: Any) -> _Decoder:
    """`decode` with a field's own length bound and check."""
    limit = meta.get("max_length")
    check = meta.get("check")
    if limit is None and check is None:
        return decode

    def bounded(value: Any, path: str) -> Any:
        if limit is not None and isinstance(value, (str, list)) and len(value) > limit:
            unit = "characters" if isinstance(value, str) else "items"
            raise WireError(f"field '{path}' is longer than {limit} {unit}")
        decoded = decode(value, path)
        return check(decoded, path) if check is not None else decoded

    return bounded


def _decode_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise WireError(f"field '{path}' must be true or false")
    return value


def _decode_int(value: Any, path: str) -> int:
    # protobuf's JSON mapping writes 64-bit integers as strings
    if isinstance(value, bool):
        raise WireError(f"field '{path}' must be an integer")
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and len(value) <= 24:
        with contextlib.suppress(ValueError):
            number = int(value)
    if number is None:
        raise WireError(f"field '{path}' must be an integer")
    if not bounds.MIN_INT <= number <= bounds.MAX_INT:
        raise WireError(f"field '{path}' is out of the 64-bit integer range")
    return number


def _decode_float(value: Any, path: str) -> float:
    if isinstance(value, bool):
        raise WireError(f"field '{path}' must be a number")
    number: float | None = None
    is_text = isinstance(value, str) and len(value) <= 64
    if isinstance(value, (int, float)) or is_text:
        with contextlib.suppress(ValueError, OverflowError):
            number = float(value)
    if number is None:
        raise WireError(f"field '{path}' must be a number")
    if number - number != 0.0:  # inf, -inf and nan (also when spelled as strings)
        raise WireError(f"field '{path}' must be a finite number")
    return number


def _decode_bytes(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise WireError(f"field '{path}' must be a base64 string")
    if len(value) > bounds.MAX_BYTES:
        raise WireError(f"field '{path}' is longer than {bounds.MAX_BYTES} base64 characters")
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
    return bounds.check_opaque(value, path)


def _enum_codec(kind: type[enum.Enum]) -> tuple[_Decoder, _Encoder]:
    members = {m.value: m for m in kind}

    def decode(value: Any, path: str) -> enum.Enum:
        member = members.get(value) if isinstance(value, str) else None
        if member is None:
            raise WireError(f"field '{path}' has unknown value {str(value)[:64]!r}")
        return member

    return decode, lambda m: m.value


def _list_codec(item: Any, item_check: Check | None = None) -> tuple[_Decoder, _Encoder]:
    dec, enc = _codec_for(item)
    if item_check is not None:
        dec = _bounded(dec, {"check": item_check})

    def decode(value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise WireError(f"field '{path}' must be a list")
        return [dec(v, f"{path}[{i}]") for i, v in enumerate(value)]

    if enc is _identity:
        return decode, list
    return decode, lambda values: [enc(v) for v in values]


def _codec_for(hint: Any, meta: Any = None) -> tuple[_Decoder, _Encoder]:
    """(decoder, encoder) of a field type; `meta` is the field's metadata (bound, check)."""
    if meta:
        origin = typing.get_origin(_strip_optional(hint))
        if origin is list:
            dec, enc = _list_codec(typing.get_args(_strip_optional(hint))[0], meta.get("check"))
            return _bounded(dec, {"max_length": meta.get("max_length")}), enc
        dec, enc = _codec_for(hint)
        return _bounded(dec, meta), enc
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _codec_for(args[0])
    if origin is list:
        return _list_codec(typing.get_args(hint)[0])
    if origin is dict or hint is dict:
        return _decode_json_object, _identity
    if hint is typing.Any:
        return bounds.check_opaque, _identity
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
        dfn, efn = _codec_for(hint, f.metadata)
        ns[f"_d{i}"], ns[f"_e{i}"] = dfn, efn
        check_fn = f.metadata.get("check")
        ns[f"_k{i}"] = check_fn
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
            # the fast path takes only values that need no conversion and are in bounds
            if hint is bool:
                fast = "v is True or v is False"
            elif hint is int:
                fast = f"v.__class__ is int and {bounds.MIN_INT} <= v <= {bounds.MAX_INT}"
            elif hint is float:
                fast = "v.__class__ is float and v - v == 0.0"  # finite
            else:
                limit = f.metadata.get("max_length", bounds.MAX_STRING)
                fast = f"v.__class__ is str and len(v) <= {limit}"
            value = f"_k{i}(v, prefix + {name!r})" if check_fn is not None else "v"
            dec.append(f"    elif {fast}: kw[{name!r}] = {value}")
            dec.append(f"    else: kw[{name!r}] = _d{i}(v, prefix + {name!r})")
        elif origin is list and _is_record(_strip_optional(typing.get_args(hint)[0])):
            ns[f"_c{i}"] = _strip_optional(typing.get_args(hint)[0])
            limit = f.metadata.get("max_length")
            bounded = f" and len(v) <= {limit}" if limit is not None else ""
            dec.append(f"    elif v.__class__ is _list{bounded}:")
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
