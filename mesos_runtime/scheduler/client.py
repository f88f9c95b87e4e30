"""The asyncio client of the v1 scheduler API: one SUBSCRIBE stream plus calls beside it.

`SchedulerClient.subscribe()` opens the RecordIO event stream on the leading master
(following 307 redirects, retrying 503 while no leader is known), remembers the
`Mesos-Stream-Id` and the framework id, and declares the stream dead when no event
arrives within a few heartbeat intervals. `call()` and its helpers POST the other calls.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl as ssllib
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import aiohttp

from mesos_runtime.security.authentication import basic_header
from mesos_runtime.security.credentials import environment_credential, load_credential
from mesos_runtime.security.tls import client_context
from mesos_runtime.wire import recordio
from mesos_runtime.wire.mesos import (
    Credential,
    ExecutorID,
    ExecutorInfo,
    Filters,
    FrameworkID,
    FrameworkInfo,
    KillPolicy,
    Operation,
    Resource,
    TaskInfo,
    TaskStatus,
)
from mesos_runtime.wire.record import WireError
from mesos_runtime.wire.scheduler import Call, CallType, Event, EventType

from . import calls
from .calls import AgentRef, OfferRef, TaskRef
from .leader import LeaderFollower

__all__ = [
    "CallError",
    "Credential",
    "MasterUnavailable",
    "SchedulerClient",
    "StreamLost",
    "load_credential",
]

log = logging.getLogger(__name__)

SCHEDULER_PATH = "/api/v1/scheduler"
_REDIRECTS = (301, 302, 303, 307, 308)


class CallError(Exception):
    """The master refused a call (non-2xx): `status` and the master's `message`."""

    def __init__(self, status: int, message: str, call_type: CallType | None = None) -> None:
        self.status = status
        self.message = message
        self.call_type = call_type
        what = call_type.value if call_type else "call"
        super().__init__(f"{what} refused by master: {status} {message}".rstrip())


class MasterUnavailable(ConnectionError):
    """No master could be reached (connection refused, timed out, or no leader elected)."""


class StreamLost(ConnectionError):
    """The SUBSCRIBE stream ended: closed by the master, broken, or heartbeats missed."""


