"""Authorization with Mesos' `--acls`, per ACL kind and principal, against real daemons
(issue 11): who may register in which role, run tasks as which user, tear down which
frameworks, view which frameworks, tasks, executors and flags, read which endpoints and
sandboxes, register agents and take machines into maintenance. Refusals are 403s naming
the principal (tasks: TASK_ERROR with REASON_TASK_UNAUTHORIZED)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mesos_runtime.security.authentication import basic_header
from mesos_runtime.wire.mesos import Credential
from tests.harness import daemons
from tests.harness.v1_client import AgentChannel, V1Client, framework_info, task_info
from tests.integration.test_agent_tasks import kill_leftover_tasks

pytestmark = pytest.mark.integration

PRINCIPALS = ("kafka", "spark", "ops", "agent")
OPS_ANY = [{"principals": {"values": ["ops"]}, "machines": {"type": "ANY"}}]
ACLS: dict[str, Any] = {
    "permissive": False,
    "register_frameworks": [
        {"principals": {"values": ["kafka"]}, "roles": {"values": ["kafka"]}},
        {"principals": {"values": ["spark"]}, "roles": {"values": ["spark"]}},
        {"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}},
    ],
    "run_tasks": [
        {"principals": {"values": ["kafka", "spark"]}, "users": {"values": ["nobody"]}},
        {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
    ],
    "teardown_frameworks": [
        {"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}}
    ],
    **{
        kind: [
            {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
            {"principals": {"values": ["kafka"]}, "users": {"values": ["kafka-user"]}},
        ]
        for kind in ("view_frameworks", "view_tasks", "view_executors", "access_sandboxes")
    },
    "view_flags": [{"principals": {"values": ["ops"]}, "flags": {"type": "ANY"}}],
    "get_endpoints": [
        {"principals": {"values": ["ops"]}, "paths": {"values": ["/metrics/snapshot"]}}
    ],
    "register_agents": [{"principals": {"values": ["agent"]}, "agents": {"type": "ANY"}}],
    "update_maintenance_schedules": OPS_ANY,
    "start_maintenances": OPS_ANY,
    "stop_maintenances": OPS_ANY,
    "get_maintenance_schedules": OPS_ANY,
    "get_maintenance_statuses": OPS_ANY,
    **{
        kind: [
            {"principals": {"values": ["ops"]}, "agents": {"type": "ANY"}},
            {"principals": {"values": ["kafka"]}, "agents": {"values": ["kafka-host"]}},
        ]
        for kind in ("drain_agents", "deactivate_agents", "reactivate_agents", "mark_agents_gone")
    },
}


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[daemons.Daemon]:
    root = tmp_path_factory.mktemp("authz")
    credentials = root / "credentials.json"
    credentials.write_text(
        json.dumps({"credentials": [{"principal": p, "secret": p + "-s"} for p in PRINCIPALS]})
    )
    # credentials known but not required: an unauthenticated request is a subject of ANY
    m = daemons.master(
        root / "master", f"--credentials={credentials}", f"--acls={json.dumps(ACLS)}"
    ).start()
    try:
        yield m
    finally:
        m.stop()


def _as(master: daemons.Daemon, principal: str | None) -> V1Client:
    return V1Client(master.url, auth=None if principal is None else (principal, principal + "-s"))


def _subscribe_body(principal: str | None, **info: Any) -> dict[str, Any]:
    return {
        "type": "SUBSCRIBE",
        "subscribe": {"framework_info": framework_info(principal=principal, **info)},
    }


@pytest.mark.parametrize(
    ("principal", "role", "status"),
    [
        ("kafka", "kafka", 200),
        ("kafka", "spark", 403),
        ("spark", "spark", 200),
        ("ops", "anything", 200),
        (None, "kafka", 403),
    ],
)
async def test_register_frameworks_by_role(master, principal, role, status) -> None:
    async with _as(master, principal) as client:
        if status == 200:
            framework = await client.subscribe(framework_info(principal=principal, role=role))
            assert (await framework.call("TEARDOWN")).status == 202
            return
        reply = await client.post("/api/v1/scheduler", _subscribe_body(principal, role=role))
        assert reply.status == 403
        assert f"not authorized to register in role '{role}'" in reply.body


async def test_run_tasks_by_user_and_task_groups_as_a_whole(master) -> None:
    async with _as(master, "agent") as agent_client, _as(master, "kafka") as kafka:
        agent = await AgentChannel.register(agent_client, resources="cpus:4;mem:4096")
        framework = await kafka.subscribe(framework_info(principal="kafka", role="kafka"))
        offer = (await framework.offers())[0]
        allowed = task_info("as-nobody", offer, "true")
        allowed["command"]["user"] = "nobody"
        refused = task_info("as-root", offer, "true")
        refused["command"]["user"] = "root"
        group = [task_info(f"group-{i}", offer, "true") for i in range(2)]
        group[0]["command"]["user"] = "nobody"  # the other runs as the framework's user, root
        reply = await framework.call(
            "ACCEPT",
            accept={
                "offer_ids": [offer["id"]],
                "operations": [
                    {"type": "LAUNCH", "launch": {"task_infos": [allowed, refused]}},
                    {
                        "type": "LAUNCH_GROUP",
                        "launch_group": {
                            "executor": {
                                "executor_id": {"value": "group"},
                                "resources": task_info("x", offer, "true")["resources"],
                            },
                            "task_group": {"tasks": group},
                        },
                    },
                ],
            },
        )
        assert reply.status == 202
        error = await framework.update("as-root", "TASK_ERROR")
        assert error["reason"] == "REASON_TASK_UNAUTHORIZED"
        assert (
            "Principal 'kafka' is not authorized to launch tasks as user 'root'"
            in (error["message"])
        )
        for task in group:
            status = await framework.update(task["task_id"]["value"], "TASK_ERROR")
            assert status["reason"] == "REASON_TASK_GROUP_UNAUTHORIZED"
        run = await agent.stream.next("RUN_TASK")
        assert run["run_task"]["task"]["task_id"]["value"] == "as-nobody"
        await framework.call("TEARDOWN")
        await agent.close()


async def test_views_show_each_principal_only_what_it_may_view(master) -> None:
    async with _as(master, "ops") as ops, _as(master, "kafka") as kafka:
        mine = await kafka.subscribe(
            framework_info("kafka-fw", principal="kafka", role="kafka", user="kafka-user")
        )
        theirs = await ops.subscribe(framework_info("ops-fw", principal="ops", user="root"))

        def names(state: dict[str, Any]) -> set[str]:
            return {f["name"] for f in state["frameworks"]}

        ops_state = await ops.get_json("/master/state")
        assert {"kafka-fw", "ops-fw"} <= names(ops_state)
        assert "flags" in ops_state
        kafka_state = await kafka.get_json("/master/state")
        assert names(kafka_state) == {"kafka-fw"}
        assert "flags" not in kafka_state
        v1 = await kafka.operator({"type": "GET_FRAMEWORKS"})
        listed = v1["get_frameworks"]["frameworks"]
        assert [f["framework_info"]["name"] for f in listed] == ["kafka-fw"]
        async with _as(master, None) as anonymous:
            assert names(await anonymous.get_json("/master/state")) == set()
        for path, who, status in (
            ("/flags", kafka, 403),
            ("/flags", ops, 200),
            ("/metrics/snapshot", kafka, 403),
            ("/metrics/snapshot", ops, 200),
        ):
            assert (await who.get(path)).status == status, path
        assert (await kafka.post("/api/v1", {"type": "GET_FLAGS"})).status == 403
        for framework in (mine, theirs):
            await framework.call("TEARDOWN")


async def test_teardown_frameworks_and_maintenance_by_principal(master) -> None:
    async with _as(master, "kafka") as kafka, _as(master, "ops") as ops:
        framework = await kafka.subscribe(framework_info(principal="kafka", role="kafka"))
        teardown = {"type": "TEARDOWN", "teardown": {"framework_id": {"value": framework.id}}}
        reply = await kafka.post("/api/v1", teardown)
        assert reply.status == 403
        assert "not authorized to tear down framework" in reply.body
        assert (await ops.post("/api/v1", teardown)).status == 200
        await framework.stream.wait_ended()

        schedule = {
            "type": "UPDATE_MAINTENANCE_SCHEDULE",
            "update_maintenance_schedule": {
                "schedule": {
                    "windows": [
                        {
                            "machine_ids": [{"hostname": "m1", "ip": "10.0.0.1"}],
                            "unavailability": {"start": {"nanoseconds": 1}},
                        }
                    ]
                }
            },
        }
        down = {
            "type": "START_MAINTENANCE",
            "start_maintenance": {"machines": [{"hostname": "m1", "ip": "10.0.0.1"}]},
        }
        for call in (schedule, down, {"type": "GET_MAINTENANCE_STATUS"}):
            reply = await kafka.post("/api/v1", call)
            assert reply.status == 403, call["type"]
            assert "Principal 'kafka' is not authorized" in reply.body
        for call in (schedule, down):
            assert (await ops.post("/api/v1", call)).status == 200, call["type"]
        status = await ops.operator({"type": "GET_MAINTENANCE_STATUS"})
        assert status["get_maintenance_status"]["status"]["down_machines"]


async def test_drain_deactivate_and_mark_gone_by_principal_and_agent(master) -> None:
    async with (
        _as(master, "agent") as agent,
        _as(master, "kafka") as kafka,
        _as(master, "ops") as ops,
    ):
        other = await AgentChannel.register(agent, hostname="other-host")
        mine = await AgentChannel.register(agent, hostname="kafka-host")
        try:
            for kind in ("DEACTIVATE_AGENT", "REACTIVATE_AGENT"):
                call = {"type": kind, kind.lower(): {"agent_id": {"value": other.id}}}
                reply = await kafka.post("/api/v1", call)
                assert reply.status == 403, kind
                assert f"Principal 'kafka' is not authorized to {kind} agent" in reply.body
                assert (await ops.post("/api/v1", call)).status == 200, kind
                # kafka's ACL names this agent's host: there it may
                call = {"type": kind, kind.lower(): {"agent_id": {"value": mine.id}}}
                assert (await kafka.post("/api/v1", call)).status == 200, kind
            drain = {
                "type": "DRAIN_AGENT",
                "drain_agent": {"agent_id": {"value": other.id}},
            }
            assert (await kafka.post("/api/v1", drain)).status == 403
            gone = {
                "type": "MARK_AGENT_GONE",
                "mark_agent_gone": {"agent_id": {"value": other.id}},
            }
            assert (await kafka.post("/api/v1", gone)).status == 403
            agents = (await ops.operator({"type": "GET_AGENTS"}))["get_agents"]["agents"]
            assert {a["agent_info"]["hostname"] for a in agents} >= {"other-host"}
            assert (await ops.post("/api/v1", gone)).status == 200
        finally:
            await other.close()
            await mine.close()


async def test_register_agents_by_principal(master) -> None:
    body = {"type": "SUBSCRIBE", "subscribe": {"agent_info": {"hostname": "h"}}}
    async with _as(master, "kafka") as kafka, _as(master, "agent") as agent:
        reply = await kafka.post("/agent/v1", body)
        assert reply.status == 403
        assert "not authorized to register agents" in reply.body
        channel = await AgentChannel.register(agent, hostname="allowed")
        await channel.close()


async def test_access_sandboxes_by_user_on_the_agent(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials.json"
    credentials.write_text(
        json.dumps({"credentials": [{"principal": p, "secret": p + "-s"} for p in PRINCIPALS]})
    )
    sandbox_acls = {"permissive": False, "access_sandboxes": ACLS["access_sandboxes"]}
    master = daemons.master(tmp_path / "master")
    agent = daemons.agent(
        tmp_path / "agent",
        master.address,
        "--resources=cpus:2;mem:1024;disk:100",
        "--isolation=posix/cpu,posix/mem",
        f"--http_credentials={credentials}",
        f"--acls={json.dumps(sandbox_acls)}",
    )
    with daemons.running(master, agent):
        daemons.wait_until(lambda: daemons.registered_agents(master))
        try:
            async with V1Client(master.url) as client:
                framework = await client.subscribe(framework_info(user="root"))
                offer = (await framework.offers())[0]
                await framework.launch(offer, task_info("t", offer, "echo hi > out; sleep 60"))
                for state in ("TASK_STARTING", "TASK_RUNNING"):
                    await framework.acknowledge(await framework.update("t", state))
                agent_state = daemons.http_json(agent.url + "/state")
                directory = agent_state["frameworks"][0]["executors"][0]["directory"]
                daemons.wait_until((Path(directory) / "out").exists)
                url = f"{agent.url}/files/read?path={directory}/out&offset=0"
                async with aiohttp.ClientSession() as http:
                    for principal, status in (("ops", 200), ("kafka", 403), (None, 403)):
                        headers = {}
                        if principal is not None:
                            headers["Authorization"] = basic_header(
                                Credential(principal=principal, secret=principal + "-s")
                            )
                        async with http.get(url, headers=headers) as response:
                            assert response.status == status, principal
                            if status == 403:
                                assert "may not read sandboxes of user 'root'" in (
                                    await response.text()
                                )
        finally:
            kill_leftover_tasks(tmp_path / "agent")
