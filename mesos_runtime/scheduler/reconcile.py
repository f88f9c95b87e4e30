"""Reconcile until settled, as Mesos' reconciliation guide asks of every framework.

After (re-)subscribing, a framework asks explicitly for the tasks whose state it is unsure
of, again with backoff until each has answered (the master stays silent for tasks on agents
that are still re-registering), then once implicitly so that it also learns of tasks it
does not know.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection

from .calls import AgentRef, TaskRef
from .client import CallError, SchedulerClient

__all__ = ["reconcile_until_settled"]

log = logging.getLogger(__name__)

Pending = Callable[[], Collection[tuple[TaskRef, AgentRef | None]]]


async def reconcile_until_settled(
    client: SchedulerClient,
    pending: Pending,
    *,
    initial_delay: float = 0.0,
    interval: float = 2.0,
    backoff: float = 2.0,
    max_interval: float = 30.0,
    implicit: bool = True,
    until: Callable[[], bool] | None = None,
) -> None:
    """Ask about `pending()` (task, agent) pairs until it is empty, then once implicitly.

    The first explicit request goes out after `initial_delay`, the next after `interval`,
    each later one `backoff` times later (at most `max_interval`). With `until`, keep asking
    (whenever anything is pending) until `until()` holds instead. Returns early, without
    raising, when the stream is lost: the next subscription reconciles again.
    """
    delay, wait = initial_delay, interval
    try:
        while True:
            if delay > 0:
                await asyncio.sleep(delay)
            if until is not None and until():
                break
            tasks = list(pending())
            if not tasks and until is None:
                break
            if tasks:
                try:
                    await client.reconcile(tasks)
                except CallError as e:
                    log.warning("explicit reconciliation of %d tasks refused: %s", len(tasks), e)
            delay, wait = wait, min(wait * backoff, max_interval)
        if implicit:
            await client.reconcile()
    except ConnectionError as e:
        log.info("reconciliation stopped, the stream is gone: %s", e)
