"""Infinity's asyncio client library for the Mesos v1 scheduler API, and what long-running
service schedulers stand on.

`SchedulerClient` speaks the API; `Framework` + `run()` keep a framework subscribed across
stream loss and master failover; `open_ha()` gives a scheduler its store and election;
`TaskTracker` adopts launched tasks after a restart; `match_offer()` and the reservation
helpers fit tasks to offers; `OfferDemand` suppresses and revives offers.
Names are imported on first use, so `leader` alone stays cheap (no aiohttp) for the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import CallError, MasterUnavailable, SchedulerClient, StreamLost
    from .constraints import Constraint, ConstraintError, Placement, parse_constraints
    from .demand import OfferDemand
    from .election import Election, ElectionError, LocalElection, ZooKeeperElection
    from .framework import DEFAULT_FAILOVER_TIMEOUT, Framework, framework_info, run
    from .ha import SchedulerHA, open_ha
    from .leader import MasterAddressError, base_url, detect_leader
    from .offers import (
        NoMatch,
        OfferMatch,
        OfferMismatch,
        PortRequest,
        ResourceRequest,
        VolumeRequest,
        match_offer,
    )
    from .reconcile import reconcile_until_settled
    from .reservations import (
        plan_reservation,
        plan_resize,
        reserved_for,
        unreserve_operations,
    )
    from .state import ReservationRecord, SchedulerState, TaskRecord
    from .store import FileStateStore, NotLeader, StateStore, StoreError, ZooKeeperStateStore
    from .tasks import command_task, offer_role, task_resources
    from .tracker import TaskTracker

_EXPORTS = {
    "CallError": "client",
    "MasterUnavailable": "client",
    "SchedulerClient": "client",
    "StreamLost": "client",
    "Constraint": "constraints",
    "ConstraintError": "constraints",
    "Placement": "constraints",
    "parse_constraints": "constraints",
    "OfferDemand": "demand",
    "Election": "election",
    "ElectionError": "election",
    "LocalElection": "election",
    "ZooKeeperElection": "election",
    "DEFAULT_FAILOVER_TIMEOUT": "framework",
    "Framework": "framework",
    "framework_info": "framework",
    "run": "framework",
    "SchedulerHA": "ha",
    "open_ha": "ha",
    "MasterAddressError": "leader",
    "base_url": "leader",
    "detect_leader": "leader",
    "NoMatch": "offers",
    "OfferMatch": "offers",
    "OfferMismatch": "offers",
    "PortRequest": "offers",
    "ResourceRequest": "offers",
    "VolumeRequest": "offers",
    "match_offer": "offers",
    "reconcile_until_settled": "reconcile",
    "plan_reservation": "reservations",
    "plan_resize": "reservations",
    "reserved_for": "reservations",
    "unreserve_operations": "reservations",
    "ReservationRecord": "state",
    "SchedulerState": "state",
    "TaskRecord": "state",
    "FileStateStore": "store",
    "NotLeader": "store",
    "StateStore": "store",
    "StoreError": "store",
    "ZooKeeperStateStore": "store",
    "command_task": "tasks",
    "offer_role": "tasks",
    "task_resources": "tasks",
    "TaskTracker": "tracker",
}

__all__ = [
    "DEFAULT_FAILOVER_TIMEOUT",
    "CallError",
    "Constraint",
    "ConstraintError",
    "Election",
    "ElectionError",
    "FileStateStore",
    "Framework",
    "LocalElection",
    "MasterAddressError",
    "MasterUnavailable",
    "NoMatch",
    "NotLeader",
    "OfferDemand",
    "OfferMatch",
    "OfferMismatch",
    "Placement",
    "PortRequest",
    "ReservationRecord",
    "ResourceRequest",
    "SchedulerClient",
    "SchedulerHA",
    "SchedulerState",
    "StateStore",
    "StoreError",
    "StreamLost",
    "TaskRecord",
    "TaskTracker",
    "VolumeRequest",
    "ZooKeeperElection",
    "ZooKeeperStateStore",
    "base_url",
    "command_task",
    "detect_leader",
    "framework_info",
    "match_offer",
    "offer_role",
    "open_ha",
    "parse_constraints",
    "plan_reservation",
    "plan_resize",
    "reconcile_until_settled",
    "reserved_for",
    "run",
    "task_resources",
    "unreserve_operations",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
