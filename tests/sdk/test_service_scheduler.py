"""The service scheduler against a real master and three agents (own hostnames): a small
web service whose pods keep data on persistent volumes. The tests run in order, each one
taking the service from where the previous left it: deploy, a task killed, the scheduler
killed, a config update, `pod replace`, an agent lost, uninstall."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import daemons

from .service import HOSTS, Cluster, Scheduler, spec, start_cluster

pytestmark = pytest.mark.integration

NAME = "hello"
ROLE = f"{NAME}-role"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("sdk")
    c = start_cluster(root)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def service(cluster: Cluster) -> Iterator[Scheduler]:
    scheduler = Scheduler(cluster, NAME, cluster.root / "store", spec(NAME))
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.stop()


def framework(cluster: Cluster) -> dict[str, Any] | None:
    return next((f for f in cluster.state()["frameworks"] if f["name"] == NAME), None)


def statuses(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """Every task of the service the master knows (running and completed), by id."""
    fw = framework(cluster)
    assert fw is not None
    return {t["id"]: t for t in [*fw["tasks"], *fw["completed_tasks"]]}


def first(task: dict[str, Any], state: str) -> float:
    return min(s["timestamp"] for s in task["statuses"] if s["state"] == state)


def volume_file(cluster: Cluster, hostname: str, instance_record: dict[str, Any]) -> Path:
    volumes = cluster.agent_by_host(hostname).work_dir / "volumes" / "roles" / ROLE
    found = list(volumes.glob(f"{instance_record['name']}.*-data"))
    assert len(found) == 1, found
    return found[0] / "boots"


def instance(service: Scheduler, name: str) -> dict[str, Any]:
    return service.get(f"/v1/pod/{name}/info")


def task_pid(port: int) -> int:
    """The pid of the http.server task serving `port` (a process this test started)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"http.server" in argv and str(port).encode() in argv:
            return int(entry.name)
    raise AssertionError(f"no http.server process on port {port}")


def test_deploy_places_one_pod_per_host_with_its_volume_and_rendered_config(
    cluster: Cluster, service: Scheduler
) -> None:
    plan = service.wait_complete(timeout=60)
    assert [s["status"] for p in plan["phases"] for s in p["steps"]] == ["COMPLETE"] * 2
    pods = [instance(service, f"web-{i}") for i in range(2)]
    hosts = [p["hostname"] for p in pods]
    assert len(set(hosts)) == 2 and set(hosts) <= set(HOSTS)
    assert service.get("/v1/pod") == ["web-0", "web-1"]
    assert service.get("/v1/health") == {"healthy": True}
    for pod in pods:
        port = pod["ports"]["http"]
        page = daemons.http_json  # noqa: F841 - the page is text, read it directly below
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.read().decode() == f"{pod['name']}-server on {pod['hostname']} says hello\n"
        boots = volume_file(cluster, pod["hostname"], pod).read_text().splitlines()
        assert len(boots) == 1 and boots[0].startswith(f"{pod['name']}-server ")
    endpoints = service.get("/v1/endpoints/http")
    assert sorted(endpoints["address"]) == sorted(
        f"{p['hostname']}:{p['ports']['http']}" for p in pods
    )
    fw = framework(cluster)
    assert fw is not None and fw["webui_url"] == service.url
    assert fw["id"] == service.get("/v1/state/frameworkId")["frameworkId"]
    reserved = [a["reserved_resources"].get(ROLE) for a in cluster.state()["slaves"]]
    assert sum(1 for r in reserved if r) == 2


def test_a_killed_task_restarts_in_place_on_its_reservation_with_its_volume_data(
    cluster: Cluster, service: Scheduler
) -> None:
    before = instance(service, "web-0")
    old_id = before["tasks"][0]["id"]
    os.kill(task_pid(before["ports"]["http"]), signal.SIGKILL)

    def restarted() -> dict[str, Any] | None:
        now = instance(service, "web-0")
        task = now["tasks"][0]
        ok = task["id"] != old_id and task["status"] == "TASK_RUNNING" and task["healthy"]
        return now if ok else None

    after = daemons.wait_until(restarted, 30, interval=0.2, message="web-0 restarted")
    assert after["agent"] == before["agent"] and after["ports"] == before["ports"]
    boots = volume_file(cluster, after["hostname"], after).read_text().splitlines()
    assert len(boots) == 2  # the volume kept the first run's line
    recovery = service.get("/v1/plans/recovery")
    assert [s["name"] for s in recovery["phases"][0]["steps"]] == ["web-0:[server]"]
    daemons.wait_until(lambda: service.plan_status("recovery") == "COMPLETE", 30)


