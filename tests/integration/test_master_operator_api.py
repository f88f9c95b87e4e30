"""The operator's view of the master: `POST /api/v1` queries, its SUBSCRIBE event stream
and maintenance calls, and the legacy endpoints tools and dashboards read
(`/master/state`, `/master/redirect`, `/metrics/snapshot`, `/health`, `/version`, `/flags`,
and the web page at `/`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import daemons
from tests.harness.v1_client import JSON_HEADERS, AgentChannel, V1Client, framework_info

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[daemons.Daemon]:
    m = daemons.master(
        tmp_path_factory.mktemp("master"),
        "--heartbeat_interval=500ms",
        "--allocation_interval=100ms",
        "--cluster=testing",
        "--weights=db=2",
    ).start()
    try:
        yield m
    finally:
        m.stop()


async def test_health_version_flags_and_master_queries(
    client: V1Client, master: daemons.Daemon
) -> None:
    assert await client.operator({"type": "GET_HEALTH"}) == {
        "type": "GET_HEALTH",
        "get_health": {"healthy": True},
    }
    version = (await client.operator({"type": "GET_VERSION"}))["get_version"]["version_info"]
    assert version["version"] == "1.11.0"
    flags = (await client.operator({"type": "GET_FLAGS"}))["get_flags"]["flags"]
    assert {"name": "cluster", "value": "testing"} in flags
    assert {"name": "allocation_interval", "value": "100ms"} in flags
    got = (await client.operator({"type": "GET_MASTER"}))["get_master"]
    assert got["master_info"]["port"] == master.port
    assert got["master_info"]["address"]["ip"] == "127.0.0.1"
    assert got["elected_time"] >= got["start_time"]


async def test_state_queries_show_agents_frameworks_and_roles(client: V1Client) -> None:
    agent = await AgentChannel.register(client, hostname="op-agent")
    framework = await client.subscribe(framework_info("op-framework", role="db"))
    try:
        state = (await client.operator({"type": "GET_STATE"}))["get_state"]
        agents = state["get_agents"]["agents"]
        assert [a["agent_info"]["id"]["value"] for a in agents] == [agent.id]
        assert agents[0]["pid"] == "slave(1)@127.0.0.1:5051"
        frameworks = state["get_frameworks"]["frameworks"]
        assert [f["framework_info"]["id"]["value"] for f in frameworks] == [framework.id]
        assert frameworks[0]["connected"] is True
        assert "get_tasks" in state
        assert "get_executors" in state
        roles = (await client.operator({"type": "GET_ROLES"}))["get_roles"]["roles"]
        db = next(r for r in roles if r["name"] == "db")
        assert db["weight"] == 2.0
        assert db["frameworks"] == [{"value": framework.id}]
        for kind in ("GET_AGENTS", "GET_FRAMEWORKS", "GET_TASKS", "GET_EXECUTORS"):
            reply = await client.operator({"type": kind})
            assert kind.lower() in reply
    finally:
        await framework.call("TEARDOWN")
        await agent.call("UNREGISTER")
        await agent.close()


async def test_operator_subscription_streams_cluster_events(client: V1Client) -> None:
    events = await client.open_stream("/api/v1", {"type": "SUBSCRIBE"})
    assert events.status == 200
    assert events.headers["Transfer-Encoding"] == "chunked"
    subscribed = await events.next("SUBSCRIBED")
    assert "get_state" in subscribed["subscribed"]
    agent = await AgentChannel.register(client, hostname="watched")
    added = await events.next("AGENT_ADDED")
    assert added["agent_added"]["agent"]["agent_info"]["id"]["value"] == agent.id
    framework = await client.subscribe(framework_info("watched"))
    added = await events.next("FRAMEWORK_ADDED")
    assert added["framework_added"]["framework"]["framework_info"]["id"]["value"] == framework.id
    await framework.call("TEARDOWN")
    await events.next("FRAMEWORK_REMOVED")
    await agent.call("UNREGISTER")
    removed = await events.next("AGENT_REMOVED")
    assert removed["agent_removed"]["agent_id"]["value"] == agent.id
    await events.next("HEARTBEAT")
    await agent.close()


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        (JSON_HEADERS, b"[", 400),
        (JSON_HEADERS, b'{"type": "GET_NOTHING"}', 400),
        (JSON_HEADERS, b"{}", 400),
        ({"Content-Type": "text/xml"}, b'{"type": "GET_HEALTH"}', 415),
        (
            {"Content-Type": "application/json", "Accept": "text/html"},
            b'{"type": "GET_HEALTH"}',
            406,
        ),
    ],
)
async def test_bad_operator_calls_are_rejected(
    client: V1Client, headers: dict, body: bytes, status: int
) -> None:
    reply = await client.post("/api/v1", data=body, headers=headers)
    assert reply.status == status, reply
    assert reply.body


async def test_maintenance_takes_an_agents_machine_down_and_up(client: V1Client) -> None:
    agent = await AgentChannel.register(client, hostname="maint-host")
    framework = await client.subscribe(framework_info("maint"))
    machine = {"hostname": "maint-host", "ip": "10.0.0.9"}
    schedule = {
        "windows": [
            {
                "machine_ids": [machine],
                "unavailability": {"start": {"nanoseconds": 1}},
            }
        ]
    }
    try:
        await client.operator(
            {
                "type": "UPDATE_MAINTENANCE_SCHEDULE",
                "update_maintenance_schedule": {"schedule": schedule},
            }
        )
        got = await client.operator({"type": "GET_MAINTENANCE_SCHEDULE"})
        assert got["get_maintenance_schedule"]["schedule"] == schedule
        status = await client.operator({"type": "GET_MAINTENANCE_STATUS"})
        assert status["get_maintenance_status"]["status"]["draining_machines"] == [{"id": machine}]
        await client.operator(
            {"type": "START_MAINTENANCE", "start_maintenance": {"machines": [machine]}}
        )
        state = await client.get_json("/master/state")
        (slave,) = [s for s in state["slaves"] if s["id"] == agent.id]
        assert slave["active"] is False
        await client.operator(
            {"type": "STOP_MAINTENANCE", "stop_maintenance": {"machines": [machine]}}
        )
        state = await client.get_json("/master/state")
        (slave,) = [s for s in state["slaves"] if s["id"] == agent.id]
        assert slave["active"] is True
        got = await client.operator({"type": "GET_MAINTENANCE_SCHEDULE"})
        assert got["get_maintenance_schedule"]["schedule"] == {}
        unknown = await client.post(
            "/api/v1",
            {"type": "START_MAINTENANCE", "start_maintenance": {"machines": [{"hostname": "x"}]}},
        )
        assert unknown.status == 400
    finally:
        await framework.call("TEARDOWN")
        await agent.call("UNREGISTER")
        await agent.close()


async def test_legacy_state_reports_leader_and_elected_time(
    client: V1Client, master: daemons.Daemon
) -> None:
    state = await client.get_json("/master/state")
    for key in (
        "leader",
        "elected_time",
        "start_time",
        "id",
        "pid",
        "hostname",
        "version",
        "activated_slaves",
        "slaves",
        "frameworks",
        "completed_frameworks",
        "unregistered_frameworks",
    ):
        assert key in state, key
    assert state["leader"] == f"master@127.0.0.1:{master.port}"
    assert state["pid"] == state["leader"]
    assert state["cluster"] == "testing"
    for alias in ("/master/state.json", "/state", "/state.json"):
        assert (await client.get_json(alias))["id"] == state["id"]


async def test_redirect_health_version_flags_metrics_and_web_page(
    client: V1Client, master: daemons.Daemon
) -> None:
    redirect = await client.get("/master/redirect")
    assert redirect.status == 307
    assert redirect.headers["Location"] == f"//127.0.0.1:{master.port}"
    health = await client.get("/health")
    assert (health.status, health.body) == (200, "")
    version = await client.get_json("/version")
    assert set(version) >= {"version", "build_date", "build_user", "git_sha"}
    flags = await client.get_json("/flags")
    assert flags["flags"]["cluster"] == "testing"
    metrics = await client.get_json("/metrics/snapshot")
    for key in (
        "master/elected",
        "master/uptime_secs",
        "master/frameworks_active",
        "master/slaves_active",
        "master/tasks_running",
        "master/cpus_total",
        "master/mem_used",
        "master/outstanding_offers",
        "master/messages_status_update",
    ):
        assert key in metrics, key
    assert metrics["master/elected"] == 1.0
    page = await client.get("/")
    assert page.status == 200
    assert "Agents" in page.body and "Frameworks" in page.body
    assert (await client.get("/api/v1")).status == 405