class SchedulerClient:
    """A framework's connection to the master.

    `master` is `host:port`, `http://host:port` or (with HA discovery) `zk://...`.
    After the first SUBSCRIBED the framework id is kept in `framework_info.id`, so a later
    `subscribe()` re-subscribes as the same framework (failover).

    `credential` is presented with every request as HTTP Basic (Mesos' `--credentials` on
    the master; `load_credential(path)` reads a Mesos credential file), and becomes
    `framework_info.principal` when that is unset; when None, the file named by
    `$INFINITY_CREDENTIAL` is used, if set (as `infinity cluster up` suggests). `ssl` is the
    TLS context for the master; when None it comes from the `LIBPROCESS_SSL_*` environment,
    as libprocess does (None there too: plain HTTP).
    """

    def __init__(
        self,
        master: str,
        framework_info: FrameworkInfo,
        *,
        session: aiohttp.ClientSession | None = None,
        connect_timeout: float = 10.0,
        call_timeout: float = 30.0,
        subscribe_timeout: float = 30.0,
        heartbeat_misses: float = 2.0,
        heartbeat_grace: float = 5.0,
        max_redirects: int = 5,
        credential: Credential | None = None,
        ssl: ssllib.SSLContext | None = None,
    ) -> None:
        self.master = master
        # one ZooKeeper session for the client's life when `master` is zk://
        self.follower = LeaderFollower(master)
        if credential is None:
            credential = environment_credential()
        if credential is not None and framework_info.principal is None:
            framework_info = framework_info.replace(principal=credential.principal)
        self.framework_info = framework_info
        self.credential = credential
        self._auth = {"Authorization": basic_header(credential)} if credential else {}
        self.ssl = ssl if ssl is not None else client_context()
        self.connect_timeout = connect_timeout
        self.call_timeout = call_timeout
        # how long to keep retrying while the master answers 503 (no leader yet)
        self.subscribe_timeout = subscribe_timeout
        # the stream is dead after heartbeat_interval * misses + grace without an event
        self.heartbeat_misses = heartbeat_misses
        self.heartbeat_grace = heartbeat_grace
        self.max_redirects = max_redirects
        self.stream_id: str | None = None
        self.heartbeat_interval: float | None = None
        self.leader_url: str | None = None
        self._session = session
        self._owns_session = session is None
        self._stream: aiohttp.ClientResponse | None = None

    # -- lifecycle -------------------------------------------------------------------

    @property
    def framework_id(self) -> FrameworkID | None:
        return self.framework_info.id

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Drop the stream and, if this client made it, its HTTP session."""
        self.disconnect()
        await self.follower.close()
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None

    def disconnect(self) -> None:
        """Cut the current SUBSCRIBE stream (the framework stays registered on the master)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64, ssl=self.ssl or True),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout),
            )
        return self._session

    # -- the event stream --------------------------------------------------------------

    async def subscribe(self, suppressed_roles: Iterable[str] = ()) -> AsyncIterator[Event]:
        """SUBSCRIBE and yield events until the stream ends (then raise `StreamLost`)."""
        call = calls.subscribe(self.framework_info, suppressed_roles)
        response = await self._open_stream(call)
        self._stream = response
        try:
            async for event in self._events(response):
                yield event
        finally:
            response.close()
            if self._stream is response:
                self._stream = None

    async def _open_stream(self, call: Call) -> aiohttp.ClientResponse:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.subscribe_timeout
        body = json.dumps(call.to_json(), separators=(",", ":"))
        headers = {"Content-Type": "application/json", "Accept": "application/json", **self._auth}
        base = await self._leader(deadline - loop.time())
        redirects, delay = 0, 0.1
        while True:
            try:
                response = await self._http().post(
                    base + SCHEDULER_PATH,
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(
                        total=None,
                        sock_connect=self.connect_timeout,
                        sock_read=None,
                    ),
                )
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                raise MasterUnavailable(f"cannot reach master at {base}: {_reason(e)}") from e
            if response.status == 200:
                self.leader_url = base
                self.stream_id = response.headers.get("Mesos-Stream-Id")
                return response
            text = (await response.text(errors="replace")).strip()
            response.release()
            if response.status in _REDIRECTS:
                redirects += 1
                location = response.headers.get("Location", "")
                if redirects > self.max_redirects or not location:
                    raise MasterUnavailable(
                        f"master at {base} redirected {redirects} times (last to {location!r})"
                    )
                base = _redirect_target(base, location)
                log.info("SUBSCRIBE redirected to the leading master at %s", base)
                continue
            if response.status == 503:
                if loop.time() + delay > deadline:
                    raise MasterUnavailable(
                        f"master at {base} has no leader (503) after "
                        f"{self.subscribe_timeout:.0f}s: {text}"
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                base = await self._leader(deadline - loop.time())
                continue
            raise CallError(response.status, text or (response.reason or ""), CallType.SUBSCRIBE)

    async def _leader(self, timeout: float) -> str:
        try:
            base = await self.follower.leader(max(timeout, 1.0))
        except TimeoutError:
            raise MasterUnavailable(f"no leading master found through {self.master}") from None
        if self.ssl is not None and base.startswith("http://"):
            base = "https://" + base[len("http://") :]  # libprocess SSL: every master speaks TLS
        return base

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[Event]:
        decoder = recordio.Decoder()
        # before SUBSCRIBED the heartbeat interval is unknown: allow a generous first wait
        timeout = max(self.subscribe_timeout, self.heartbeat_grace)
        while True:
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                async with asyncio.timeout(timeout):
                    chunk = await response.content.readany()
            except TimeoutError:
                raise StreamLost(
                    f"no event from the master at {self.leader_url} for {timeout:.1f}s "
                    "(heartbeats missed)"
                ) from None
            except (aiohttp.ClientError, OSError) as e:
                raise StreamLost(f"event stream broke: {_reason(e)}") from e
            if not chunk:
                raise StreamLost(f"the master at {self.leader_url} closed the event stream")
            try:
                payloads = list(decoder.feed(chunk))
            except WireError as e:
                raise StreamLost(f"event stream is not RecordIO: {e}") from e
            for payload in payloads:
                if self._stream is not response:
                    raise StreamLost("the event stream was cut by disconnect()")
                event = _decode_event(payload)
                if event is None:
                    continue
                if event.type is EventType.SUBSCRIBED and event.subscribed is not None:
                    self.framework_info = self.framework_info.replace(
                        id=event.subscribed.framework_id
                    )
                    self.heartbeat_interval = event.subscribed.heartbeat_interval_seconds
                    if self.heartbeat_interval:
                        timeout = (
                            self.heartbeat_interval * self.heartbeat_misses + self.heartbeat_grace
                        )
                yield event

    # -- calls ---------------------------------------------------------------------------

    async def call(self, call: Call) -> None:
        """POST one call with the stream id and framework id; raise CallError on non-2xx."""
        call = calls.with_framework(call, self.framework_id)
        headers = {"Content-Type": "application/json", "Accept": "application/json", **self._auth}
        if self.stream_id:
            headers["Mesos-Stream-Id"] = self.stream_id
        base = self.leader_url or await self._leader(self.call_timeout)
        body = json.dumps(call.to_json(), separators=(",", ":"))
        for _ in range(self.max_redirects + 1):
            try:
                async with self._http().post(
                    base + SCHEDULER_PATH,
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=self.call_timeout),
                ) as response:
                    text = (await response.text(errors="replace")).strip()
                    if 200 <= response.status < 300:
                        return
                    location = response.headers.get("Location", "")
                    if response.status == 503:
                        # the master lost (or has not yet gained) leadership: find the leader
                        # and re-subscribe rather than fail the framework
                        raise MasterUnavailable(f"{call.type.value}: {base} answered 503: {text}")
                    if response.status == 403 and call.type is not CallType.SUBSCRIBE:
                        # "Framework is not subscribed": this stream is over (e.g. a failover)
                        raise StreamLost(f"{call.type.value}: {base} answered 403: {text}")
                    if response.status not in _REDIRECTS or not location:
                        raise CallError(response.status, text or (response.reason or ""), call.type)
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                raise MasterUnavailable(
                    f"{call.type.value} to master at {base} failed: {_reason(e)}"
                ) from e
            base = _redirect_target(base, location)
        raise MasterUnavailable(f"{call.type.value}: too many redirects (last to {base})")

    async def accept(
        self,
        offer_ids: Iterable[OfferRef],
        operations: Iterable[Operation],
        filters: Filters | float | None = None,
    ) -> None:
        await self.call(calls.accept(offer_ids, operations, filters))

    async def launch(
        self,
        offer_ids: Iterable[OfferRef],
        tasks: Iterable[TaskInfo],
        filters: Filters | float | None = None,
    ) -> None:
        await self.accept(offer_ids, [calls.launch_operation(tasks)], filters)

    async def launch_group(
        self,
        offer_ids: Iterable[OfferRef],
        executor: ExecutorInfo,
        tasks: Iterable[TaskInfo],
        filters: Filters | float | None = None,
    ) -> None:
        await self.accept(offer_ids, [calls.launch_group_operation(executor, tasks)], filters)

    async def reserve(
        self,
        offer_ids: Iterable[OfferRef],
        resources: Iterable[Resource],
        filters: Filters | float | None = None,
    ) -> None:
        await self.accept(offer_ids, [calls.reserve_operation(resources)], filters)

    async def unreserve(
        self,
        offer_ids: Iterable[OfferRef],
        resources: Iterable[Resource],
        filters: Filters | float | None = None,
    ) -> None:
        await self.accept(offer_ids, [calls.unreserve_operation(resources)], filters)

    async def decline(
        self, offer_ids: Iterable[OfferRef], filters: Filters | float | None = None
    ) -> None:
        """DECLINE offers; `filters` may be a Filters record or refuse_seconds."""
        await self.call(calls.decline(offer_ids, filters))

    async def revive(self, roles: Iterable[str] = ()) -> None:
        await self.call(calls.revive(roles))

    async def suppress(self, roles: Iterable[str] = ()) -> None:
        await self.call(calls.suppress(roles))

    async def kill(
        self,
        task_id: TaskRef,
        agent_id: AgentRef | None = None,
        kill_policy: KillPolicy | None = None,
    ) -> None:
        await self.call(calls.kill(task_id, agent_id, kill_policy))

    async def shutdown(self, executor_id: ExecutorID | str, agent_id: AgentRef) -> None:
        await self.call(calls.shutdown(executor_id, agent_id))

    async def acknowledge(self, status: TaskStatus) -> None:
        await self.call(calls.acknowledge(status))

    async def reconcile(self, tasks: Iterable[tuple[TaskRef, AgentRef | None]] = ()) -> None:
        await self.call(calls.reconcile(tasks))

    async def message(self, agent_id: AgentRef, executor_id: ExecutorID | str, data: bytes) -> None:
        await self.call(calls.message(agent_id, executor_id, data))

    async def update_framework(
        self, framework_info: FrameworkInfo, suppressed_roles: Iterable[str] = ()
    ) -> None:
        """UPDATE_FRAMEWORK; the new info (with this framework's id) is kept for re-subscribing."""
        info = framework_info.replace(id=self.framework_id)
        await self.call(calls.update_framework(info, suppressed_roles))
        self.framework_info = info

    async def teardown(self) -> None:
        """TEARDOWN: the master kills the framework's tasks and forgets it."""
        await self.call(calls.teardown())


def _decode_event(payload: bytes) -> Event | None:
    try:
        return Event.from_json(json.loads(payload))
    except (ValueError, WireError) as e:
        # a newer master may send event types this client does not know: skip them
        log.warning("skipping an event this client cannot decode: %s", e)
        return None


def _redirect_target(base: str, location: str) -> str:
    """Mesos redirects with `Location: //host:port/api/v1/scheduler`: take its netloc."""
    parts = urlsplit(location)
    if not parts.netloc:
        return base
    scheme = parts.scheme or urlsplit(base).scheme or "http"
    return f"{scheme}://{parts.netloc}"


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__