def test_a_restarted_scheduler_adopts_its_tasks_and_relaunches_nothing(
    cluster: Cluster, service: Scheduler
) -> None:
    before = {n: t["id"] for n, t in service.tasks().items()}
    framework_id = service.get("/v1/state/frameworkId")["frameworkId"]
    service.kill()  # SIGKILL: no goodbye to the master
    service.start()
    service.wait_complete()
    daemons.wait_until(
        lambda: all(t["status"] == "TASK_RUNNING" for t in service.tasks().values()),
        30,
        message="tasks reconciled",
    )
    assert {n: t["id"] for n, t in service.tasks().items()} == before
    assert service.get("/v1/state/frameworkId")["frameworkId"] == framework_id
    frameworks = [f for f in cluster.state()["frameworks"] if f["name"] == NAME]
    assert len(frameworks) == 1 and len(frameworks[0]["tasks"]) == 2


def test_a_spec_change_rolls_out_one_pod_at_a_time(cluster: Cluster, service: Scheduler) -> None:
    old = {n: t["id"] for n, t in service.tasks().items()}
    service.stop()
    service.spec_text = spec(NAME, greeting="bonjour")
    service.start()
    service.wait_complete(timeout=60)
    new = {n: t["id"] for n, t in service.tasks().items()}
    assert all(new[n] != old[n] for n in old)
    tasks = statuses(cluster)
    old0, old1 = tasks[old["web-0-server"]], tasks[old["web-1-server"]]
    new0, new1 = tasks[new["web-0-server"]], tasks[new["web-1-server"]]
    # web-0 first: web-1 kept serving until web-0's new task ran, then rolled
    assert first(old0, "TASK_KILLED") <= first(new0, "TASK_RUNNING")
    assert first(new0, "TASK_RUNNING") <= first(old1, "TASK_KILLED")
    assert first(old1, "TASK_KILLED") <= first(new1, "TASK_RUNNING")
    pod = instance(service, "web-1")
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{pod['ports']['http']}/", timeout=5) as r:
        assert r.read().decode().endswith("says bonjour\n")
    assert "bonjour" in service.get("/v1/configurations/target")["spec"]


def test_pod_replace_relaunches_the_pod_on_another_host(
    cluster: Cluster, service: Scheduler
) -> None:
    before = instance(service, "web-0")
    answer = service.post("/v1/pod/web-0/replace")
    assert answer == {"pod": "web-0", "tasks": ["web-0-server"]}

    def moved() -> dict[str, Any] | None:
        now = instance(service, "web-0")
        task = now["tasks"][0]
        ok = now["hostname"] not in (None, before["hostname"]) and task["healthy"]
        return now if ok else None

    after = daemons.wait_until(moved, 40, interval=0.2, message="web-0 replaced")
    assert after["hostname"] != instance(service, "web-1")["hostname"]
    boots = volume_file(cluster, after["hostname"], after).read_text().splitlines()
    assert len(boots) == 1  # a fresh volume on the new host
    # the old reservation and its volume are gone from the old host
    old_agent = cluster.agent_by_host(before["hostname"])
    old_volumes = old_agent.work_dir / "volumes" / "roles" / ROLE
    daemons.wait_until(
        lambda: not list(old_volumes.glob("web-0.*")), 30, message="old volume destroyed"
    )


def test_an_agent_gone_past_the_timeout_has_its_pod_replaced_elsewhere(
    cluster: Cluster, service: Scheduler
) -> None:
    before = instance(service, "web-1")
    lost = cluster.agent_by_host(before["hostname"])
    lost.kill(signal.SIGKILL)
    try:
        after = daemons.wait_until(
            lambda: (
                (p := instance(service, "web-1"))["hostname"] not in (None, before["hostname"])
                and p["tasks"][0]["healthy"]
                and p
            ),
            60,
            interval=0.3,
            message=f"web-1 replaced\n{service.log_tail()}",
        )
        hosts = {after["hostname"], instance(service, "web-0")["hostname"]}
        assert len(hosts) == 2 and before["hostname"] not in hosts
        service.wait_complete("recovery")
    finally:
        lost.start()
    daemons.wait_until(
        lambda: len([a for a in cluster.state()["slaves"] if a["active"]]) == 3,
        30,
        message="the lost agent back",
    )


def test_uninstall_leaves_no_task_reservation_volume_or_state(
    cluster: Cluster, service: Scheduler
) -> None:
    service.stop()
    service.extra_env["SDK_UNINSTALL"] = "true"
    service.start()
    plan = service.wait_complete(timeout=90)
    assert [p["name"] for p in plan["phases"]] == [
        "kill-tasks",
        "unreserve-resources",
        "deregister-service",
    ]
    assert framework(cluster) is None
    for agent in cluster.state()["slaves"]:
        assert ROLE not in agent["reserved_resources"], agent["hostname"]
    for agent in cluster.agents:
        assert not list((agent.work_dir / "volumes" / "roles").glob(f"{ROLE}/*"))
    leftovers = [p for p in Path(service.store).rglob("*") if p.is_file() and p.name != ".lock"]
    assert leftovers == []
