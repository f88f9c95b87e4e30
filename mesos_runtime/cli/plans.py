"""A service's plans as the user sees them: the tree of phases and steps with their
strategies and states (`deploy (serial) IN_PROGRESS / broker (serial) IN_PROGRESS /
kafka-0:[broker] COMPLETE`), printed once or kept live while the plan runs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.text import Text

from .output import err

__all__ = ["plan_lines", "plan_view", "watch_plan"]

_STYLE = {
    "COMPLETE": "green",
    "IN_PROGRESS": "yellow",
    "STARTING": "yellow",
    "STARTED": "yellow",
    "PREPARED": "yellow",
    "ERROR": "red",
    "DELAYED": "red",
    "WAITING": "magenta",
}

DONE = {"COMPLETE"}
FAILED = {"ERROR"}


def plan_lines(plan: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(depth, label, status) for the plan, each phase and each step."""
    lines = [(0, f"{plan.get('name')} ({plan.get('strategy', 'serial')})", plan.get("status", ""))]
    for phase in plan.get("phases", []):
        label = f"{phase.get('name')} ({phase.get('strategy', 'serial')})"
        lines.append((1, label, phase.get("status", "")))
        for step in phase.get("steps", []):
            message = step.get("message") or ""
            status = step.get("status", "")
            lines.append((2, f"{step.get('name')}", f"{status}{'  ' + message if message else ''}"))
    return lines


def plan_text(plan: dict[str, Any]) -> str:
    """The tree as plain text, one line per plan/phase/step."""
    return "\n".join(f"{'   ' * d}{label} {status}" for d, label, status in plan_lines(plan))


def plan_view(plan: dict[str, Any]) -> Group:
    rows = []
    for depth, label, status in plan_lines(plan):
        head, _, rest = status.partition("  ")
        line = Text("   " * depth + label + " ")
        line.append(head, style=_STYLE.get(head, ""))
        if rest:
            line.append("  " + rest, style="dim")
        rows.append(line)
    errors = plan.get("errors") or []
    rows.extend(Text(f"error: {e}", style="red") for e in errors)
    return Group(*rows)


def watch_plan(
    fetch: Callable[[], dict[str, Any] | None],
    timeout: float,
    *,
    live: bool = True,
    interval: float = 0.5,
) -> dict[str, Any] | None:
    """Poll the plan until it is COMPLETE or ERROR or `timeout` passes, showing it live on
    stderr (or, off a terminal, one line per change); the last plan seen (None if it
    never answered)."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    seen: set[tuple[int, str, str]] = set()
    waiting = Text("waiting for the scheduler to register…", style="dim")
    view = Live(waiting, console=err, auto_refresh=False) if live else None
    with view if view is not None else contextlib.nullcontext():
        while True:
            plan = fetch()
            if plan:
                last = plan
                if view is not None:
                    view.update(plan_view(plan), refresh=True)
                else:
                    for line in plan_lines(plan):
                        if line not in seen:
                            seen.add(line)
                            err.print(f"{'   ' * line[0]}{line[1]} {line[2]}", markup=False)
                if plan.get("status") in DONE | FAILED:
                    return plan
            if time.monotonic() >= deadline:
                return last
            time.sleep(interval)
