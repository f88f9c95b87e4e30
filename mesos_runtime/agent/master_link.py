"""The agent's end of the agent <-> master channel (wire/agent_channel.py, versions 1-2).

It subscribes (registers, or re-registers with its id and everything it runs), reads the
master's event stream, answers PINGs, POSTs the agent's calls, and on losing the stream --
or hearing no PING for too long -- subscribes again with randomized exponential backoff.
Where the master is comes from one long-lived detector (mesos_runtime.discovery): a fixed
`host:port`, or the leader ZooKeeper advertises, followed across failovers.
Status updates go one per UPDATE call (version 1), or, when the master's REGISTERED says
version 2, in batches: whatever queued while the previous UPDATE was in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from ssl import SSLContext
from urllib.parse import urlsplit

import aiohttp

from mesos_runtime.discovery import LeaderDetector, await_other_leader, open_detector
from mesos_runtime.security.authentication import basic_header
from mesos_runtime.wire import recordio
from mesos_runtime.wire.address import join_host_port, split_host_port
from mesos_runtime.wire.agent_channel import (
    BATCHED_UPDATES_VERSION,
    CHANNEL_PATH,
    CHANNEL_VERSION,
    MIN_CHANNEL_VERSION,
    AgentCall,
    AgentCallType,
    AgentEvent,
    AgentEventType,
    AgentUpdate,
)
from mesos_runtime.wire.mesos import Credential
from mesos_runtime.wire.record import WireError

from .agent import Agent

log = logging.getLogger("mesos_runtime.agent.master_link")

MAX_BACKOFF = 60.0
DETECT_TIMEOUT = 30.0
NOT_READY_RETRY = 0.5  # seconds between SUBSCRIBEs to a leader that is still recovering
MAX_UPDATES_PER_CALL = 512
DEFAULT_PING_INTERVAL = 15.0
PINGS_BEFORE_LOST = 5


def _address(endpoint: tuple[str, int]) -> str:
    return join_host_port(*endpoint)


class MasterLink:
    """Keeps the agent registered with the leading master."""

    def __init__(
        self,
        agent: Agent,
        master: str,
        *,
        backoff_factor: float = 1.0,
        ping_timeout: float | None = None,
        credential: Credential | None = None,
        ssl: SSLContext | None = None,
    ) -> None:
        self.agent = agent
        self.ssl = ssl  # TLS to the master (libprocess' LIBPROCESS_SSL_* settings)
        self.scheme = "https" if ssl is not None else "http"
        # HTTP Basic on every request, when the agent has a --credential
        self._auth = {"Authorization": basic_header(credential)} if credential else {}
        self.session: str | None = None  # from REGISTERED (channel version 3)
        self.master = master
        self.backoff_factor = max(backoff_factor, 0.01)
        self.ping_timeout = ping_timeout
        self.address: str | None = None  # the master currently subscribed to
        self._redirect: str | None = None
        self._failed: str | None = None  # the master address last tried
        self._detector: LeaderDetector | None = None
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self.registrations = 0
        self.version = CHANNEL_VERSION  # what we offer in SUBSCRIBE (lowered for old masters)
        self.batching = False  # both sides speak BATCHED_UPDATES_VERSION
        self._updates: list[AgentUpdate] = []
        self._flusher: asyncio.Task[None] | None = None
        agent.send_call = self.call
        agent.send_update = self.send_update

    def start(self) -> None:
        # an agent on a loopback address of its own (the local cluster's hosts) talks to the
        # master from that address: the master takes the agent's IP from the connection
        ip = self.agent.flags.ip or ""
        local = (ip, 0) if ip.startswith("127.") and ip != "127.0.0.1" else None
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=64, force_close=False, ssl=self.ssl or True, local_addr=local
            ),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        )
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._detector is not None:
            await self._detector.close()
            self._detector = None
        for call in list(self._calls):
            call.cancel()
        if self._flusher is not None:
            self._flusher.cancel()
        if self._session is not None:
            await self._session.close()

    async def unregister(self) -> None:
        if self.address is not None and self.agent.agent_id is not None:
            await self.call(AgentCall(type=AgentCallType.UNREGISTER, agent_id=self.agent.agent_id))

    # --- the subscription loop --------------------------------------------------------

    async def _run(self) -> None:
        backoff = self.backoff_factor
        while True:
            registered_before = self.registrations
            try:
                self._failed = None
                address = self._redirect or await self._leader()
                self._failed = address
                self._redirect = None
                await self._subscribe(address)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError, WireError, ValueError, TimeoutError) as e:
                log.info("master channel: %s", e or type(e).__name__)
            except Exception:  # e.g. ZooKeeper detection failing: keep trying
                log.exception("master channel failed")
            self.address = None
            self.session = None
            self.batching = False
            self._updates.clear()  # the status update manager resends every head anyway
            self.agent.on_disconnected()
            if self._redirect:
                continue
            if self.registrations > registered_before:
                backoff = self.backoff_factor  # we were registered: start backing off afresh
            if self._failed is None and self._detector is not None:
                # a master that answered but was not ready: a short pause, not the backoff
                await asyncio.sleep(random.uniform(0, min(backoff, NOT_READY_RETRY)))
                continue
            await self._backoff(random.uniform(0, backoff))
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _leader(self) -> str:
        """`host:port` of the leading master (waits for ZooKeeper to advertise one)."""
        if self._detector is None:
            detector = open_detector(self.master)
            await detector.start()
            self._detector = detector
        endpoint = await self._detector.detect(None, timeout=DETECT_TIMEOUT)
        if endpoint is None:
            raise TimeoutError(f"no leading master advertised at {self.master}")
        return _address(endpoint)

    async def _backoff(self, delay: float) -> None:
        """Sleep `delay`, or less with ZooKeeper: until a leader other than the one that
        failed is advertised, so a master failover is followed at once."""
        if self._detector is None:
            await asyncio.sleep(delay)
            return
        failed = None
        if self._failed:
            failed = split_host_port(self._failed, 5050)
        await await_other_leader(self._detector, failed, delay)

    async def _subscribe(self, address: str) -> None:
        assert self._session is not None
        subscribe = self.agent.subscribe_payload()
        subscribe.version = self.version
        call = AgentCall(type=AgentCallType.SUBSCRIBE, subscribe=subscribe)
        async with self._session.post(
            f"{self.scheme}://{address}{CHANNEL_PATH}",
            json=call.to_json(),
            headers={"Accept": "application/json", **self._auth},
            allow_redirects=False,
        ) as response:
            if response.status == 307:
                location = response.headers.get("Location", "")
                self._redirect = (
                    urlsplit(location if "//" in location else "//" + location).netloc or None
                )
                return
            if response.status != 200:
                body = (await response.text())[:300]
                if response.status == 400 and "version" in body and self.version > 1:
                    # a master older than us: speak its version (1) and subscribe again
                    self.version = MIN_CHANNEL_VERSION
                    self._redirect = address
                    return
                if response.status == 503:
                    # the leader is elected but still recovering: it is the right master,
                    # so retry it shortly rather than wait for another leader
                    self._failed = None
                raise ValueError(f"SUBSCRIBE answered {response.status}: {body}")
            last_ping = time.monotonic()
            ping_timeout = self._ping_timeout(None)
            watchdog = asyncio.get_running_loop().create_task(
                self._watchdog(response, lambda: last_ping, lambda: ping_timeout)
            )
            try:
                async for payload in recordio.read_records(response.content.iter_any()):
                    event = AgentEvent.from_json(json.loads(payload))
                    last_ping = time.monotonic()
                    if event.type is AgentEventType.REGISTERED and event.registered:
                        self.address = address
                        self.registrations += 1
                        agreed = min(self.version, event.registered.version or 1)
                        self.batching = agreed >= BATCHED_UPDATES_VERSION
                        self.session = event.registered.session
                        ping_timeout = self._ping_timeout(event.registered.ping_interval_seconds)
                        self.agent.on_registered(event.registered)
                    elif event.type is AgentEventType.PING:
                        self._send_later(
                            AgentCall(type=AgentCallType.PONG, agent_id=self.agent.agent_id)
                        )
                    else:
                        try:
                            self.agent.handle_event(event)
                        except Exception:
                            log.exception("failed to handle %s", event.type.value)
            finally:
                watchdog.cancel()
            if self.agent.stopped.is_set():
                await asyncio.Event().wait()  # shutting down: do not re-register

    def _ping_timeout(self, interval: float | None) -> float:
        if self.ping_timeout:
            return self.ping_timeout
        return (interval or DEFAULT_PING_INTERVAL) * PINGS_BEFORE_LOST

    async def _watchdog(self, response, last_ping, timeout) -> None:
        while True:
            await asyncio.sleep(1.0)
            if time.monotonic() - last_ping() > timeout():
                log.warning("no PING from the master for %.0fs: re-registering", timeout())
                response.close()
                return

    # --- calls ------------------------------------------------------------------------

    def _send_later(self, call: AgentCall) -> None:
        task = asyncio.get_running_loop().create_task(self.call(call))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    def send_update(self, update: AgentUpdate) -> None:
        """Send a status update: alone (version 1) or with whatever else queues meanwhile."""
        if self.address is None or self.agent.agent_id is None:
            return
        if not self.batching:
            self._send_later(
                AgentCall(type=AgentCallType.UPDATE, agent_id=self.agent.agent_id, update=update)
            )
            return
        self._updates.append(update)
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_updates())

    async def _flush_updates(self) -> None:
        # runs after the current burst has queued; one UPDATE in flight at a time, so a busy
        # agent sends few large calls and an idle one sends each update at once
        try:
            while self._updates and self.agent.agent_id is not None:
                batch = self._updates[:MAX_UPDATES_PER_CALL]
                del self._updates[:MAX_UPDATES_PER_CALL]
                await self.call(
                    AgentCall(
                        type=AgentCallType.UPDATE, agent_id=self.agent.agent_id, updates=batch
                    )
                )
        finally:
            self._flusher = None

    async def call(self, call: AgentCall) -> None:
        """POST a call to the master we are subscribed to; failures are logged (status
        updates are retried by the status update manager)."""
        address = self.address
        if address is None or self._session is None:
            return
        call.session = self.session
        try:
            async with self._session.post(
                f"{self.scheme}://{address}{CHANNEL_PATH}",
                data=json.dumps(call.to_json(), separators=(",", ":")),
                headers={"Content-Type": "application/json", **self._auth},
                timeout=aiohttp.ClientTimeout(total=30),
            ) as response:
                if response.status >= 300:
                    body = (await response.text())[:300]
                    log.warning("%s answered %d: %s", call.type.value, response.status, body)
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            log.info("%s not delivered: %s", call.type.value, e or type(e).__name__)
