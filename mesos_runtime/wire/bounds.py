"""What the wire accepts at all: ids safe as path components, finite numbers in range,
bounded strings, and untrusted JSON bodies parsed with a depth bound and no NaN/Infinity.

Every record decode and every HTTP edge goes through these rules, so the core never sees
an id that could name a path outside a sandbox, a number that is not finite, or a string
that cannot be encoded back to JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import WireError

# Mesos' own id rule (common/validation.cpp): NAME_MAX bytes, not '.' or '..', no control
# character and no path separator of either platform
MAX_ID_BYTES = 255
MAX_NAME = 4096  # names, users, principals, roles, URLs: what an operator would type
MAX_HOSTNAME = 255
MAX_STRING = 1 << 20  # any other string field
MAX_BYTES = 8 << 20  # a `bytes` field (TaskInfo.data, messages), as base64 characters
MAX_JSON_DEPTH = 100  # protobuf's default recursion limit
# records bound their own nesting; what a record keeps as opaque JSON (`container`,
# `discovery`, ...) is bounded here, so that encoding it again can never recurse too deep
MAX_OPAQUE_DEPTH = 64
MAX_INT = (1 << 64) - 1  # uint64
MIN_INT = -(1 << 63)  # int64
MAX_SCALAR = 1e15  # Mesos keeps scalars as int64 thousandths
MAX_SECONDS = 9.2e9  # a Duration (int64 nanoseconds) in seconds

_ID_INVALID = re.compile(r"[\x00-\x1f\x7f/\\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def check_id(value: str, path: str) -> str:
    """An id that is safe as a single path component (framework, agent, executor, task,
    offer, container ids); raises WireError naming the field."""
    if not value:
        raise WireError(f"field '{path}' must not be empty")
    if value in (".", ".."):
        raise WireError(f"field '{path}': '{value}' is disallowed")
    if _ID_INVALID.search(value):
        raise WireError(f"field '{path}': {value[:64]!r} contains a control character, '/' or '\\'")
    size = len(value) if value.isascii() else len(encode_utf8(value, path))
    if size > MAX_ID_BYTES:
        raise WireError(f"field '{path}' is longer than {MAX_ID_BYTES} bytes")
    return value


def check_text(value: str, path: str) -> str:
    """A single-line name (framework name, user, hostname): no control characters."""
    if _CONTROL.search(value):
        raise WireError(f"field '{path}': {value[:64]!r} contains a control character")
    return value


def encode_utf8(value: str, path: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise WireError(f"field '{path}' is not valid Unicode (a lone surrogate)") from None


def check_finite(
    value: float, path: str, *, low: float = -MAX_SCALAR, high: float = MAX_SCALAR
) -> float:
    if not (low <= value <= high):  # also false for NaN
        raise WireError(f"field '{path}' must be a finite number between {low:g} and {high:g}")
    return value


def check_seconds(value: float, path: str) -> float:
    """A non-negative duration in seconds that fits Mesos' Duration."""
    return check_finite(value, path, low=0.0, high=MAX_SECONDS)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (numbers must be finite)")


def loads_untrusted(body: bytes | str) -> Any:
    """Parse a request body: JSON with finite numbers only and strings that are valid
    Unicode; nesting that would exhaust the parser is refused (records bound the rest:
    their own shape, and `check_opaque` for the JSON they keep). Raises WireError."""
    try:
        doc = json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise WireError(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise WireError(str(e)) from None
    raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    if _SURROGATE_ESCAPE.search(raw):
        # json.loads joins escaped surrogate pairs; whatever is left alone cannot be encoded
        try:
            json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise WireError("JSON holds a lone surrogate: not valid Unicode") from None
        except (ValueError, RecursionError):
            raise WireError("JSON cannot be re-encoded") from None
    return doc


def check_opaque(doc: Any, path: str) -> Any:
    """JSON a record keeps as it is (not decoded into records): nested at most
    MAX_OPAQUE_DEPTH deep."""
    if not isinstance(doc, (dict, list)):
        return doc
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_OPAQUE_DEPTH:
            raise WireError(f"field '{path}' is nested deeper than {MAX_OPAQUE_DEPTH} levels")
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return doc
