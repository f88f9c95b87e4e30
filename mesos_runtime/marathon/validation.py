"""Reading JSON from the wire the way Marathon does: every problem collected with the path
of its field, so one answer names them all.

A value of the wrong JSON type is "Invalid JSON" (400, `error.expected.jsnumber`); a value
of the right type that breaks a rule is "Object is not valid" (422, `got -1, expected 0 or
more`). Both answer Marathon's error shape `{"message", "details": [{"path", "errors"}]}`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = ["Invalid", "Reader"]

_JSON_TYPES = {
    "string": "jsstring",
    "number": "jsnumber",
    "integer": "jsnumber",
    "boolean": "jsboolean",
    "object": "jsobject",
    "array": "jsarray",
}
_MAX_STRING = 64 * 1024
_MAX_ITEMS = 10_000


class Invalid(Exception):
    """The body was refused: `status` 400 (types) or 422 (rules), with Marathon's details."""

    def __init__(self, status: int, message: str, details: list[dict[str, Any]]) -> None:
        self.status = status
        self.message = message
        self.details = details
        super().__init__(f"{message}: {details}")

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "details": self.details}


class Reader:
    """Collects problems by path; `raise_if_any()` ends the read with an `Invalid`."""

    def __init__(self) -> None:
        self.type_errors: dict[str, list[str]] = {}
        self.rule_errors: dict[str, list[str]] = {}

    def wrong_type(self, path: str, expected: str) -> None:
        self.type_errors.setdefault(path or "/", []).append(
            f"error.expected.{_JSON_TYPES.get(expected, expected)}"
        )

    def error(self, path: str, message: str) -> None:
        self.rule_errors.setdefault(path or "/", []).append(message)

    @property
    def ok(self) -> bool:
        return not self.type_errors and not self.rule_errors

    def raise_if_any(self) -> None:
        if self.type_errors:
            raise Invalid(400, "Invalid JSON", _details(self.type_errors))
        if self.rule_errors:
            raise Invalid(422, "Object is not valid", _details(self.rule_errors))

    # --- typed reads: each returns the value or `default` after recording a problem ----

    def string(
        self, obj: dict[str, Any], key: str, path: str, default: str | None = None
    ) -> str | None:
        value = obj.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            self.wrong_type(f"{path}/{key}", "string")
            return default
        if len(value) > _MAX_STRING:
            self.error(f"{path}/{key}", f"is longer than {_MAX_STRING} characters")
            return default
        return value

    def boolean(self, obj: dict[str, Any], key: str, path: str, default: bool) -> bool:
        value = obj.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.wrong_type(f"{path}/{key}", "boolean")
            return default
        return value

    def number(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        integer: bool = False,
    ) -> float:
        value = obj.get(key)
        where = f"{path}/{key}"
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.wrong_type(where, "number")
            return default
        if not math.isfinite(value):
            self.error(where, "must be a finite number")
            return default
        if integer and value != int(value):
            self.error(where, f"got {value}, expected an integer")
            return default
        if minimum is not None and value < minimum:
            self.error(where, f"got {_show(value)}, expected {_show(minimum)} or more")
            return default
        if maximum is not None and value > maximum:
            self.error(where, f"got {_show(value)}, expected {_show(maximum)} or less")
            return default
        return int(value) if integer else float(value)

    def integer(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        default: int,
        *,
        minimum: int | None = 0,
        maximum: int | None = None,
    ) -> int:
        return int(
            self.number(obj, key, path, default, minimum=minimum, maximum=maximum, integer=True)
        )

    def object(self, obj: dict[str, Any], key: str, path: str) -> dict[str, Any] | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.wrong_type(f"{path}/{key}", "object")
            return None
        return value

    def array(self, obj: dict[str, Any], key: str, path: str) -> list[Any] | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            self.wrong_type(f"{path}/{key}", "array")
            return None
        if len(value) > _MAX_ITEMS:
            self.error(f"{path}/{key}", f"has more than {_MAX_ITEMS} items")
            return None
        return value

    def strings(self, obj: dict[str, Any], key: str, path: str) -> list[str] | None:
        items = self.array(obj, key, path)
        if items is None:
            return None
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, str):
                self.wrong_type(f"{path}/{key}({i})", "string")
            else:
                out.append(item)
        return out

    def string_map(self, obj: dict[str, Any], key: str, path: str) -> dict[str, str]:
        value = self.object(obj, key, path)
        out: dict[str, str] = {}
        for name, item in (value or {}).items():
            if not isinstance(item, str):
                self.wrong_type(f"{path}/{key}/{name}", "string")
            else:
                out[name] = item
        return out

    def each(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        read: Callable[[dict[str, Any], str], Any],
    ) -> list[Any] | None:
        """Read each object of a list with `read(item, item_path)`; items that fail are skipped."""
        items = self.array(obj, key, path)
        if items is None:
            return None
        out = []
        for i, item in enumerate(items):
            where = f"{path}/{key}({i})"
            if not isinstance(item, dict):
                self.wrong_type(where, "object")
                continue
            value = read(item, where)
            if value is not None:
                out.append(value)
        return out


def _show(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _details(errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    return [{"path": path, "errors": messages} for path, messages in errors.items()]
