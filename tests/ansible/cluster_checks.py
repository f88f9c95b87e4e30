"""What the Ansible tests check on a deployed cluster, as a user sees it: ZooKeeper modes
(`srvr`), the leading master, registered agents with their resources, and long tasks
launched by a framework on every agent (raw v1 scheduler API, tests/harness/v1_client)."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

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


def get_json(url: str, body: Any = None, timeout: float = 5.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", "Accept": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def leading_masters(ips: Sequence[str], port: int = 5050) -> list[str]:
    """The masters that say they lead (`master/elected` in /metrics/snapshot)."""
    leaders = []
    for ip in ips:
        try:
            metrics = get_json(f"http://{ip}:{port}/metrics/snapshot")
        except (urllib.error.URLError, OSError, ValueError):
            continue
        if metrics.get("master/elected") == 1.0:
            leaders.append(ip)
    return leaders


def leader_url(ips: Sequence[str], port: int = 5050) -> str | None:
    leaders = leading_masters(ips, port)
    return f"http://{leaders[0]}:{port}" if len(leaders) == 1 else None


def agents(leader: str) -> list[dict[str, Any]]:
    return get_json(leader + "/api/v1", {"type": "GET_AGENTS"})["get_agents"].get("agents", [])


def agent_ip(agent: dict[str, Any]) -> str:
    return agent["pid"].split("@")[-1].split(":")[0]


def task_states(leader: str) -> dict[str, str]:
    tasks = get_json(leader + "/api/v1", {"type": "GET_TASKS"})["get_tasks"]
    return {t["task_id"]["value"]: t["state"] for t in tasks.get("tasks", [])}


async def _launch_on_every_agent(
    leader: str, agent_ids: set[str], prefix: str, command: str, timeout: float
) -> dict[str, str]:
    """One task per agent; returns task id -> agent id once every task is RUNNING. The
    framework then disconnects: its failover timeout keeps it (and its tasks) alive."""
    async with V1Client(leader) as client:
        framework = await client.subscribe(
            framework_info(f"{prefix}-framework", failover_timeout=3600.0, checkpoint=True)
        )
        launched: dict[str, str] = {}
        async with asyncio.timeout(timeout):
            while set(launched.values()) != agent_ids:
                for offer in await framework.offers():
                    agent_id = offer["agent_id"]["value"]
                    if agent_id in agent_ids and agent_id not in launched.values():
                        task_id = f"{prefix}-{len(launched)}"
                        await framework.launch(offer, task_info(task_id, offer, command))
                        launched[task_id] = agent_id
                    else:
                        await framework.decline(offer, refuse_seconds=3600)
            running: set[str] = set()
            while running != set(launched):
                event = await framework.stream.next("UPDATE", timeout)
                status = event["update"]["status"]
                if "uuid" in status:
                    await framework.acknowledge(status)
                if status["state"] == "TASK_RUNNING":
                    running.add(status["task_id"]["value"])
                elif status["state"] not in ("TASK_STAGING", "TASK_STARTING"):
                    raise AssertionError(f"task {status['task_id']['value']}: {status}")
        return launched


def launch_on_every_agent(
    leader: str, prefix: str, command: str = "sleep 3600", timeout: float = 60.0
) -> dict[str, str]:
    agent_ids = {a["agent_info"]["id"]["value"] for a in agents(leader)}
    assert agent_ids, "no agents registered"
    return asyncio.run(_launch_on_every_agent(leader, agent_ids, prefix, command, timeout))
