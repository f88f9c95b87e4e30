"""A third-party Mesos client library, unmodified, drives our master and agent.

`mesoshttp` (PyPI) is a scheduler library written for Apache Mesos' v1 HTTP API: it
subscribes, reads the RecordIO stream, accepts offers, acknowledges updates and tears
down with its own code. If our wire format drifts from Mesos', this test breaks.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import requests
from mesoshttp.client import MesosClient

from tests.harness import daemons


def test_mesoshttp_launches_a_task_and_tears_down(tmp_path: Path) -> None:
    master = daemons.master(tmp_path / "master", "--heartbeat_interval=1secs")
    agent = daemons.agent(
        tmp_path / "agent", master.address, "--resources=cpus:2;mem:2048;disk:1000"
    )
    with daemons.running(master, agent):
        daemons.wait_until(lambda: daemons.registered_agents(master), message="agent registered")
        client = MesosClient(mesos_urls=[master.url], frameworkName="mesoshttp-compat")
        _launch_and_tear_down(master, client)
        state = daemons.http_json(master.url + "/master/state")
        _assert_finished(state)


def test_mesoshttp_works_with_credentials_against_an_authenticating_master(
    tmp_path: Path,
) -> None:
    credentials = tmp_path / "credentials.json"
    credentials.write_text(
        '{"credentials": [{"principal": "compat", "secret": "s3cret"},'
        ' {"principal": "agent", "secret": "a"}]}'
    )
    (tmp_path / "agent.json").write_text('{"principal": "agent", "secret": "a"}')
    master = daemons.master(
        tmp_path / "master",
        "--heartbeat_interval=1secs",
        f"--credentials={credentials}",
        "--authenticate_frameworks",
        "--authenticate_agents",
    )
    agent = daemons.agent(
        tmp_path / "agent",
        master.address,
        "--resources=cpus:2;mem:2048;disk:1000",
        f"--credential={tmp_path / 'agent.json'}",
    )
    with daemons.running(master, agent):
        daemons.wait_until(lambda: daemons.registered_agents(master), message="agent registered")
        client = MesosClient(mesos_urls=[master.url], frameworkName="mesoshttp-compat")
        # the library's own hooks: the principal in FrameworkInfo, HTTP Basic on every call
        client.set_credentials("compat", "s3cret")
        client.requests_auth = requests.auth.HTTPBasicAuth("compat", "s3cret")
        _launch_and_tear_down(master, client)
        state = daemons.http_json(master.url + "/master/state")
        _assert_finished(state)
        assert state["completed_frameworks"][0]["principal"] == "compat"


def _assert_finished(state: dict[str, Any]) -> None:
    finished = state["completed_frameworks"]
    assert [f["name"] for f in finished] == ["mesoshttp-compat"]
    assert [t["id"] for t in finished[0]["completed_tasks"]] == ["compat-1"]


def _launch_and_tear_down(master: daemons.Daemon, client: MesosClient) -> None:
    """Drive one task through the library, unmodified: accept, acknowledge, tear down."""
    client.max_reconnect = 1
    states: list[str] = []
    launched: list[str] = []

    def on_offers(offers: list[Any]) -> None:
        for offer in offers:
            if launched:
                offer.decline()
                continue
            info = offer.get_offer()
            launched.append(info["id"]["value"])
            offer.accept(
                [
                    {
                        "name": "compat",
                        "task_id": {"value": "compat-1"},
                        "agent_id": info["agent_id"],
                        "resources": [
                            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
                        ],
                        "command": {"value": "echo compat"},
                    }
                ]
            )

    def on_update(update: dict[str, Any]) -> None:
        states.append(update["status"]["state"])
        if update["status"]["state"] == "TASK_FINISHED":
            client.tearDown()

    client.on(MesosClient.OFFERS, on_offers)
    client.on(MesosClient.UPDATE, on_update)
    loop = threading.Thread(target=client.register, daemon=True)
    loop.start()
    loop.join(60)

    assert not loop.is_alive(), "the library's event loop did not end after teardown"
    assert states == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
