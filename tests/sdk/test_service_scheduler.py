"""The service scheduler against a real master and three agents (own hostnames): a small
web service whose pods keep data on persistent volumes. The tests run in order, each one
taking the service from where the previous left it: deploy, a task killed, the scheduler
killed, a config update, a plan restart, an update that needs other resources (with room,
then without), `pod replace`, an agent drained, an agent lost, uninstall with an agent
down."""

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


def operator(cluster: Cluster, call: dict[str, Any]) -> Any:
    """A call of the master's operator API (`POST /api/v1`)."""
    return daemons.http_json(cluster.master.url + "/api/v1", call)


def agent_json(cluster: Cluster, hostname: str) -> dict[str, Any]:
    return next(a for a in cluster.state()["slaves"] if a["hostname"] == hostname)


def reserved(cluster: Cluster, hostname: str) -> dict[str, Any] | None:
    """What the master shows reserved for the service's role on that host."""
    return agent_json(cluster, hostname)["reserved_resources"].get(ROLE)


def port_set(ranges: str) -> set[int]:
    """The ports of the master's "[a-b, c-d]" form."""
    out: set[int] = set()
    for part in ranges.strip("[]").split(","):
        begin, end = part.strip().split("-")
        out.update(range(int(begin), int(end) + 1))
    return out


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


def test_a_plan_restart_kills_and_relaunches_every_step_in_plan_order(
    cluster: Cluster, service: Scheduler
) -> None:
    before = {n: instance(service, n) for n in ("web-0", "web-1")}
    old = {n: p["tasks"][0]["id"] for n, p in before.items()}
    service.post("/v1/plans/deploy/restart")
    service.wait_complete(timeout=60)
    after = {n: instance(service, n) for n in ("web-0", "web-1")}
    assert all(after[n]["tasks"][0]["id"] != old[n] for n in old)
    for name, pod in after.items():  # restarted in place: same agent, ports and volume
        assert (pod["agent"], pod["ports"]) == (before[name]["agent"], before[name]["ports"])
        boots = volume_file(cluster, pod["hostname"], pod).read_text().splitlines()
        assert boots[-1].startswith(f"{name}-server ") and len(boots) >= 3
    tasks = statuses(cluster)
    new = {n: p["tasks"][0]["id"] for n, p in after.items()}
    # the deploy plan is serial: web-1 was killed only once web-0 ran again
    assert first(tasks[old["web-0"]], "TASK_KILLED") <= first(tasks[new["web-0"]], "TASK_RUNNING")
    assert first(tasks[new["web-0"]], "TASK_RUNNING") <= first(tasks[old["web-1"]], "TASK_KILLED")


def test_an_update_that_needs_other_resources_re_reserves_them_in_place(
    cluster: Cluster, service: Scheduler
) -> None:
    before = {n: instance(service, n) for n in ("web-0", "web-1")}
    service.stop()
    service.spec_text = spec(NAME, greeting="bonjour", cpus=0.2, memory=48, disk=5, admin_port=True)
    service.start()
    service.wait_complete(timeout=90)
    for name, old in before.items():
        pod = instance(service, name)
        assert (pod["agent"], pod["ports"]["http"]) == (old["agent"], old["ports"]["http"])
        assert sorted(pod["ports"]) == ["admin", "http"]
        held = reserved(cluster, pod["hostname"])
        assert held is not None
        assert (held["cpus"], held["mem"], held["disk"]) == (0.2, 48, 10 + 5)  # + the volume
        assert port_set(held["ports"]) == set(pod["ports"].values())
        boots = volume_file(cluster, pod["hostname"], pod).read_text().splitlines()
        assert len(boots) >= 4  # the volume kept its data through the new reservation
        task = next(t for t in statuses(cluster).values() if t["id"] == pod["tasks"][0]["id"])
        assert task["resources"]["cpus"] == 0.2 and task["resources"]["mem"] == 48


def test_an_update_with_no_room_on_the_agent_says_so_and_keeps_the_pod_running(
    cluster: Cluster, service: Scheduler
) -> None:
    good = service.spec_text
    running = {n: t["id"] for n, t in service.tasks().items()}
    host = instance(service, "web-0")["hostname"]
    service.stop()
    service.spec_text = spec(
        NAME, greeting="bonjour", cpus=3, memory=48, disk=5, admin_port=True
    )  # each agent has 2 cpus
    service.start()

    def said() -> str | None:
        steps = [s for p in service.get("/v1/plans/deploy")["phases"] for s in p["steps"]]
        message = steps[0]["message"]
        return message if steps[0]["status"] == "PENDING" and "no room" in message else None

    message = daemons.wait_until(said, 30, interval=0.3, message="the step says: no room")
    assert message.startswith(f"no room on {host} for its new resources (cpus 2.8: ")
    assert "its tasks keep running" in message
    now = service.tasks()
    assert {n: t["id"] for n, t in now.items()} == running
    assert all(t["status"] == "TASK_RUNNING" for t in now.values())
    assert reserved(cluster, host)["cpus"] == 0.2  # nothing was unreserved
    # back to a config that fits: nothing had changed, so nothing is relaunched
    service.stop()
    service.spec_text = good
    service.start()
    service.wait_complete(timeout=60)
    assert {n: t["id"] for n, t in service.tasks().items()} == running


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


