"""A raw v1 HTTP client for tests: posts calls and reads SUBSCRIBE streams (RecordIO via
mesos_runtime.wire.recordio) with plain aiohttp and JSON dicts, so the master's wire format
is tested independently of the project's own scheduler library."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from mesos_runtime.wire import recordio

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
Predicate = Callable[[dict[str, Any]], bool]


@dataclass
class Reply:
    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class EventStream:
    """An open SUBSCRIBE response; events are collected as they arrive."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.status = response.status
        self.headers = dict(response.headers)
        self.stream_id = response.headers.get("Mesos-Stream-Id", "")
        self.events: list[dict[str, Any]] = []
        self.raw_records: list[bytes] = []
        self.ended = False
        self._taken: set[int] = set()
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for record in recordio.read_records(self.response.content.iter_any()):
                self.raw_records.append(record)
                self.events.append(json.loads(record))
                self._changed.set()
        except (aiohttp.ClientError, asyncio.CancelledError):
            pass
        finally:
            self.ended = True
            self._changed.set()

    async def next(self, predicate: Predicate | str, timeout: float = 30.0) -> dict[str, Any]:
        """The first not-yet-taken event matching `predicate` (or of that type)."""
        if isinstance(predicate, str):
            kind = predicate
            predicate = lambda e: e.get("type") == kind  # noqa: E731
        async with asyncio.timeout(timeout):
            while True:
                for index, event in enumerate(self.events):
                    if index not in self._taken and predicate(event):
                        self._taken.add(index)
                        return event
                if self.ended:
                    raise AssertionError(f"stream ended; events: {self.events}")
                self._changed.clear()
                await self._changed.wait()

    async def wait_ended(self, timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while not self.ended:
                self._changed.clear()
                await self._changed.wait()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        self.response.close()


class V1Client:
    """Calls to one master, over one aiohttp session (streams get their own connection);
    `auth` (principal, secret) is sent as HTTP Basic, `ssl` is the TLS context."""

    def __init__(self, url: str, auth: tuple[str, str] | None = None, ssl: Any = None) -> None:
        self.url = url.rstrip("/")
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None),
            connector=aiohttp.TCPConnector(ssl=ssl if ssl is not None else True),
        )
        self.auth: dict[str, str] = {}
        if auth is not None:
            pair = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            self.auth = {"Authorization": f"Basic {pair}"}
        self._streams: list[EventStream] = []

    async def close(self) -> None:
        for stream in self._streams:
            await stream.close()
        await self.session.close()

    async def __aenter__(self) -> V1Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def post(
        self,
        path: str,
        body: Any = None,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        method: str = "POST",
    ) -> Reply:
        payload = data if data is not None else json.dumps(body).encode()
        headers = {**self.auth, **(JSON_HEADERS if headers is None else headers)}
        async with self.session.request(
            method,
            self.url + path,
            data=payload if method == "POST" else None,
            headers=headers,
            skip_auto_headers=() if "Content-Type" in headers else ("Content-Type",),
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            return Reply(response.status, await response.text(), dict(response.headers))

    async def get(self, path: str) -> Reply:
        return await self.post(path, method="GET", headers={})

    async def get_json(self, path: str) -> Any:
        reply = await self.get(path)
        assert reply.status == 200, reply
        return reply.json()

    async def operator(self, call: dict[str, Any]) -> Any:
        reply = await self.post("/api/v1", call)
        assert reply.status == 200, reply
        return reply.json() if reply.body else None

    async def open_stream(
        self, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> EventStream:
        response = await self.session.post(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={**self.auth, **(headers or JSON_HEADERS)},
        )
        stream = EventStream(response)
        self._streams.append(stream)
        return stream

    async def subscribe(self, framework_info: dict[str, Any], **subscribe: Any) -> Framework:
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info, **subscribe}}
        if "id" in framework_info:
            body["framework_id"] = framework_info["id"]
        stream = await self.open_stream("/api/v1/scheduler", body)
        assert stream.status == 200, await stream.response.text()
        subscribed = await stream.next("SUBSCRIBED")
        return Framework(self, stream, subscribed["subscribed"]["framework_id"]["value"])


def framework_info(name: str = "test-framework", **extra: Any) -> dict[str, Any]:
    return {"user": "root", "name": name, **extra}


