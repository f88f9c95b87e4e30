"""Marathon's high availability with real processes: a restarted Marathon adopts its
running tasks; several instances on a real ZooKeeper quorum elect one leader, the others
proxy to it, and a new leader takes over the apps (still running) when it dies or
abdicates. Bad flags are refused before anything starts."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import pytest

from mesos_runtime.marathon.main import main
from tests.harness import daemons, zookeeper

from .conftest import Marathon, marathon

pytestmark = pytest.mark.integration


def sleeper(app_id: str, instances: int) -> dict:
    return {"id": app_id, "cmd": "sleep 1000", "cpus": 0.05, "mem": 16, "instances": instances}


def test_a_restarted_marathon_adopts_its_running_tasks(cluster, tmp_path: Path) -> None:
    master, _agents = cluster
    process = marathon(tmp_path / "m", master.address)
    with daemons.running(process):
        m = Marathon(process, master)
        assert m("POST", "/v2/apps", sleeper("/adopted", 2)).status == 201
        before = {t["id"] for t in m.wait_running("/adopted", 2)}
        framework_id = m("GET", "/v2/info").body["frameworkId"]
        process.kill(signal.SIGKILL)
        process.start()
        again = m.wait_running("/adopted", 2)
        assert {t["id"] for t in again} == before
        assert m("GET", "/v2/info").body["frameworkId"] == framework_id
        assert m("PUT", "/v2/apps/adopted", {"instances": 3}).status == 200
        assert before < {t["id"] for t in m.wait_running("/adopted", 3)}
        m.remove("/adopted")


def leader_of(instances: list[Marathon]) -> Marathon | None:
    for m in instances:
        if m.process.process is None or m.process.process.poll() is not None:
            continue
        answer = m("GET", "/v2/leader")
        if answer.status == 200:
            return next((x for x in instances if x.process.address == answer.body["leader"]), None)
    return None


@pytest.mark.zookeeper
def test_a_new_leader_takes_over_the_running_apps(
    cluster, zk_quorum: zookeeper.QuorumHandle, tmp_path: Path
) -> None:
    master, _agents = cluster
    for node in zk_quorum.nodes:
        if not node.running:
            zk_quorum.start(node.myid)
    zk_quorum.wait_for_quorum()
    zk = zk_quorum.zk_url(f"/marathon-{uuid.uuid4().hex[:8]}")
    processes = [marathon(tmp_path / f"m{i}", master.address, zk=zk) for i in range(2)]
    with daemons.running(*processes):
        instances = [Marathon(p, master) for p in processes]
        leader = daemons.wait_until(lambda: leader_of(instances), 30, message="a leader")
        follower = next(m for m in instances if m is not leader)
        assert follower("GET", "/v2/leader").body == {"leader": leader.process.address}
        info = follower("GET", "/v2/info").body  # proxied: the leader answers
        assert info["elected"] is True and info["leader"] == leader.process.address

        # the follower proxies API calls to the leader
        created = follower("POST", "/v2/apps", sleeper("/ha/web", 2))
        assert created.status == 201
        assert created.headers.get("X-Marathon-Leader") == f"http://{leader.process.address}"
        tasks = {t["id"] for t in follower.wait_running("/ha/web", 2)}
        framework_id = info["frameworkId"]

        # abdication: the other instance leads, the tasks keep running
        assert leader("DELETE", "/v2/leader").body == {"message": "Leadership abdicated"}
        daemons.wait_until(lambda: leader_of(instances) is follower, 30, message="new leader")
        assert {t["id"] for t in follower.wait_running("/ha/web", 2)} == tasks
        assert follower("GET", "/v2/info").body["frameworkId"] == framework_id

        # the leader dies: the first instance leads again and adopts the same tasks
        follower.process.kill(signal.SIGKILL)
        daemons.wait_until(lambda: leader_of(instances) is leader, 30, message="failover")
        assert {t["id"] for t in leader.wait_running("/ha/web", 2)} == tasks
        assert leader("PUT", "/v2/apps/ha/web", {"instances": 3}).status == 200
        assert tasks < {t["id"] for t in leader.wait_running("/ha/web", 3)}
        state = daemons.http_json(master.url + "/master/state")
        (framework,) = [f for f in state["frameworks"] if f["id"] == framework_id]
        assert len(framework["tasks"]) == 3
        leader.remove("/ha/web")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--http_port=8080"], "--master is required"),
        (
            ["--master=127.0.0.1:5050", "--http_port=99999"],
            "flag --http_port: port '99999' is out of range",
        ),
        (["--master=zk://nowhere"], "--master"),
        (["--master=127.0.0.1:5050", "--zk=zk://h:2181"], "--zk"),
        (["--master=127.0.0.1:5050", "--task_launch_timeout=-5"], "--task_launch_timeout"),
        (["--master=127.0.0.1:5050", "--no_such_flag=1"], "unknown flag --no_such_flag"),
        (
            [
                "--master=127.0.0.1:5050",
                "--mesos_authentication_principal=p",
                "--mesos_authentication_secret_file=/nonexistent/secret",
            ],
            "--mesos_authentication_secret_file",
        ),
    ],
)
def test_bad_flags_are_refused_naming_the_flag(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    assert words in capsys.readouterr().err


def test_flags_come_from_marathon_environment_variables(tmp_path: Path, monkeypatch) -> None:
    from mesos_runtime.marathon.flags import MarathonFlags
    from mesos_runtime.wire.flags import parse_flags

    monkeypatch.setenv("MARATHON_MASTER", "zk://z1:2181/mesos")
    monkeypatch.setenv("MARATHON_HTTP_PORT", "9090")
    flags = parse_flags(MarathonFlags, ["--framework_name", "mine"], prefix="MARATHON_")
    assert (flags.master, flags.http_port, flags.framework_name) == (
        "zk://z1:2181/mesos",
        9090,
        "mine",
    )
    assert flags.failover_timeout == 604800 and flags.task_launch_timeout == 300000


def test_instances_on_a_lost_agent_are_replaced_on_another(tmp_path: Path) -> None:
    """An agent that stops answering: its instance becomes unreachable and, with the
    default unreachableStrategy (0 s), is replaced on another agent at once."""
    from tests.integration.test_agent_tasks import kill_leftover_tasks

    master = daemons.master(
        tmp_path / "master", "--agent_ping_timeout=500ms", "--max_agent_ping_timeouts=2"
    )
    agents = [
        daemons.agent(
            tmp_path / f"agent{n}",
            master.address,
            "--resources=cpus:4;mem:4096;disk:4096;ports:[31000-31999]",
            f"--hostname=127.0.0.{n}",
        )
        for n in (1, 2, 3)
    ]
    try:
        with daemons.running(master, *agents):
            daemons.wait_until(lambda: len(daemons.registered_agents(master)) == 3, 30)
            process = marathon(tmp_path / "m", master.address)
            with daemons.running(process):
                m = Marathon(process, master)
                body = {**sleeper("/survivor", 2), "constraints": [["hostname", "UNIQUE"]]}
                assert m("POST", "/v2/apps", body).status == 201
                before = m.wait_running("/survivor", 2)
                lost = before[0]
                free = ({"127.0.0.1", "127.0.0.2", "127.0.0.3"} - {t["host"] for t in before}).pop()
                agents[int(lost["host"].rsplit(".", 1)[1]) - 1].kill(signal.SIGKILL)
                after = daemons.wait_until(
                    lambda: (
                        (r := m.running("/survivor", 2))
                        and lost["id"] not in {t["id"] for t in r}
                        and r
                    ),
                    60,
                    message="the lost instance replaced",
                )
                assert {t["host"] for t in after} == {before[1]["host"], free}
    finally:
        for agent in agents:
            kill_leftover_tasks(agent.work_dir)
