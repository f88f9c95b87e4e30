"""Infinity's asyncio client library for the Mesos v1 scheduler API.

`SchedulerClient` speaks the API (subscribe, calls); `Framework` + `run()` keep a framework
subscribed across stream loss and master failover; `command_task()` builds tasks from offers.
"""

from .client import CallError, MasterUnavailable, SchedulerClient, StreamLost
from .framework import Framework, run
from .leader import MasterAddressError, base_url, detect_leader
from .tasks import command_task, offer_role, task_resources

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
