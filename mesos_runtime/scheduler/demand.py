"""SUPPRESS offers while a scheduler has nothing to launch, REVIVE them when it has.

A suppressed framework costs the allocator nothing and holds no offers; a revive also
clears the refuse filters of earlier declines, so new work is offered at once. Calls go
out only on a change of demand (and revives at most every `min_revive_interval`).
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
        self.suppressed = False
        self._last_revive = float("-inf")
        self._pending: asyncio.Task[None] | None = None

    def subscribed(self) -> None:
        """A SUBSCRIBE without suppressed roles: the master offers again."""
        self.suppressed = False

    async def update(
        self, client: SchedulerClient, wanted: bool, *, new_work: bool = False
    ) -> None:
        """`wanted`: there is something to launch; `new_work`: something new arrived (a
        revive then also clears decline filters even if offers were not suppressed)."""
        try:
            if not wanted:
                if not self.suppressed:
                    await client.suppress(self.roles)
                    self.suppressed = True
                return
            if self.suppressed or new_work:
                await self._revive(client)
        except CallError as e:
            log.warning("offer demand change refused by the master: %s", e)

    async def _revive(self, client: SchedulerClient) -> None:
        loop = asyncio.get_running_loop()
        wait = self._last_revive + self.min_revive_interval - loop.time()
        self.suppressed = False
        if wait > 0:
            if self._pending is None or self._pending.done():
                self._pending = asyncio.create_task(self._revive_later(client, wait))
            return
        self._last_revive = loop.time()
        await client.revive(self.roles)

    async def _revive_later(self, client: SchedulerClient, wait: float) -> None:
        await asyncio.sleep(wait)
        self._last_revive = asyncio.get_running_loop().time()
        try:
            await client.revive(self.roles)
        except (CallError, ConnectionError) as e:
            log.warning("REVIVE failed: %s", e)

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