def test_a_drained_agents_pod_is_replaced_on_another_host(
    cluster: Cluster, service: Scheduler
) -> None:
    before = instance(service, "web-0")
    drained = before["hostname"]
    operator(
        cluster, {"type": "DRAIN_AGENT", "drain_agent": {"agent_id": {"value": before["agent"]}}}
    )

    def moved() -> dict[str, Any] | None:
        now = instance(service, "web-0")
        task = now["tasks"][0]
        ok = now["hostname"] not in (None, drained) and task["healthy"]
        return now if ok else None

    after = daemons.wait_until(
        moved, 40, interval=0.2, message=f"web-0 replaced\n{service.log_tail()}"
    )
    assert after["hostname"] != instance(service, "web-1")["hostname"]
    recovery = service.wait_complete("recovery")
    assert [s["name"] for s in recovery["phases"][0]["steps"]][-1] == "web-0:[server]"
    boots = volume_file(cluster, after["hostname"], after).read_text().splitlines()
    assert len(boots) == 1  # placed afresh, with a new volume
    daemons.wait_until(
        lambda: agent_json(cluster, drained).get("drain_info", {}).get("state") == "DRAINED",
        30,
        message=f"{drained} DRAINED",
    )
    # back in service, the drained agent offers the old reservation: it is released
    operator(
        cluster,
        {"type": "REACTIVATE_AGENT", "reactivate_agent": {"agent_id": {"value": before["agent"]}}},
    )
    daemons.wait_until(lambda: reserved(cluster, drained) is None, 30, message="released")
    # the master drops the reservation when it applies DESTROY/UNRESERVE; the agent
    # removes the volume's directory when the operation reaches it, a moment later
    old_volumes = cluster.agent_by_host(drained).work_dir / "volumes" / "roles" / ROLE
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


def test_uninstall_with_an_agent_down_removes_the_rest_and_names_what_it_left(
    cluster: Cluster, service: Scheduler
) -> None:
    down = instance(service, "web-0")
    service.stop()
    lost = cluster.agent_by_host(down["hostname"])
    lost.kill(signal.SIGKILL)  # its task keeps running, out of the master's reach
    daemons.wait_until(
        lambda: cluster.state()["unreachable_slaves"] == 1, 30, message="the agent unreachable"
    )
    service.extra_env["SDK_UNINSTALL"] = "true"
    service.start()
    plan = service.wait_complete(timeout=90)
    kill, unreserve, deregister = plan["phases"]
    assert [kill["name"], unreserve["name"], deregister["name"]] == [
        "kill-tasks",
        "unreserve-resources",
        "deregister-service",
    ]
    agent = down["agent"]
    unreachable = [s["message"] for s in kill["steps"] if "unreachable" in s["message"]]
    assert unreachable == [f"not killed: its agent {agent} is unreachable (TASK_UNREACHABLE)"]
    reservation = next(s for s in unreserve["steps"] if s["name"].startswith("web-0."))
    assert reservation["message"] == (
        f"not removed: reservation {reservation['name']} on {down['hostname']}: "
        f"its agent {agent} is unreachable"
    )
    assert deregister["steps"][0]["message"] == (
        f"left behind: task web-0-server on agent {agent} (unreachable), "
        f"reservation {reservation['name']} on {down['hostname']} (agent {agent} unreachable)"
    )
    assert framework(cluster) is None
    for other in cluster.state()["slaves"]:  # every agent that is there: nothing left
        assert ROLE not in other["reserved_resources"], other["hostname"]
    for other in cluster.agents:
        if other is not lost:
            assert not list((other.work_dir / "volumes" / "roles").glob(f"{ROLE}/*"))
    leftovers = [p for p in Path(service.store).rglob("*") if p.is_file() and p.name != ".lock"]
    assert leftovers == []
    # what it named is what is left: the agent comes back with that reservation
    lost.start()
    daemons.wait_until(lambda: reserved(cluster, down["hostname"]), 30, message="agent back")
    held = reserved(cluster, down["hostname"])
    assert held is not None and port_set(held["ports"]) == set(down["ports"].values())
