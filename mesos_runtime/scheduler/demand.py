"""SUPPRESS offers while a scheduler has nothing to launch, REVIVE them when it has.

A suppressed framework costs the allocator nothing and holds no offers; a revive also
clears the refuse filters of earlier declines, so new work is offered at once. Calls go
out only on a change of demand (and revives at most every `min_revive_interval`).

Every call is decided from the newest demand, one call at a time: a REVIVE decided while a
SUPPRESS was still on its way (or the other way round) would otherwise leave the master
suppressed while the scheduler believes it is offered to, and work waits for offers that
never come.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from .client import CallError, SchedulerClient

__all__ = ["OfferDemand"]

log = logging.getLogger(__name__)


class OfferDemand:
    """Track whether the scheduler wants offers and tell the master when that changes."""

    def __init__(self, roles: Iterable[str] = (), *, min_revive_interval: float = 0.5) -> None:
        self.roles = list(roles)
        self.min_revive_interval = min_revive_interval
        self.suppressed = False  # what the master was last told
        self._wanted = False  # what the scheduler last said
        self._revive_owed = False  # new work came: revive (clear filters) even if offered to
        self._last_revive = float("-inf")
        self._lock = asyncio.Lock()
        self._pending: asyncio.Task[None] | None = None

    def subscribed(self) -> None:
        """A SUBSCRIBE without suppressed roles: the master offers again."""
        self.suppressed = False

    async def update(
        self, client: SchedulerClient, wanted: bool, *, new_work: bool = False
    ) -> None:
        """`wanted`: there is something to launch; `new_work`: something new arrived (a
        revive then also clears decline filters even if offers were not suppressed)."""
        self._wanted = wanted
        self._revive_owed = wanted and (self._revive_owed or new_work)
        await self._converge(client)

    async def _converge(self, client: SchedulerClient) -> None:
        """Bring the master in line with the newest demand (after earlier calls landed)."""
        async with self._lock:
            try:
                if not self._wanted:
                    if not self.suppressed:
                        await client.suppress(self.roles)
                        self.suppressed = True
                    return
                if not (self.suppressed or self._revive_owed):
                    return
                loop = asyncio.get_running_loop()
                wait = self._last_revive + self.min_revive_interval - loop.time()
                if wait > 0:
                    if self._pending is None or self._pending.done():
                        self._pending = asyncio.create_task(self._converge_later(client, wait))
                    return
                self._last_revive = loop.time()
                self._revive_owed = False
                await client.revive(self.roles)
                self.suppressed = False
            except CallError as e:
                log.warning("offer demand change refused by the master: %s", e)

    async def _converge_later(self, client: SchedulerClient, wait: float) -> None:
        # decided again when it is due: the demand may have gone meanwhile
        await asyncio.sleep(wait)
        try:
            await self._converge(client)
        except ConnectionError as e:
            log.warning("REVIVE failed: %s", e)

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
