"""The master's v1 scheduler API on the wire, spoken raw: SUBSCRIBE framing and headers,
heartbeats, every malformed request answered as Mesos answers it (and changing nothing),
teardown, failover re-subscription within and after the failover timeout, reconciliation
and kill of unknown tasks, ACCEPT of unknown offers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.harness import daemons
from tests.harness.v1_client import JSON_HEADERS, V1Client, framework_info

pytestmark = pytest.mark.integration

SCHEDULER = "/api/v1/scheduler"


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[daemons.Daemon]:
    m = daemons.master(tmp_path_factory.mktemp("master"), "--heartbeat_interval=1secs").start()
    try:
        yield m
    finally:
        m.stop()


async def _framework_ids(client: V1Client) -> tuple[list[str], list[str]]:
    state = await client.get_json("/master/state")
    return (
        sorted(f["id"] for f in state["frameworks"]),
        sorted(f["id"] for f in state["completed_frameworks"]),
    )


async def _known_frameworks(client: V1Client) -> set[str]:
    """Every framework id the master knows, active or completed."""
    active, completed = await _framework_ids(client)
    return set(active) | set(completed)


async def test_subscribe_streams_chunked_recordio_with_subscribed_first_then_heartbeats(
    client: V1Client,
) -> None:
    framework = await client.subscribe(framework_info("wire"))
    headers = framework.stream.headers
    assert headers["Transfer-Encoding"] == "chunked"
    assert headers["Content-Type"] == "application/json"
    assert "Content-Length" not in headers
    assert framework.stream.stream_id
    first = framework.stream.raw_records[0]
    assert b"\n" not in first
    event = json.loads(first)
    assert event["type"] == "SUBSCRIBED"
    subscribed = event["subscribed"]
    assert subscribed["framework_id"]["value"] == framework.id
    assert subscribed["heartbeat_interval_seconds"] == 1.0
    assert {"id", "ip", "port", "hostname", "pid", "address", "version"} <= set(
        subscribed["master_info"]
    )
    await framework.stream.next("HEARTBEAT", timeout=10)
    await framework.stream.next("HEARTBEAT", timeout=10)


async def test_every_non_subscribe_call_answers_202_with_empty_body(client: V1Client) -> None:
    framework = await client.subscribe(framework_info("calls"))
    for kind, payload in [
        ("REVIVE", {}),
        ("SUPPRESS", {}),
        ("RECONCILE", {"reconcile": {"tasks": []}}),
        ("DECLINE", {"decline": {"offer_ids": []}}),
        ("REQUEST", {"request": {"requests": []}}),
    ]:
        reply = await framework.call(kind, **payload)
        assert (reply.status, reply.body) == (202, ""), (kind, reply)


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        (JSON_HEADERS, b"{not json", 400, "Failed to parse body into JSON"),
        ({"Accept": "application/json"}, b"{}", 400, "Content-Type"),
        ({"Content-Type": "text/plain"}, b"{}", 415, "application/json"),
        (JSON_HEADERS, b'{"type": "NO_SUCH_CALL"}', 400, "NO_SUCH_CALL"),
        (JSON_HEADERS, b'{"subscribe": {}}', 400, "'type'"),
        (JSON_HEADERS, b'{"type": "SUBSCRIBE"}', 400, "'subscribe'"),
        (
            JSON_HEADERS,
            b'{"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "x"}}}',
            400,
            "subscribe.framework_info.user",
        ),
        (
            {"Content-Type": "application/json", "Accept": "text/html"},
            b'{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}',
            406,
            "Accept",
        ),
        (
            {**JSON_HEADERS, "Mesos-Stream-Id": "abc"},
            b'{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}',
            400,
            "Mesos-Stream-Id",
        ),
        (
            JSON_HEADERS,
            b'{"type":"SUBSCRIBE","subscribe":{"framework_info":'
            b'{"user":"u","name":"n","role":"a b"}}}',
            400,
            "Role",
        ),
        (JSON_HEADERS, b'{"type": "REVIVE"}', 400, "framework_id"),
        (JSON_HEADERS, b'{"type": "ACCEPT", "framework_id": {"value": "x"}}', 400, "'accept'"),
        (
            JSON_HEADERS,
            b'{"type": "REVIVE", "framework_id": {"value": "unknown"}}',
            400,
            "Framework cannot be found",
        ),
    ],
)
async def test_malformed_requests_are_rejected_and_change_nothing(
    client: V1Client, headers: dict[str, str], body: bytes, status: int, message: str
) -> None:
    witness = await client.subscribe(framework_info("witness"))
    before = await _known_frameworks(client)
    reply = await client.post(SCHEDULER, data=body, headers=headers)
    assert reply.status == status, reply
    assert message in reply.body
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert await _known_frameworks(client) == before
    assert (await witness.call("REVIVE")).status == 202


async def test_get_on_the_scheduler_endpoint_is_405(client: V1Client) -> None:
    reply = await client.get(SCHEDULER)
    assert reply.status == 405
    assert reply.headers["Allow"] == "POST"


async def test_calls_need_the_current_stream_id(client: V1Client) -> None:
    framework = await client.subscribe(framework_info("stream-id"))
    body = {"framework_id": {"value": framework.id}, "type": "REVIVE"}
    missing = await client.post(SCHEDULER, body)
    assert missing.status == 400
    assert "Mesos-Stream-Id" in missing.body
    wrong = await client.post(SCHEDULER, body, headers={**JSON_HEADERS, "Mesos-Stream-Id": "x"})
    assert wrong.status == 400
    assert "didn't match" in wrong.body


async def test_acknowledge_with_a_bad_uuid_is_400(client: V1Client) -> None:
    framework = await client.subscribe(framework_info("ack"))
    reply = await framework.call(
        "ACKNOWLEDGE",
        acknowledge={"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": "AAEC"},
    )
    assert reply.status == 400
    assert "UUID" in reply.body


async def test_teardown_removes_the_framework_and_ends_its_stream(client: V1Client) -> None:
    framework = await client.subscribe(framework_info("teardown"))
    reply = await framework.call("TEARDOWN")
    assert reply.status == 202
    await framework.stream.wait_ended()
    active, completed = await _framework_ids(client)
    assert framework.id not in active
    assert framework.id in completed
    after = await framework.call("REVIVE")
    assert after.status == 400


async def test_resubscription_within_failover_timeout_keeps_the_framework(
    client: V1Client,
) -> None:
    first = await client.subscribe(framework_info("failover", failover_timeout=60))
    await first.stream.close()

    def disconnected(state: dict) -> bool:
        return any(f["id"] == first.id and not f["connected"] for f in state["frameworks"])

    state = await client.get_json("/master/state")
    while not disconnected(state):
        state = await client.get_json("/master/state")
    again = await client.subscribe(
        framework_info("failover", failover_timeout=60, id={"value": first.id})
    )
    assert again.id == first.id
    assert (await again.call("REVIVE")).status == 202
    active, _ = await _framework_ids(client)
    assert first.id in active


async def test_a_new_subscription_replaces_the_old_stream(client: V1Client) -> None:
    first = await client.subscribe(framework_info("replace", failover_timeout=60))
    second = await client.subscribe(
        framework_info("replace", failover_timeout=60, id={"value": first.id})
    )
    error = await first.stream.next("ERROR")
    assert "failed over" in error["error"]["message"]
    await first.stream.wait_ended()
    assert (await first.call("REVIVE")).status == 400
    assert (await second.call("REVIVE")).status == 202


async def test_framework_is_removed_when_its_failover_timeout_elapses(client: V1Client) -> None:
    framework = await client.subscribe(framework_info("expires", failover_timeout=0.5))
    await framework.stream.close()
    while framework.id not in (await _framework_ids(client))[1]:
        pass
    again = await client.open_stream(
        SCHEDULER,
        {
            "type": "SUBSCRIBE",
            "subscribe": {"framework_info": framework_info("expires", id={"value": framework.id})},
        },
    )
    error = await again.next("ERROR")
    assert error["error"]["message"] == "Framework has been removed"


@pytest.mark.parametrize(
    ("capabilities", "state"),
    [([], "TASK_LOST"), ([{"type": "PARTITION_AWARE"}], "TASK_UNKNOWN")],
)
async def test_reconciling_an_unknown_task_answers_lost_or_unknown(
    client: V1Client, capabilities: list, state: str
) -> None:
    framework = await client.subscribe(framework_info("reconcile", capabilities=capabilities))
    reply = await framework.call(
        "RECONCILE", reconcile={"tasks": [{"task_id": {"value": "ghost"}}]}
    )
    assert reply.status == 202
    status = await framework.update("ghost")
    assert status["state"] == state
    assert status["reason"] == "REASON_RECONCILIATION"
    assert status["source"] == "SOURCE_MASTER"
    assert "uuid" not in status


async def test_killing_an_unknown_task_answers_task_lost(client: V1Client) -> None:
    framework = await client.subscribe(framework_info("kill"))
    reply = await framework.call("KILL", kill={"task_id": {"value": "ghost"}})
    assert reply.status == 202
    status = await framework.update("ghost")
    assert status["state"] == "TASK_LOST"
    assert "uuid" not in status


@pytest.mark.parametrize(
    ("capabilities", "state"),
    [([], "TASK_LOST"), ([{"type": "PARTITION_AWARE"}], "TASK_DROPPED")],
)
async def test_accepting_an_unknown_offer_drops_or_loses_its_tasks(
    client: V1Client, capabilities: list, state: str
) -> None:
    framework = await client.subscribe(framework_info("accept", capabilities=capabilities))
    task = {
        "name": "t",
        "task_id": {"value": "never"},
        "agent_id": {"value": "nowhere"},
        "command": {"value": "true"},
    }
    reply = await framework.call(
        "ACCEPT",
        accept={
            "offer_ids": [{"value": "no-such-offer"}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
        },
    )
    assert reply.status == 202
    status = await framework.update("never")
    assert status["state"] == state
    assert status["reason"] == "REASON_INVALID_OFFERS"
