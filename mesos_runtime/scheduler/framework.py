"""A framework's event loop: subscribe, dispatch events to hooks, stay subscribed.

Subclass `Framework`, override the hooks you need and `await run(client, framework)`.
When the stream is lost the loop re-subscribes with the same framework id after a backoff
(failover); status updates that carry a uuid are acknowledged once their hook returns. A
hook that raises is logged and the framework goes on (its update is then not acknowledged,
so the agent sends it again).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field

from mesos_runtime.wire.mesos import (
    FrameworkCapability,
    FrameworkCapabilityType,
    FrameworkInfo,
    Offer,
    OfferID,
    TaskStatus,
)
from mesos_runtime.wire.scheduler import Event, EventMessage, EventType, Failure, Subscribed

from .client import CallError, MasterUnavailable, SchedulerClient

__all__ = ["DEFAULT_FAILOVER_TIMEOUT", "Framework", "framework_info", "run"]

log = logging.getLogger(__name__)

# what long-running Mesos frameworks (Marathon, the SDK's schedulers) use: a week in which a
# restarted scheduler may come back and find its tasks still running
DEFAULT_FAILOVER_TIMEOUT = 7 * 24 * 3600.0


def framework_info(
    name: str,
    *,
    user: str = "root",
    roles: Iterable[str] = (),
    failover_timeout: float = DEFAULT_FAILOVER_TIMEOUT,
    principal: str | None = None,
    webui_url: str | None = None,
    hostname: str | None = None,
    capabilities: Iterable[FrameworkCapabilityType] = (
        FrameworkCapabilityType.PARTITION_AWARE,
        FrameworkCapabilityType.TASK_KILLING_STATE,
    ),
) -> FrameworkInfo:
    """FrameworkInfo for a long-running service scheduler (checkpointing, a week's failover)."""
    roles = list(roles)
    kinds = list(capabilities)
    if roles and FrameworkCapabilityType.MULTI_ROLE not in kinds:
        kinds.append(FrameworkCapabilityType.MULTI_ROLE)
    return FrameworkInfo(
        user=user,
        name=name,
        failover_timeout=failover_timeout,
        checkpoint=True,
        roles=roles,
        principal=principal,
        webui_url=webui_url,
        hostname=hostname,
        capabilities=[FrameworkCapability(type=k) for k in kinds],
    )


class Framework:
    """Hooks for the events of the scheduler API; each is awaited in event order."""

    def __init__(self) -> None:
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Ask `run()` to return (after the hook that called it)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def subscribed(self, client: SchedulerClient, subscribed: Subscribed) -> None:
        """SUBSCRIBED: first on every (re-)subscription; reconcile here after a failover."""

    async def offers(self, client: SchedulerClient, offers: list[Offer]) -> None:
        """OFFERS: by default decline them all, so unused resources go back to the pool."""
        if offers:
            await client.decline([o.id for o in offers])

    async def rescind(self, client: SchedulerClient, offer_id: OfferID) -> None:
        """RESCIND: the offer is no longer valid."""

    async def update(self, client: SchedulerClient, status: TaskStatus) -> None:
        """UPDATE: a task's status (acknowledged after this returns, when auto-acking)."""

    async def message(self, client: SchedulerClient, message: EventMessage) -> None:
        """MESSAGE from an executor."""

    async def failure(self, client: SchedulerClient, failure: Failure) -> None:
        """FAILURE: an agent or executor failed."""

    async def error(self, client: SchedulerClient, message: str) -> None:
        """ERROR: the master removed this framework; `run()` returns afterwards."""

    async def disconnected(self, client: SchedulerClient, reason: Exception) -> None:
        """The stream was lost; `run()` re-subscribes after a backoff (when reconnecting)."""


async def run(
    client: SchedulerClient,
    framework: Framework,
    *,
    auto_acknowledge: bool = True,
    reconnect: bool = True,
    teardown: bool = False,
    backoff_initial: float = 0.2,
    backoff_max: float = 10.0,
) -> None:
    """Drive `framework` until it calls `stop()` or the master sends ERROR.

    With `teardown=True` a stopped framework is torn down (its tasks killed) before the
    stream closes; otherwise it stays registered for its failover timeout. Raises
    `CallError` when the master refuses the subscription and, with `reconnect=False`,
    `MasterUnavailable`/`StreamLost` when the stream is lost.
    """
    loop = _EventLoop(client, framework, auto_acknowledge, reconnect, backoff_initial, backoff_max)
    consumer = asyncio.create_task(loop.consume())
    stopper = asyncio.create_task(framework._stopping.wait())
    try:
        await asyncio.wait({consumer, stopper}, return_when=asyncio.FIRST_COMPLETED)
        # calls need the open stream: let acknowledgements land and tear down before closing
        if loop.acks:
            await asyncio.gather(*loop.acks, return_exceptions=True)
        if teardown and framework.stopping and not consumer.done() and client.framework_id:
            await client.teardown()
    finally:
        for task in (consumer, stopper):
            task.cancel()
        await asyncio.gather(consumer, stopper, return_exceptions=True)
        client.disconnect()
    if not consumer.cancelled() and consumer.exception() is not None:
        raise consumer.exception()  # type: ignore[misc]


@dataclass
class _EventLoop:
    client: SchedulerClient
    framework: Framework
    auto_acknowledge: bool
    reconnect: bool
    backoff_initial: float
    backoff_max: float
    acks: set[asyncio.Task[None]] = field(default_factory=set)

    async def consume(self) -> None:
        delay = self.backoff_initial
        while True:
            try:
                async for event in self.client.subscribe():
                    if event.type is EventType.SUBSCRIBED:
                        delay = self.backoff_initial
                    if self.framework.stopping:
                        # stopped in a hook: hand it nothing more, but keep the stream
                        # open until run() has sent its last calls
                        continue
                    if await self.dispatch(event):
                        return
            except ConnectionError as e:  # StreamLost or MasterUnavailable
                if self.framework.stopping:
                    return
                log.info("scheduler stream lost: %s", e)
                await _hook("disconnected", self.framework.disconnected(self.client, e))
                if not self.reconnect:
                    raise
            # jitter keeps many frameworks from re-subscribing in lockstep; with ZooKeeper
            # the wait ends as soon as another master leads
            await self.client.follower.backoff(
                self.client.leader_url, delay * random.uniform(0.5, 1.0)
            )
            delay = min(delay * 2, self.backoff_max)

    async def dispatch(self, event: Event) -> bool:
        """Hand one event to its hook; True when the loop must end (ERROR)."""
        client, framework, kind = self.client, self.framework, event.type
        if kind is EventType.SUBSCRIBED and event.subscribed is not None:
            await _hook("subscribed", framework.subscribed(client, event.subscribed))
        elif kind is EventType.OFFERS and event.offers is not None:
            await _hook("offers", framework.offers(client, event.offers.offers))
        elif kind is EventType.RESCIND and event.rescind is not None:
            await _hook("rescind", framework.rescind(client, event.rescind.offer_id))
        elif kind is EventType.UPDATE and event.update is not None:
            status = event.update.status
            handled = await _hook("update", framework.update(client, status))
            if (
                handled
                and self.auto_acknowledge
                and status.uuid is not None
                and status.agent_id is not None
            ):
                # acknowledgements are independent of each other: don't hold the stream
                task = asyncio.create_task(_acknowledge(client, status))
                self.acks.add(task)
                task.add_done_callback(self.acks.discard)
        elif kind is EventType.MESSAGE and event.message is not None:
            await _hook("message", framework.message(client, event.message))
        elif kind is EventType.FAILURE and event.failure is not None:
            await _hook("failure", framework.failure(client, event.failure))
        elif kind is EventType.ERROR and event.error is not None:
            await _hook("error", framework.error(client, event.error.message))
            return True
        return False


async def _hook(name: str, call: Awaitable[None]) -> bool:
    """Await one hook; a failure is logged and the framework goes on (False).

    A lost stream (`ConnectionError`) is not a failure of the hook: it ends this
    subscription and `run()` re-subscribes.
    """
    try:
        await call
    except (ConnectionError, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("the framework's %s hook failed; going on", name)
        return False
    return True


async def _acknowledge(client: SchedulerClient, status: TaskStatus) -> None:
    try:
        await client.acknowledge(status)
    except (CallError, MasterUnavailable) as e:
        # the agent re-sends unacknowledged updates, so a lost ack is retried by design
        log.warning(
            "acknowledging %s of %s failed: %s", status.state.value, status.task_id.value, e
        )
