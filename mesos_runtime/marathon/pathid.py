"""Marathon's path ids: `/prod/web/frontend` names an app inside groups `/prod/web`, `/prod`.

Ids given relative (`web`, `../db`) are resolved against a base group; every segment must
be a lower-case DNS label part as Marathon requires. Task ids embed the app id with `/`
replaced by `_` (`prod_web.instance-<uuid>._app.1`), which no segment may contain.
"""

from __future__ import annotations

import re

__all__ = ["PathIdError", "app_id_of_task", "normalize", "parent", "task_prefix"]

_SEGMENT = re.compile(
    r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$"
)
SEGMENT_PATTERN = _SEGMENT.pattern
_MAX_LENGTH = 512


class PathIdError(ValueError):
    """An id that is not a valid Marathon path id (the message says why)."""


def normalize(raw: str, base: str = "/") -> str:
    """`raw` resolved against `base` → an absolute id such as `/prod/web`."""
    if not isinstance(raw, str) or not raw.strip():
        raise PathIdError("id must not be empty")
    if len(raw) > _MAX_LENGTH:
        raise PathIdError(f"id is longer than {_MAX_LENGTH} characters")
    parts = [] if raw.startswith("/") else [p for p in base.split("/") if p]
    for segment in raw.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                raise PathIdError(f"id {raw!r} points above the root group")
            parts.pop()
            continue
        if not _SEGMENT.match(segment):
            raise PathIdError(
                f"path id segment {segment!r} must fully match regular expression "
                f"'{SEGMENT_PATTERN}'"
            )
        parts.append(segment)
    return "/" + "/".join(parts)


def parent(path_id: str) -> str:
    head = path_id.rstrip("/").rsplit("/", 1)[0]
    return head or "/"


def task_prefix(app_id: str) -> str:
    """`/prod/web` → `prod_web`: the part of a task id that names its app."""
    return app_id.strip("/").replace("/", "_")


def app_id_of_task(task_id: str) -> str | None:
    """The app id a Marathon task id belongs to (None when it is not one of ours)."""
    prefix, marker, _rest = task_id.partition(".instance-")
    if not marker or not prefix:
        return None
    return "/" + prefix.replace("_", "/")
