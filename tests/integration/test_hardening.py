"""Hostile input against real master and agent daemons (issue 11, findings 1, 3, 6, 7, 9):
each probe that once got through — ids that become paths, non-finite numbers, NUL or '='
in a command, unbounded fields and connections, deep JSON, lone surrogates — now gets a 4xx
naming what is wrong, and the daemons keep serving everyone else."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.harness import daemons
from tests.harness.v1_client import (
    JSON_HEADERS,
    AgentChannel,
    V1Client,
    framework_info,
    task_info,
)

pytestmark = pytest.mark.integration

SUBSCRIBE_PATH = "/api/v1/scheduler"


def _subscribe_body(info: dict[str, Any]) -> dict[str, Any]:
    return {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}


def _raw(body: str) -> bytes:
    return body.encode()


async def _state(client: V1Client) -> dict[str, Any]:
    return await client.get_json("/master/state")


# --- finding 1: ids become paths ------------------------------------------------------


@pytest.mark.parametrize("framework_id", ["/tmp/x", "..", "../../x", "a\u0000b"])
async def test_a_framework_id_that_is_not_a_path_component_is_refused(
    client: V1Client, framework_id: str
) -> None:
    info = framework_info(id={"value": framework_id})
    reply = await client.post(SUBSCRIBE_PATH, _subscribe_body(info))
    assert reply.status == 400
    assert "subscribe.framework_info.id.value" in reply.body
    assert (await _state(client))["frameworks"] == []


async def test_an_agent_id_that_is_not_a_path_component_is_refused(client: V1Client) -> None:
    body = {
        "type": "SUBSCRIBE",
        "subscribe": {"agent_info": {"hostname": "h", "id": {"value": "../../x"}}},
    }
    reply = await client.post("/agent/v1", body)
    assert reply.status == 400
    assert "subscribe.agent_info.id.value" in reply.body
    assert (await _state(client))["slaves"] == []


async def test_the_executor_api_refuses_ids_that_are_not_path_components(agent) -> None:
    call = {
        "type": "SUBSCRIBE",
        "framework_id": {"value": "../../etc"},
        "executor_id": {"value": "e"},
        "subscribe": {},
    }
    async with V1Client(agent.url) as raw:
        reply = await raw.post("/api/v1/executor", call)
    assert reply.status == 400
    assert "framework_id.value" in reply.body


# --- finding 3: non-finite numbers ----------------------------------------------------------


@pytest.mark.parametrize("cpus", ["Infinity", "NaN", '"inf"', '"nan"', "1e999"])
async def test_an_agent_offering_non_finite_cpus_is_refused_and_allocation_goes_on(
    client: V1Client, cpus: str
) -> None:
    bad = (
        '{"type": "SUBSCRIBE", "subscribe": {"version": 1, "agent_info": {"hostname": "h",'
        ' "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": ' + cpus + "}}]}}}"
    )
    reply = await client.post("/agent/v1", data=_raw(bad))
    assert reply.status == 400, reply
    assert (await _state(client))["slaves"] == []

    channel = await AgentChannel.register(client)
    framework = await client.subscribe(framework_info())
    offer = (await framework.offers())[0]
    assert (await framework.decline(offer, refuse_seconds=0)).status == 202
    assert (await framework.offers())[0]["agent_id"]["value"] == channel.id
    await channel.close()


@pytest.mark.parametrize("timeout", ["NaN", '"nan"', "Infinity", "1e999"])
async def test_a_non_finite_failover_timeout_is_refused_and_the_registry_stays_json(
    master: daemons.Daemon, client: V1Client, timeout: str
) -> None:
    body = (
        '{"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "root", "name": "f",'
        ' "failover_timeout": ' + timeout + "}}}"
    )
    reply = await client.post(SUBSCRIBE_PATH, data=_raw(body))
    assert reply.status == 400
    assert "failover_timeout" in reply.body or "finite" in reply.body
    await client.subscribe(framework_info("after"))
    # strict JSON: no bare NaN/Infinity anywhere in what the master keeps or serves
    state_text = (await client.get("/master/state")).body
    json.loads(state_text, parse_constant=lambda c: pytest.fail(f"{c} in /master/state"))
    registry = (master.work_dir / "registry.json").read_text()
    json.loads(registry, parse_constant=lambda c: pytest.fail(f"{c} in the registry"))


async def test_a_task_asking_for_infinite_cpus_is_refused(client: V1Client) -> None:
    await AgentChannel.register(client)
    framework = await client.subscribe(framework_info())
    offer = (await framework.offers())[0]
    task = task_info("t", offer, "true")
    task["resources"][0]["scalar"]["value"] = "Infinity"
    reply = await framework.launch(offer, task)
    assert reply.status == 400
    assert "finite" in reply.body


async def test_a_maintenance_window_with_a_negative_duration_is_refused(
    client: V1Client,
) -> None:
    call = {
        "type": "UPDATE_MAINTENANCE_SCHEDULE",
        "update_maintenance_schedule": {
            "schedule": {
                "windows": [
                    {
                        "machine_ids": [{"hostname": "h1"}],
                        "unavailability": {
                            "start": {"nanoseconds": 1},
                            "duration": {"nanoseconds": -5},
                        },
                    }
                ]
            }
        },
    }
    reply = await client.post("/api/v1", call)
    assert reply.status == 400
    assert "duration" in reply.body
    schedule = await client.operator({"type": "GET_MAINTENANCE_SCHEDULE"})
    assert schedule["get_maintenance_schedule"]["schedule"] == {}


# --- finding 6: NUL or '=' in what a task runs -------------------------------------------------


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ({"value": "echo a\u0000b"}, "TaskInfo.command.value"),
        ({"shell": False, "value": "/bin/echo", "arguments": ["echo", "a\u0000"]}, "arguments[1]"),
        (
            {"value": "true", "environment": {"variables": [{"name": "A=B", "value": "x"}]}},
            "environment.variables[0].name",
        ),
        (
            {"value": "true", "environment": {"variables": [{"name": "A", "value": "x\u0000"}]}},
            "environment.variables[0].value",
        ),
    ],
)
async def test_nul_or_equals_in_a_command_is_a_task_error_naming_the_field(
    client: V1Client, agent: daemons.Daemon, command: dict[str, Any], field: str
) -> None:
    framework = await client.subscribe(framework_info())
    offer = (await framework.offers())[0]
    task = task_info("bad", offer, "true")
    task["command"] = command
    assert (await framework.launch(offer, task, filters={"refuse_seconds": 0})).status == 202
    status = await framework.update("bad")
    assert status["state"] == "TASK_ERROR"
    assert field in status["message"]
    # nothing was taken on the agent: its whole cpus come back in the next offer
    again = (await framework.offers())[0]
    assert sum(r["scalar"]["value"] for r in again["resources"] if r["name"] == "cpus") == 4


# --- finding 7: unbounded fields and connections ----------------------------------------------


async def test_a_huge_framework_name_is_refused_by_name_and_a_huger_body_by_size(
    client: V1Client,
) -> None:
    reply = await client.post(SUBSCRIBE_PATH, _subscribe_body(framework_info("n" * (1 << 20))))
    assert reply.status == 400
    assert "framework_info.name' is longer than" in reply.body
    reply = await client.post(SUBSCRIBE_PATH, _subscribe_body(framework_info("n" * (40 << 20))))
    assert reply.status == 413
    assert "larger than" in reply.body
    assert (await _state(client))["frameworks"] == []


async def test_idle_connections_do_not_starve_health_agents_or_frameworks(tmp_path: Path) -> None:
    master = daemons.master(tmp_path / "master", "--heartbeat_interval=1secs")
    master.nofile = 256
    with daemons.running(master):
        async with V1Client(master.url) as client:
            channel = await AgentChannel.register(client)
            framework = await client.subscribe(framework_info())
            await framework.offers()
            idle = []
            try:
                for _ in range(300):
                    sock = socket.socket()
                    sock.setblocking(False)
                    try:
                        await asyncio.get_running_loop().sock_connect(
                            sock, ("127.0.0.1", master.port)
                        )
                    except OSError:
                        sock.close()
                        continue
                    idle.append(sock)
                # new clients are still served, and the streams opened before still flow
                health = await client.get("/health")
                assert health.status == 200
                beats = len(framework.stream.of_type("HEARTBEAT"))
                await framework.stream.next(
                    lambda e: (
                        e["type"] == "HEARTBEAT"
                        and len(framework.stream.of_type("HEARTBEAT")) > beats
                    ),
                    timeout=10,
                )
                pong = await channel.call("PONG")
                assert pong.status == 202
                state = await _state(client)
                assert [a["id"] for a in state["slaves"]] == [channel.id]
            finally:
                for sock in idle:
                    sock.close()


# --- finding 9: deep JSON and lone surrogates ----------------------------------------------------


async def test_deeply_nested_json_is_a_400_on_every_post_endpoint(
    client: V1Client, agent: daemons.Daemon
) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    for path in (SUBSCRIBE_PATH, "/api/v1", "/agent/v1"):
        reply = await client.post(path, data=deep)
        assert (reply.status, "nested deeper" in reply.body) == (400, True), (path, reply)
    async with V1Client(agent.url) as raw:
        reply = await raw.post("/api/v1/executor", data=deep)
    assert (reply.status, "nested deeper" in reply.body) == (400, True), reply
    assert (await client.get("/health")).status == 200


async def test_a_lone_surrogate_in_a_name_is_refused_and_the_master_keeps_serving(
    client: V1Client,
) -> None:
    info = '{"user": "root", "name": "\\ud800"}'
    body = '{"type": "SUBSCRIBE", "subscribe": {"framework_info": ' + info + "}}"
    reply = await client.post(SUBSCRIBE_PATH, data=_raw(body), headers=JSON_HEADERS)
    assert reply.status == 400
    assert "surrogate" in reply.body
    for path in ("/", "/master/state"):
        assert (await client.get(path)).status == 200


async def test_a_user_name_with_control_characters_is_refused(client: V1Client) -> None:
    reply = await client.post(SUBSCRIBE_PATH, _subscribe_body(framework_info(user="root\n")))
    assert reply.status == 400
    assert "framework_info.user" in reply.body


# --- finding 9: status updates delivered twice (investigated: see docs/security.md) --------


async def test_status_updates_arrive_once_in_a_quiet_run_and_across_an_agent_restart(
    tmp_path: Path,
) -> None:
    """With a 1 s retry interval any resend of an acknowledged update would show within
    the window: every update reaches the framework exactly once, before and after the
    agent is killed and restarted (its acknowledgements all landed before the kill)."""
    master = daemons.master(tmp_path / "master")
    agent = daemons.agent(
        tmp_path / "agent",
        master.address,
        "--resources=cpus:2;mem:1024;disk:100",
        "--isolation=posix/cpu,posix/mem",
        "--status_update_retry_interval=1secs",
    )
    with daemons.running(master, agent):
        daemons.wait_until(lambda: daemons.registered_agents(master))
        async with V1Client(master.url) as client:
            framework = await client.subscribe(framework_info(checkpoint=True, failover_timeout=60))
            offer = (await framework.offers())[0]
            tasks = [task_info(f"t{i}", offer, "sleep 4", cpus=0.1) for i in range(4)]
            await framework.launch(offer, *tasks)
            seen: list[tuple[str, str, str]] = []

            async def acknowledge_all() -> None:
                while True:
                    status = (await framework.stream.next("UPDATE", 120))["update"]["status"]
                    seen.append((status["task_id"]["value"], status["state"], status["uuid"]))
                    await framework.acknowledge(status)

            acker = asyncio.create_task(acknowledge_all())
            try:
                await daemons.eventually(lambda: len(seen) == 8, 30, message="RUNNING x4")
                await asyncio.sleep(2.5)  # two retry intervals: nothing may come again
                agent.restart()
                await daemons.eventually(lambda: len(seen) >= 12, 60, message="FINISHED x4")
                await asyncio.sleep(2.5)
            finally:
                acker.cancel()
        assert len(seen) == len(set(seen)) == 12, seen
        assert sorted(state for _, state, _ in seen) == sorted(
            ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"] * 4
        )
