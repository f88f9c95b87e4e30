"""Infinity's asyncio client library for the Mesos v1 scheduler API.

`SchedulerClient` speaks the API (subscribe, calls); `Framework` + `run()` keep a framework
subscribed across stream loss and master failover; `command_task()` builds tasks from offers.
Names are imported on first use, so `leader` alone stays cheap (no aiohttp) for the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import CallError, MasterUnavailable, SchedulerClient, StreamLost
    from .framework import Framework, run
    from .leader import MasterAddressError, base_url, detect_leader
    from .tasks import command_task, offer_role, task_resources

_EXPORTS = {
    "CallError": "client",
    "MasterUnavailable": "client",
    "SchedulerClient": "client",
    "StreamLost": "client",
    "Framework": "framework",
    "run": "framework",
    "MasterAddressError": "leader",
    "base_url": "leader",
    "detect_leader": "leader",
    "command_task": "tasks",
    "offer_role": "tasks",
    "task_resources": "tasks",
}

__all__ = [
    "CallError",
    "Framework",
    "MasterAddressError",
    "MasterUnavailable",
    "SchedulerClient",
    "StreamLost",
    "base_url",
    "command_task",
    "detect_leader",
    "offer_role",
    "run",
    "task_resources",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
