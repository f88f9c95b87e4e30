"""A third-party Marathon client, thefactory's `marathon` (marathon-python) from PyPI,
drives our Marathon unmodified: apps, scaling, tasks, deployments, queue, info, leader and
the event stream, parsed into its own models."""

from __future__ import annotations

import pytest
from marathon import MarathonClient
from marathon.exceptions import NotFoundError
from marathon.models import MarathonApp, MarathonHealthCheck

from tests.harness import daemons

from .conftest import Marathon

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def collections_iterable(monkeypatch: pytest.MonkeyPatch) -> None:
    """marathon-python 0.13 (2020) encodes apps with `collections.Iterable`, an alias
    Python 3.10 removed: restore the alias for the test, the client itself stays as is."""
    import collections
    import collections.abc

    monkeypatch.setattr(collections, "Iterable", collections.abc.Iterable, raising=False)


def test_marathon_python_manages_an_app_end_to_end(marathon_api: Marathon) -> None:
    client = MarathonClient(marathon_api.url, timeout=15)
    assert client.ping().strip() in (b"pong", "pong")
    info = client.get_info()
    assert info.name == "marathon" and info.elected
    assert client.get_leader() == {"leader": marathon_api.process.address}

    created = client.create_app(
        "compat-web",
        MarathonApp(
            cmd="exec python3 -m http.server $PORT0",
            cpus=0.05,
            mem=16,
            instances=2,
            labels={"team": "compat"},
            health_checks=[
                MarathonHealthCheck(
                    protocol="TCP",
                    port_index=0,
                    grace_period_seconds=30,
                    interval_seconds=1,
                    timeout_seconds=1,
                    max_consecutive_failures=3,
                )
            ],
        ),
    )
    assert created.id == "/compat-web" and created.instances == 2
    daemons.wait_until(
        lambda: client.get_app("compat-web").tasks_healthy == 2 and not client.list_deployments(),
        60,
        message="healthy and deployed",
    )
    app = client.get_app("compat-web", embed_tasks=True)
    assert app.labels == {"team": "compat"} and len(app.tasks) == 2
    assert all(t.state == "TASK_RUNNING" and t.ports for t in app.tasks)
    assert [a.id for a in client.list_apps(label="team==compat")] == ["/compat-web"]

    deployment = client.scale_app("compat-web", instances=3)
    assert deployment
    daemons.wait_until(
        lambda: len(client.list_tasks("compat-web")) == 3 and not client.list_deployments(),
        60,
        message="scaled to 3",
    )
    task = client.list_tasks("compat-web")[0]
    client.kill_task("compat-web", task.id, scale=True)
    daemons.wait_until(
        lambda: (
            client.get_app("compat-web").instances == 2
            and len(client.list_tasks("compat-web")) == 2
        ),
        60,
        message="scaled down by the kill",
    )
    client.create_app(
        "compat-nowhere",
        MarathonApp(cmd="sleep 1", cpus=0.05, mem=16, instances=1,
                    constraints=[["hostname", "CLUSTER", "nowhere.example"]]),
    )  # fmt: skip
    queued = daemons.wait_until(
        lambda: [q for q in client.list_queue() if q.app.id == "/compat-nowhere"], 30
    )
    assert queued[0].count == 1 and queued[0].delay.overdue is True
    client.delete_app("compat-nowhere", force=True)
    versions = client.list_versions("compat-web")
    assert len(versions) >= 3
    assert client.get_version("compat-web", versions[-1]).instances == 2

    client.delete_app("compat-web", force=True)
    daemons.wait_until(lambda: not client.list_tasks(), 60, message="deleted")
    with pytest.raises(NotFoundError):
        client.get_app("compat-web")


def test_marathon_python_reads_the_event_stream(marathon_api: Marathon) -> None:
    import threading

    client = MarathonClient(marathon_api.url, timeout=15)
    seen: list[str] = []
    ready = threading.Event()

    def listen() -> None:
        stream = MarathonClient(marathon_api.url, timeout=60)
        for event in stream.event_stream(
            event_types=["event_stream_attached", "deployment_success"]
        ):
            seen.append(event.event_type)
            ready.set()
            if event.event_type == "deployment_success":
                return

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    assert ready.wait(15)
    client.create_app(
        "compat-events", MarathonApp(cmd="sleep 1000", cpus=0.05, mem=16, instances=1)
    )
    reader.join(60)
    assert seen[0] == "event_stream_attached" and seen[-1] == "deployment_success"
    client.delete_app("compat-events", force=True)
    daemons.wait_until(
        lambda: not [t for t in client.list_tasks() if t.app_id == "/compat-events"], 60
    )
