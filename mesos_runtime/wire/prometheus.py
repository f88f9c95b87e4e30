"""Prometheus' text exposition format (version 0.0.4) for a Mesos-style metrics snapshot:
`master/tasks_finished` becomes `master_tasks_finished`, with a HELP line naming the
snapshot key it came from, so `/metrics` and `/metrics/snapshot` read the same figures.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping

__all__ = ["CONTENT_TYPE", "metric_name", "render"]

# what Prometheus' own client libraries answer; aiohttp takes the charset separately
CONTENT_TYPE = "text/plain; version=0.0.4"

_UNSAFE = re.compile(r"[^a-zA-Z0-9_:]")


def metric_name(key: str) -> str:
    """A snapshot key made a valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`)."""
    name = _UNSAFE.sub("_", key)
    if not name or name[0].isdigit():
        name = "_" + name
    return name


def _value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render(snapshot: Mapping[str, float], counters: Collection[str] = ()) -> str:
    """One HELP/TYPE/sample triple per key, sorted; keys in `counters` are typed counter
    (they only go up), every other key gauge. Two keys that map to one name keep the first."""
    lines: list[str] = []
    seen: set[str] = set()
    for key in sorted(snapshot):
        name = metric_name(key)
        if name in seen:
            continue
        seen.add(name)
        kind = "counter" if key in counters else "gauge"
        help_text = key.replace("\\", "\\\\").replace("\n", "\\n")
        lines += [
            f"# HELP {name} Mesos metric {help_text}",
            f"# TYPE {name} {kind}",
            f"{name} {_value(float(snapshot[key]))}",
        ]
    return "\n".join(lines) + "\n"
