"""Authentication as Mesos does it, against real daemons (issue 11): HTTP Basic against the
master's `--credentials` for frameworks, agents and operators, agents presenting their
`--credential`, executors their token; and the takeovers that used to work — re-subscribing
as another framework, forging an agent's calls or id, posing as an executor, reading a
sandbox, taking machines down — now refused with 401/403."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mesos_runtime.security import executor_tokens
from tests.harness import daemons
from tests.harness.v1_client import AgentChannel, V1Client, framework_info, task_info
from tests.integration.test_agent_tasks import REPO, kill_leftover_tasks

pytestmark = pytest.mark.integration

SECRETS = {"fw-a": "secret-a", "fw-b": "secret-b", "agent": "secret-agent", "ops": "secret-ops"}
SCHEDULER = "/api/v1/scheduler"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[daemons.Daemon, ...]]:
    root = tmp_path_factory.mktemp("authn")
    credentials = root / "credentials.json"
    credentials.write_text(
        json.dumps({"credentials": [{"principal": p, "secret": s} for p, s in SECRETS.items()]})
    )
    (root / "agent.credential").write_text("agent secret-agent\n")  # Mesos' text form
    master = daemons.master(
        root / "master",
        f"--credentials={credentials}",
        "--authenticate_frameworks",
        "--authenticate_agents",
        "--authenticate_http_readonly",
        "--authenticate_http_readwrite",
    )
    agent = daemons.agent(
        root / "agent",
        master.address,
        "--resources=cpus:4;mem:2048;disk:1000",
        "--isolation=posix/cpu,posix/mem",
        f"--credential={root / 'agent.credential'}",
        f"--http_credentials={credentials}",
        "--authenticate_http_readonly",
        "--authenticate_http_executors",
    )
    with daemons.running(master, agent):
        daemons.wait_until(lambda: _agents(master), message="the agent registered")
        try:
            yield master, agent
        finally:
            kill_leftover_tasks(root / "agent")


def _agents(master: daemons.Daemon) -> list[dict[str, Any]]:
    import urllib.request

    request = urllib.request.Request(
        master.url + "/master/state", headers={"Authorization": _basic("ops")}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())["slaves"]


def _basic(principal: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{principal}:{SECRETS[principal]}".encode()).decode()


def _as(master: daemons.Daemon, principal: str | None, secret: str | None = None) -> V1Client:
    if principal is None:
        return V1Client(master.url)
    return V1Client(master.url, auth=(principal, secret or SECRETS[principal]))


async def test_requests_without_valid_credentials_get_401_naming_the_realm(cluster) -> None:
    master, agent = cluster
    async with _as(master, None) as anonymous, _as(master, "fw-a", "wrong") as wrong:
        cases = [
            (SCHEDULER, {"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info()}}),
            ("/api/v1", {"type": "GET_STATE"}),
            ("/agent/v1", {"type": "SUBSCRIBE", "subscribe": {"agent_info": {"hostname": "h"}}}),
        ]
        realms = ["mesos-master-scheduler", "mesos-master-readwrite", "mesos-master-agent"]
        for (path, body), realm in zip(cases, realms, strict=True):
            reply = await anonymous.post(path, body)
            assert reply.status == 401, (path, reply)
            assert reply.headers["WWW-Authenticate"] == f'Basic realm="{realm}"'
            bad = await wrong.post(path, body)
            assert (bad.status, "Invalid credentials for principal 'fw-a'" in bad.body) == (
                401,
                True,
            )
        for path in ("/master/state", "/metrics/snapshot", "/metrics", "/flags", "/"):
            assert (await anonymous.get(path)).status == 401, path
        assert (await anonymous.get("/health")).status == 200
        assert (await anonymous.get("/version")).status == 200
    async with V1Client(agent.url) as agent_anonymous:
        assert (await agent_anonymous.get("/state")).status == 401
        assert (await agent_anonymous.get("/metrics")).status == 401
        assert (await agent_anonymous.get("/health")).status == 200


async def test_a_framework_is_bound_to_the_principal_that_registered_it(cluster) -> None:
    master, _agent = cluster
    async with _as(master, "fw-a") as a, _as(master, "fw-b") as b, _as(master, None) as anon:
        framework = await a.subscribe(framework_info("owned", principal="fw-a"))
        takeover = {
            "type": "SUBSCRIBE",
            "framework_id": {"value": framework.id},
            "subscribe": {
                "framework_info": framework_info(
                    "owned", principal="fw-b", id={"value": framework.id}
                )
            },
        }
        reply = await b.post(SCHEDULER, takeover)
        assert reply.status == 403
        assert "registered by principal 'fw-a'" in reply.body
        assert (await anon.post(SCHEDULER, takeover)).status == 401
        # even with the stream id, another principal may not act for the framework
        call = {"framework_id": {"value": framework.id}, "type": "TEARDOWN"}
        headers = {
            "Content-Type": "application/json",
            "Mesos-Stream-Id": framework.stream.stream_id,
        }
        reply = await b.post(SCHEDULER, call, headers=headers)
        assert reply.status == 403
        # the framework itself is untouched and may fail over as its own principal
        again = await a.subscribe(
            framework_info("owned", principal="fw-a", id={"value": framework.id})
        )
        assert again.id == framework.id
        assert (await again.call("TEARDOWN")).status == 202


async def test_a_framework_principal_must_match_the_credentials(cluster) -> None:
    master, _agent = cluster
    async with _as(master, "fw-a") as a:
        body = {
            "type": "SUBSCRIBE",
            "subscribe": {"framework_info": framework_info(principal="fw-b")},
        }
        reply = await a.post(SCHEDULER, body)
        assert reply.status == 400
        assert "does not match principal 'fw-b'" in reply.body


async def test_an_agent_id_is_bound_to_its_principal_and_its_calls_to_its_session(
    cluster,
) -> None:
    master, _agent = cluster
    real = _agents(master)[0]["id"]
    async with _as(master, "fw-a") as a, _as(master, "agent") as agent_principal:
        # registering with the real agent's id as another principal
        takeover = {
            "type": "SUBSCRIBE",
            "subscribe": {"agent_info": {"hostname": "evil", "id": {"value": real}}},
        }
        reply = await a.post("/agent/v1", takeover)
        assert reply.status == 403
        assert "admitted for principal 'agent'" in reply.body
        # the agent's own principal, but outside the agent's session: no forged updates
        forged = AgentChannel(agent_principal, None, real)  # type: ignore[arg-type]
        for kind, payload in (
            ("UNREGISTER", {}),
            (
                "UPDATE",
                {
                    "update": {
                        "framework_id": {"value": "f"},
                        "status": {"task_id": {"value": "t"}, "state": "TASK_FINISHED"},
                    }
                },
            ),
        ):
            reply = await forged.call(kind, **payload)
            assert reply.status == 403, (kind, reply)
            assert "session" in reply.body
    assert [a["id"] for a in _agents(master)] == [real]


async def test_executors_authenticate_with_their_own_token_and_run_tasks(cluster) -> None:
    master, agent = cluster
    async with _as(master, "fw-a") as a:
        framework = await a.subscribe(framework_info("executors", principal="fw-a"))
        offer = (await framework.offers())[0]
        executor = {
            "executor_id": {"value": "example"},
            "command": {
                "value": f"{sys.executable} -m tests.harness.example_executor",
                "environment": {"variables": [{"name": "PYTHONPATH", "value": str(REPO)}]},
            },
            "resources": task_info("x", offer, "true")["resources"],
        }
        task = task_info("custom", offer, "true")
        del task["command"]
        task["executor"] = executor
        task["labels"] = {"labels": [{"key": "command", "value": "sleep 60"}]}
        assert (await framework.launch(offer, task)).status == 202
        for state in ("TASK_STARTING", "TASK_RUNNING"):
            await framework.acknowledge(await framework.update("custom", state))

        state = await _agent_state(agent)
        run = state["frameworks"][0]["executors"][0]
        container = Path(run["directory"]).name
        call = {
            "type": "SUBSCRIBE",
            "framework_id": {"value": framework.id},
            "executor_id": {"value": "example"},
            "subscribe": {},
        }
        async with aiohttp.ClientSession() as http:
            url = agent.url + "/api/v1/executor"
            async with http.post(url, json=call) as response:
                assert response.status == 401  # no token: not the executor
            key = (agent.work_dir / "meta" / "executor_secret_key").read_bytes()
            other = executor_tokens.issue(
                key, executor_tokens.ExecutorClaims(framework.id, "another", container)
            )
            headers = {"Authorization": f"Bearer {other}"}
            async with http.post(url, json=call, headers=headers) as response:
                assert response.status == 403  # another executor's token
                assert "belongs to executor 'another'" in await response.text()
            forged = executor_tokens.issue(
                b"not the key" * 4,
                executor_tokens.ExecutorClaims(framework.id, "example", container),
            )
            headers = {"Authorization": f"Bearer {forged}"}
            async with http.post(url, json=call, headers=headers) as response:
                assert response.status == 401
        await framework.call("KILL", kill={"task_id": {"value": "custom"}})


async def _agent_state(agent: daemons.Daemon) -> dict[str, Any]:
    headers = {"Authorization": _basic("ops")}
    async with aiohttp.ClientSession(headers=headers) as http, http.get(agent.url + "/state") as r:
        assert r.status == 200
        return await r.json()


async def test_sandboxes_and_maintenance_need_credentials(cluster) -> None:
    master, agent = cluster
    async with _as(master, "fw-b") as b:
        framework = await b.subscribe(framework_info("sandbox", principal="fw-b"))
        offer = (await framework.offers())[0]
        await framework.launch(offer, task_info("reader", offer, "echo secret > out; sleep 60"))
        for state in ("TASK_STARTING", "TASK_RUNNING"):
            await framework.acknowledge(await framework.update("reader", state))
        state = await _agent_state(agent)
        directory = next(
            e["directory"]
            for f in state["frameworks"]
            for e in f["executors"]
            if e["id"] == "reader"
        )
        daemons.wait_until((Path(directory) / "out").exists)
        url = f"{agent.url}/files/read?path={directory}/out&offset=0"
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as response:
                assert response.status == 401
            async with http.get(url, headers={"Authorization": _basic("ops")}) as response:
                assert response.status == 200
                assert (await response.json())["data"] == "secret\n"
    async with _as(master, None) as anonymous:
        down = {"type": "START_MAINTENANCE", "start_maintenance": {"machines": [{"ip": "1"}]}}
        assert (await anonymous.post("/api/v1", down)).status == 401


async def test_the_scheduler_library_presents_a_credential_given_or_from_the_environment(
    cluster, tmp_path: Path, monkeypatch
) -> None:
    from mesos_runtime.scheduler.client import CallError, SchedulerClient, load_credential
    from mesos_runtime.wire.mesos import FrameworkInfo

    master, _agent = cluster
    path = tmp_path / "fw-a.json"
    path.write_text(json.dumps({"principal": "fw-a", "secret": SECRETS["fw-a"]}))
    info = FrameworkInfo(user="root", name="library")
    monkeypatch.delenv("INFINITY_CREDENTIAL", raising=False)
    async with SchedulerClient(master.address, info) as anonymous:
        with pytest.raises(CallError) as refused:
            await anext(anonymous.subscribe())
        assert refused.value.status == 401
    for client in (
        SchedulerClient(master.address, info, credential=load_credential(path)),
        _from_environment(monkeypatch, path, master.address, info),
    ):
        async with client:
            events = client.subscribe()  # kept: the stream lives as long as the generator
            event = await anext(events)
            assert event.subscribed is not None
            assert client.framework_info.principal == "fw-a"
            await client.teardown()
            await events.aclose()


def _from_environment(monkeypatch, path: Path, address: str, info: Any) -> Any:
    from mesos_runtime.scheduler.client import SchedulerClient

    monkeypatch.setenv("INFINITY_CREDENTIAL", str(path))
    return SchedulerClient(address, info)
