"""What the Ansible tests check on a deployed cluster, as a user sees it: ZooKeeper modes
(`srvr`), the leading master, registered agents with their resources, and long tasks
launched by a framework on every agent (raw v1 scheduler API, tests/harness/v1_client).
The masters are reached with an `Access`: plain HTTP, or (the roles' default) HTTPS against
the cluster's CA with the operator's client certificate and credentials."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.daemons import http_json
from tests.harness.v1_client import V1Client, framework_info, task_info


def zookeeper_mode(ip: str, port: int = 2181, timeout: float = 3.0) -> str | None:
    """`leader`, `follower`, ... from `srvr`; None when the member does not serve."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(b"srvr")
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
    except OSError:
        return None
    for line in answer.decode(errors="replace").splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


get_json = http_json  # GET, or POST of a JSON body, plain HTTP


@dataclass(frozen=True)
class Access:
    """How a client reaches the masters and agents: plain HTTP (no `context`), or HTTPS
    verified against the cluster's CA, showing a client certificate, and HTTP Basic as
    `principal` when `secret` is given."""

    context: ssl.SSLContext | None = None
    principal: str | None = None
    secret: str | None = None

    @classmethod
    def of_secrets(cls, secrets: Path, principal: str = "operator") -> Access:
        """As the operator, with the files the roles made on the controller (common's
        secrets_generate.yml): the CA, operator.crt/.key and credentials/<principal>."""
        context = ssl.create_default_context(cafile=str(secrets / "ca" / "ca.crt"))
        context.load_cert_chain(str(secrets / "operator.crt"), str(secrets / "operator.key"))
        secret = (secrets / "credentials" / principal).read_text().strip()
        return cls(context, principal, secret)

    def anonymous(self) -> Access:
        """The same transport (TLS and client certificate), without credentials."""
        return Access(self.context)

    @property
    def scheme(self) -> str:
        return "https" if self.context is not None else "http"

    def url(self, ip: str, port: int = 5050) -> str:
        return f"{self.scheme}://{ip}:{port}"

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.secret is not None:
            pair = base64.b64encode(f"{self.principal}:{self.secret}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        return headers

    def get_json(self, url: str, body: Any = None, timeout: float = 10.0) -> Any:
        """GET, or POST of a JSON body; an HTTPError (401, 403, ...) is raised as is."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers=self.headers())
        with urllib.request.urlopen(request, timeout=timeout, context=self.context) as response:
            raw = response.read()
            return json.loads(raw) if raw else None

    def status(self, url: str, body: Any = None) -> int:
        """The HTTP status a GET (or POST of `body`) gets."""
        try:
            self.get_json(url, body)
        except urllib.error.HTTPError as e:
            return e.code
        return 200

    def v1_client(self, url: str) -> V1Client:
        auth = (self.principal or "", self.secret) if self.secret is not None else None
        return V1Client(url, auth=auth, ssl=self.context)


PLAIN = Access()


def leading_masters(access: Access, ips: Sequence[str], port: int = 5050) -> list[str]:
    """The masters that say they lead (`master/elected` in /metrics/snapshot)."""
    leaders = []
    for ip in ips:
        try:
            metrics = access.get_json(access.url(ip, port) + "/metrics/snapshot")
        except (urllib.error.URLError, OSError, ValueError):
            continue
        if metrics.get("master/elected") == 1.0:
            leaders.append(ip)
    return leaders


def leader_url(access: Access, ips: Sequence[str], port: int = 5050) -> str | None:
    leaders = leading_masters(access, ips, port)
    return access.url(leaders[0], port) if len(leaders) == 1 else None


def agents(access: Access, leader: str) -> list[dict[str, Any]]:
    reply = access.get_json(leader + "/api/v1", {"type": "GET_AGENTS"})
    return reply["get_agents"].get("agents", [])


def agent_ip(agent: dict[str, Any]) -> str:
    return agent["pid"].split("@")[-1].split(":")[0]


def task_states(access: Access, leader: str) -> dict[str, str]:
    tasks = access.get_json(leader + "/api/v1", {"type": "GET_TASKS"})["get_tasks"]
    return {t["task_id"]["value"]: t["state"] for t in tasks.get("tasks", [])}


def launch_on_every_agent(
    access: Access,
    leader: str,
    prefix: str,
    command: str = "sleep 3600",
    *,
    timeout: float = 60.0,
    skip: Sequence[str] = (),
) -> dict[str, str]:
    """One task per agent (but those at the addresses in `skip`), RUNNING; returns task id
    -> agent id. The framework then disconnects: its failover timeout keeps it, and its
    tasks, alive (their updates stay unacknowledged: such an agent would never be DRAINED)."""
    with AckingFramework(access, leader, prefix, keep_tasks=True) as framework:
        return framework.launch_on_every_agent(command, timeout, skip=skip)


def run_on_every_agent(
    access: Access, leader: str, name: str, command: str, timeout: float = 60.0
) -> dict:
    """One task per agent, run to TASK_FINISHED and acknowledged; task id -> agent id."""
    with AckingFramework(access, leader, name) as framework:
        launched = framework.launch_on_every_agent(command, timeout)
        framework.wait(launched, "TASK_FINISHED", timeout)
        return launched


class AckingFramework:
    """A framework that stays connected on a thread of its own: it launches tasks and
    acknowledges every status update (a drain completes only once they are), keeping
    each task's (state, reason) history."""

    def __init__(self, access: Access, leader: str, name: str, *, keep_tasks: bool = False) -> None:
        self.access = access
        self.leader = leader
        self.name = name
        self.keep_tasks = keep_tasks  # on exit: disconnect only (no TEARDOWN)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.history: dict[str, list[tuple[str, str | None]]] = {}
        self._client: V1Client | None = None
        self._framework: Any = None
        self._acker: asyncio.Task[None] | None = None

    def __enter__(self) -> AckingFramework:
        self.thread.start()
        self._call(self._subscribe())
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def _call(self, coroutine: Any, timeout: float = 120.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _subscribe(self) -> None:
        self._client = self.access.v1_client(self.leader)
        self._framework = await self._client.subscribe(
            framework_info(
                self.name,
                capabilities=[{"type": "TASK_KILLING_STATE"}],
                failover_timeout=3600.0,
                checkpoint=True,
                # an authenticated framework registers as the principal it authenticated as
                **({"principal": self.access.principal} if self.access.principal else {}),
            )
        )
        self._acker = asyncio.create_task(self._acknowledge())

    async def _acknowledge(self) -> None:
        while True:
            event = await self._framework.stream.next("UPDATE", timeout=3600)
            status = event["update"]["status"]
            history = self.history.setdefault(status["task_id"]["value"], [])
            history.append((status["state"], status.get("reason")))
            if "uuid" in status:
                await self._framework.acknowledge(status)

    async def _close(self) -> None:
        if self._acker is not None:
            self._acker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._acker
        if self._framework is not None and not self.keep_tasks:
            await self._framework.call("TEARDOWN")
        if self._client is not None:
            await self._client.close()

    async def _launch(self, agent_ids: set[str], command: str, timeout: float) -> dict[str, str]:
        launched: dict[str, str] = {}
        async with asyncio.timeout(timeout):
            while set(launched.values()) != agent_ids:
                for offer in await self._framework.offers():
                    agent_id = offer["agent_id"]["value"]
                    if agent_id in agent_ids and agent_id not in launched.values():
                        task_id = f"{self.name}-{len(launched)}"
                        await self._framework.launch(offer, task_info(task_id, offer, command))
                        launched[task_id] = agent_id
                    else:
                        await self._framework.decline(offer, refuse_seconds=3600)
            while not all(
                ("TASK_RUNNING", None) in self.history.get(t, [])
                or any(s == "TASK_RUNNING" for s, _ in self.history.get(t, []))
                for t in launched
            ):
                await asyncio.sleep(0.1)
        return launched

    def launch_on_every_agent(
        self, command: str, timeout: float = 60.0, skip: Sequence[str] = ()
    ) -> dict[str, str]:
        agent_ids = {
            a["agent_info"]["id"]["value"]
            for a in agents(self.access, self.leader)
            if agent_ip(a) not in skip
        }
        return self._call(self._launch(agent_ids, command, timeout), timeout + 10)

    def wait(self, task_ids: Sequence[str], state: str, timeout: float = 60.0) -> None:
        async def reached() -> None:
            async with asyncio.timeout(timeout):
                while not all(self._reached(t, state) for t in task_ids):
                    await asyncio.sleep(0.1)

        self._call(reached(), timeout + 10)

    def _reached(self, task_id: str, state: str) -> bool:
        return any(seen == state for seen, _reason in self.history.get(task_id, []))

    def states(self, task_id: str) -> list[tuple[str, str | None]]:
        return list(self.history.get(task_id, []))


def marathon_leaders(
    ips: Sequence[str], access: Access = PLAIN, port: int = 8080
) -> set[str | None]:
    """The leader each Marathon instance names on /v2/leader (None: it answers none);
    secured (the roles' default), Marathon is HTTPS only on 8443 and needs credentials."""
    named: set[str | None] = set()
    for ip in ips:
        try:
            named.add(access.get_json(access.url(ip, port) + "/v2/leader")["leader"])
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            named.add(None)
    return named


def marathon_leader(ips: Sequence[str], access: Access = PLAIN, port: int = 8080) -> str | None:
    """`http(s)://leader:port` once every instance names the same leader, one of `ips`."""
    named = marathon_leaders(ips, access, port)
    if len(named) != 1 or None in named:
        return None
    (leader,) = named
    host = str(leader).rsplit(":", 1)[0]
    return f"{access.scheme}://{leader}" if host in ips else None