class Framework:
    """A subscribed framework: its stream and call helpers that fill in ids."""

    def __init__(self, client: V1Client, stream: EventStream, framework_id: str) -> None:
        self.client = client
        self.stream = stream
        self.id = framework_id

    async def call(self, kind: str, **payload: Any) -> Reply:
        body = {"framework_id": {"value": self.id}, "type": kind, **payload}
        return await self.client.post(
            "/api/v1/scheduler",
            body,
            headers={**JSON_HEADERS, "Mesos-Stream-Id": self.stream.stream_id},
        )

    async def offers(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        event = await self.stream.next("OFFERS", timeout)
        return event["offers"]["offers"]

    async def update(self, task_id: str, state: str | None = None, timeout: float = 30.0) -> dict:
        def match(e: dict[str, Any]) -> bool:
            if e.get("type") != "UPDATE":
                return False
            status = e["update"]["status"]
            return status["task_id"]["value"] == task_id and (
                state is None or status["state"] == state
            )

        event = await self.stream.next(match, timeout)
        return event["update"]["status"]

    async def acknowledged(self, task_id: str, state: str, timeout: float = 60.0) -> dict:
        """Acknowledge the task's updates (an agent sends the next only then) up to `state`."""
        while True:
            status = await self.update(task_id, timeout=timeout)
            if "uuid" in status:
                await self.acknowledge(status)
            if status["state"] == state:
                return status

    async def acknowledge(self, status: dict[str, Any]) -> Reply:
        return await self.call(
            "ACKNOWLEDGE",
            acknowledge={
                "agent_id": status["agent_id"],
                "task_id": status["task_id"],
                "uuid": status["uuid"],
            },
        )

    async def launch(self, offer: dict[str, Any], *tasks: dict[str, Any], **accept: Any) -> Reply:
        return await self.call(
            "ACCEPT",
            accept={
                "offer_ids": [offer["id"]],
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": list(tasks)}}],
                **accept,
            },
        )

    async def decline(self, offer: dict[str, Any], refuse_seconds: float | None = None) -> Reply:
        decline: dict[str, Any] = {"offer_ids": [offer["id"]]}
        if refuse_seconds is not None:
            decline["filters"] = {"refuse_seconds": refuse_seconds}
        return await self.call("DECLINE", decline=decline)


def task_info(
    task_id: str, offer: dict[str, Any], command: str, cpus: float = 0.1, mem: float = 32
) -> dict[str, Any]:
    role = offer.get("allocation_info", {}).get("role", "*")
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": offer["agent_id"],
        "resources": [
            scalar("cpus", cpus, role),
            scalar("mem", mem, role),
        ],
        "command": {"value": command},
    }


def scalar(name: str, value: float, role: str = "*") -> dict[str, Any]:
    return {
        "name": name,
        "type": "SCALAR",
        "scalar": {"value": value},
        "allocation_info": {"role": role},
    }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class AgentChannel:
    """The agent's side of `/agent/v1` spoken raw (see docs/agent-channel.md): lets master
    tests drive registration, status updates and pings exactly as an agent would."""

    def __init__(
        self, client: V1Client, stream: EventStream, agent_id: str, session: str | None = None
    ) -> None:
        self.client = client
        self.stream = stream
        self.id = agent_id
        self.session = session  # channel version 3: carried by every call
        self._ponger: asyncio.Task[None] | None = None

    @classmethod
    async def register(
        cls,
        client: V1Client,
        hostname: str = "127.0.0.1",
        resources: str = "cpus:2;mem:1024;disk:1000;ports:[31000-31099]",
        *,
        agent_id: str | None = None,
        port: int = 5051,
        pong: bool = True,
        version: int = 1,
        **subscribe: Any,
    ) -> AgentChannel:
        from mesos_runtime.wire.resources import Resources

        info: dict[str, Any] = {
            "hostname": hostname,
            "port": port,
            "resources": [r.to_json() for r in Resources.parse(resources).to_wire()],
        }
        if agent_id is not None:
            info["id"] = {"value": agent_id}
        body = {
            "type": "SUBSCRIBE",
            "subscribe": {"agent_info": info, "version": version, **subscribe},
        }
        stream = await client.open_stream("/agent/v1", body)
        assert stream.status == 200, await stream.response.text()
        registered = await stream.next(lambda e: e["type"] in ("REGISTERED", "SHUTDOWN"))
        if registered["type"] == "SHUTDOWN":
            return cls(client, stream, agent_id or "")
        channel = cls(
            client,
            stream,
            registered["registered"]["agent_id"]["value"],
            registered["registered"].get("session"),
        )
        if pong:
            channel._ponger = asyncio.create_task(channel._pong_forever())
        return channel

    async def _pong_forever(self) -> None:
        with contextlib.suppress(AssertionError, aiohttp.ClientError):
            while True:
                await self.stream.next("PING", timeout=3600)
                await self.call("PONG")

    async def call(self, kind: str, **payload: Any) -> Reply:
        body = {"type": kind, "agent_id": {"value": self.id}, **payload}
        if self.session is not None:
            body["session"] = self.session
        return await self.client.post("/agent/v1", body)

    async def update(
        self, framework_id: str, task_id: str, state: str, uuid: bytes | None, **status: Any
    ) -> Reply:
        body: dict[str, Any] = {
            "task_id": {"value": task_id},
            "state": state,
            "source": "SOURCE_EXECUTOR",
            "agent_id": {"value": self.id},
            **status,
        }
        if uuid is not None:
            body["uuid"] = b64(uuid)
        return await self.call(
            "UPDATE", update={"framework_id": {"value": framework_id}, "status": body}
        )

    async def close(self) -> None:
        if self._ponger is not None:
            self._ponger.cancel()
        await self.stream.close()
