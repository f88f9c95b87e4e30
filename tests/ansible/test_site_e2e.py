"""End to end: plain `ansible-playbook` over SSH: check mode on four fresh Debian hosts
reports the rollout and changes nothing, then site.yml takes them to an HA cluster, a
second run changes nothing, the cluster fails over with its tasks running,
upgrade.yml to a new wheel keeps a long task running, remove-node.yml drains first, bad
input is refused before anything changes, and reset.yml tears it all down idempotently.
The tests run in this order on the same hosts (module fixture `site`)."""

from __future__ import annotations

import asyncio
import json
import shutil
import tarfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mesos_runtime.ops import wheelhouse
from tests.ansible import cluster_checks as checks
from tests.harness.daemons import wait_until
from tests.harness.playbooks import REPO, Site
from tests.harness.v1_client import framework_info

pytestmark = [pytest.mark.ansible, pytest.mark.slow, pytest.mark.timeout(1200)]

MARATHON_HTTPS = 8443  # the marathon role's marathon_https_port

# what a change on a host would touch: configuration, units, releases
FINGERPRINT = (
    "find /etc/mesos /etc/zookeeper/conf /etc/systemd/system /opt/infinity/releases "
    "-maxdepth 1 -printf '%p %s %T@\\n' 2>/dev/null | sort | md5sum"
)


def access(site: Site) -> checks.Access:
    """As the operator, over TLS: the cluster's secrets on the controller (the roles made
    them under infinity_secrets_dir, ~/.infinity/<cluster>, on the first real run)."""
    return checks.Access.of_secrets(site.secrets)


def fingerprints(site: Site) -> dict[str, str]:
    return {h.name: site.ssh(h.name, FINGERPRINT).stdout for h in site.cluster.hosts}


def node_row(site: Site, host: str) -> dict[str, Any]:
    (row,) = [r for r in json.loads(site.infinity("list", "--json").stdout) if r["host"] == host]
    return row


def leader(site: Site) -> str:
    return wait_until(
        lambda: checks.leader_url(access(site), site.ips("masters")),
        60,
        message="exactly one leading master",
    )


def test_check_mode_on_fresh_hosts_completes_and_changes_nothing(site: Site) -> None:
    before = fingerprints(site)
    run = site.playbook("site.yml", "--check")
    assert run.returncode == 0, run.output[-5000:]
    recap = run.recap()
    assert set(recap) == {h.name for h in site.cluster.hosts}
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in recap.values()), recap
    # it reports what a real run would do, and does none of it
    assert all(r["changed"] > 0 for r in recap.values()), recap
    assert "would install zookeeper" in run.output
    assert fingerprints(site) == before
    untouched = site.ssh("itest-1", "dpkg-query -W libzookeeper-java; systemctl cat zookeeper")
    assert untouched.returncode != 0, untouched.stdout


def test_site_yml_converges_fresh_hosts_to_a_working_cluster(site: Site) -> None:
    run = site.playbook("site.yml")
    assert run.returncode == 0, run.output[-5000:]
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in run.recap().values())
    # every ZooKeeper member serves, as leader or follower, on the cluster's address only
    modes = sorted(checks.zookeeper_mode(ip) or "down" for ip in site.ips("zookeeper"))
    assert modes == ["follower", "follower", "leader"]
    # on the headless JRE only: none of the desktop JRE that Debian's `zookeeper` pulls in
    packages = site.ssh(
        "itest-1", "dpkg-query -W -f='${Package} ${Status}\\n' | grep ' installed$'"
    ).stdout
    installed = {line.split()[0] for line in packages.splitlines()}
    assert {"libzookeeper-java", "openjdk-17-jre-headless"} <= installed
    assert not installed & {"zookeeper", "default-jre", "openjdk-17-jre", "libgtk-3-0"}, installed
    listening = site.ssh("itest-1", "ss -ltnH '( sport = :2181 )'").stdout
    assert f"{site.cluster.host('itest-1').ip}:2181" in listening
    assert "0.0.0.0:2181" not in listening and "*:2181" not in listening
    # exactly one master leads; every host's agent is registered with its resources
    url = leader(site)
    assert len(checks.leading_masters(access(site), site.ips("masters"))) == 1
    registered = {checks.agent_ip(a): a for a in checks.agents(access(site), url)}
    assert set(registered) == set(site.ips("agents"))
    for agent in registered.values():
        resources = {r["name"]: r for r in agent["total_resources"]}
        assert resources["cpus"]["scalar"]["value"] == 2.0
        assert resources["mem"]["scalar"]["value"] == 1024.0
        assert agent["active"] is True
    # a task runs on every agent (to TASK_FINISHED, acknowledged)
    ran = checks.run_on_every_agent(access(site), url, "hello", command="echo hello")
    assert set(ran.values()) == {a["agent_info"]["id"]["value"] for a in registered.values()}
    # the daemons log to the journal and systemd restarts them
    journal = site.ssh("itest-2", "journalctl -u mesos-agent --no-pager -n 50").stdout
    assert "registered with master" in journal
    unit = site.ssh(
        "itest-2", "systemctl show -p Restart mesos-master mesos-agent zookeeper marathon"
    ).stdout
    assert unit.split() == ["Restart=always"] * 4
    # the agent restarts without its tasks (KillMode=process, --recover=reconnect)
    kill_mode = site.ssh("itest-2", "systemctl show -p KillMode mesos-agent").stdout
    assert kill_mode.strip() == "KillMode=process"
    # the runtime (common): a venv of the wheelhouse under /opt/infinity, `current` at it
    release = site.ssh("itest-2", "readlink /opt/infinity/current").stdout.strip()
    assert release.startswith("/opt/infinity/releases/0.1.0-"), release
    installed = site.ssh(
        "itest-2",
        f"test -e {release}/.installed && {release}/bin/mesos-master --version"
        f" && {release}/bin/pip freeze && id -u mesos"
        " && stat -c '%a %G' /opt/infinity/bin/infinity-install-release /etc/mesos/ssl/host.key",
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "Infinity 0.1.0" in installed.stdout
    assert "infinity-mesos==0.1.0" in installed.stdout and "aiohttp==" in installed.stdout
    assert installed.stdout.split()[-4:] == ["755", "root", "640", "mesos"]
    assert "MESOS_CLUSTER=itest" in site.ssh("itest-2", "cat /etc/mesos/master.env").stdout


def test_the_secured_cluster_refuses_anonymous_callers_and_serves_the_operator(
    site: Site,
) -> None:
    operator = access(site)
    url = leader(site)
    get_agents = {"type": "GET_AGENTS"}
    # over TLS with the cluster's CA: without credentials, or with a wrong secret, a 401
    assert operator.anonymous().status(url + "/api/v1", get_agents) == 401
    assert operator.anonymous().status(url + "/metrics/snapshot") == 401
    impostor = checks.Access(operator.context, "operator", "not-the-secret")
    assert impostor.status(url + "/api/v1", get_agents) == 401
    assert operator.status(url + "/api/v1", get_agents) == 200
    # a framework without credentials may not subscribe
    assert asyncio.run(_subscribe_status(operator.anonymous(), url)) == 401
    # no plain HTTP on the masters' or agents' ports: TLS only, verified against the CA
    for port in (5050, 5051):
        with pytest.raises((urllib.error.URLError, OSError)):
            checks.PLAIN.get_json(f"http://{site.cluster.host('itest-2').ip}:{port}/health")
    # the agents registered (with a master that speaks only TLS) as their principal, and
    # serve their own endpoints over TLS to the operator only
    agent = operator.url(site.cluster.host("itest-4").ip, 5051)
    assert operator.anonymous().status(agent + "/state") == 401
    state = operator.get_json(agent + "/state")
    assert state["master_hostname"] in site.ips("masters")
    assert state["flags"]["authenticate_http_readonly"] in (True, "true")
    master_flags = operator.get_json(url + "/state")["flags"]
    assert master_flags["authenticate_agents"] in (True, "true")
    assert master_flags["authenticate_frameworks"] in (True, "true")
    # the secrets on the hosts are readable by their daemons only
    modes = site.ssh(
        "itest-2",
        "cd /etc/mesos && stat -c '%n %a' credentials.json agent-credential.json"
        " agent-http-credentials.json executor-secret-key marathon-secret"
        " marathon-http-credentials.json ssl/host.key",
    )
    assert modes.returncode == 0, modes.stdout + modes.stderr
    for line in modes.stdout.splitlines():
        assert line.split()[1] in ("600", "640"), line


async def _subscribe_status(caller: checks.Access, url: str) -> int:
    """The HTTP status a framework's SUBSCRIBE gets from the master at `url`."""
    async with caller.v1_client(url) as client:
        subscribe = {"framework_info": framework_info("anonymous")}
        stream = await client.open_stream(
            "/api/v1/scheduler", {"type": "SUBSCRIBE", "subscribe": subscribe}
        )
        return stream.status


def test_marathon_on_the_masters_elects_one_leader_and_runs_an_app(site: Site) -> None:
    masters = site.ips("masters")
    operator = access(site)
    # secured: HTTPS only on 8443 against the cluster's CA, the operator's credential
    marathon = wait_until(
        lambda: checks.marathon_leader(masters, operator, MARATHON_HTTPS),
        90,
        message="one Marathon leader",
    )
    assert marathon.startswith("https://")
    info = operator.get_json(marathon + "/v2/info")
    assert info["elected"] is True
    assert info["marathon_config"]["webui_url"] == marathon
    assert operator.anonymous().status(marathon + "/v2/apps") == 401
    impostor = checks.Access(operator.context, "operator", "not-the-secret")
    assert impostor.status(marathon + "/v2/apps") == 401
    with pytest.raises((urllib.error.URLError, OSError)):
        checks.PLAIN.get_json(f"http://{masters[0]}:8080/ping")
    frameworks = operator.get_json(leader(site) + "/api/v1", {"type": "GET_FRAMEWORKS"})
    infos = [f["framework_info"] for f in frameworks["get_frameworks"]["frameworks"]]
    assert [i["name"] for i in infos].count("marathon") == 1
    assert next(i for i in infos if i["name"] == "marathon")["webui_url"] == marathon
    # an app through a standby instance (it proxies to the leader over TLS with the
    # caller's credential), running on an agent
    leading = marathon.split("//")[1].rsplit(":", 1)[0]
    standby = next(ip for ip in masters if ip != leading)
    assert operator.anonymous().status(operator.url(standby, MARATHON_HTTPS) + "/v2/apps") == 401
    app = {"id": "/e2e/sleeper", "cmd": "sleep 3600", "cpus": 0.1, "mem": 32, "instances": 1}
    operator.get_json(operator.url(standby, MARATHON_HTTPS) + "/v2/apps", app)
    running = wait_until(
        lambda: (
            (t := operator.get_json(marathon + "/v2/apps/e2e/sleeper")["app"])["tasksRunning"] == 1
            and t
        ),
        120,
        message="the app's instance running",
    )
    assert running["instances"] == 1
    states = checks.task_states(operator, leader(site))
    (task,) = [s for t, s in states.items() if t.startswith("e2e_sleeper")]
    assert task == "TASK_RUNNING"
    # gone again (the later tests count the agents' tasks), once its deployment is over: a
    # DELETE while the app is locked by one is a 409, as Marathon answers
    wait_until(
        lambda: operator.get_json(marathon + "/v2/deployments") == [],
        60,
        message="the app's deployment finished",
    )
    request = urllib.request.Request(
        marathon + "/v2/apps/e2e/sleeper", method="DELETE", headers=operator.headers()
    )
    urllib.request.urlopen(request, timeout=10, context=operator.context).close()
    wait_until(
        lambda: (
            not any(
                t.startswith("e2e_sleeper") and s == "TASK_RUNNING"
                for t, s in checks.task_states(operator, leader(site)).items()
            )
        ),
        60,
        message="the app's task killed",
    )


def test_a_second_site_run_changes_nothing(site: Site) -> None:
    # check mode is run on fresh hosts above; on converged ones (changed=0, --diff showing
    # no secret) by test_security.py's controller-side run, without a third site.yml here
    again = site.playbook("site.yml")
    assert again.returncode == 0, again.output[-5000:]
    assert again.changed() == 0, again.output[-5000:]


def test_bad_inventories_and_variables_are_refused_before_anything_changes(
    site: Site, tmp_path: Path
) -> None:
    before = fingerprints(site)

    def even(doc: dict[str, Any]) -> None:
        doc["all"]["children"]["zookeeper"]["hosts"].pop("itest-3")

    def unreachable(doc: dict[str, Any]) -> None:
        # an address on the test network where no host answers
        doc["all"]["hosts"]["itest-ghost"] = {"ansible_host": "198.18.0.254"}
        doc["all"]["children"]["agents"]["hosts"]["itest-ghost"] = {}

    # an unknown host key: Ansible (StrictHostKeyChecking=yes) and `infinity node` refuse it
    empty = tmp_path / "known_hosts"
    empty.write_text("")

    def unknown_key(doc: dict[str, Any]) -> None:
        doc["all"]["vars"]["ansible_ssh_common_args"] = (
            f"-o UserKnownHostsFile={empty} -o StrictHostKeyChecking=yes"
        )

    strangers = site.variant("strangers", unknown_key)
    variants = {"even": site.variant("even", even), "ghost": site.variant("ghost", unreachable)}
    # each refused before any play changes a host: independent, so run side by side
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = {
            "even": pool.submit(site.playbook, "site.yml", inventory=variants["even"]),
            "typo": pool.submit(site.playbook, "site.yml", "-e", "mesos_agent_resorces=cpus:1"),
            "type": pool.submit(site.playbook, "site.yml", "-e", "zookeeper_client_port=two"),
            "ghost": pool.submit(
                site.playbook,
                "site.yml",
                *("-e", "ansible_ssh_timeout=3"),
                inventory=variants["ghost"],
            ),
            "strangers": pool.submit(
                site.playbook, "site.yml", inventory=strangers, control_dir="cp-strangers"
            ),
            "node-key": pool.submit(
                site.infinity, "ssh", "itest-1", "--", "true", inventory=strangers
            ),
            "node-host": pool.submit(site.infinity, "drain", "no-such-host"),
        }
        done = {name: future.result() for name, future in runs.items()}

    run = done["even"]
    assert run.returncode != 0
    assert "inventory group 'zookeeper' has 2 hosts" in run.output
    run = done["typo"]
    assert run.returncode != 0
    assert "unknown variable(s) mesos_agent_resorces" in run.output
    run = done["type"]
    assert run.returncode != 0
    assert "zookeeper_client_port" in run.output and "int" in run.output
    run = done["ghost"]
    assert run.returncode != 0
    assert "itest-ghost" in run.output and "UNREACHABLE" in run.output
    run = done["strangers"]
    assert run.returncode != 0
    assert "Host key verification failed" in run.output

    node = done["node-key"]
    assert node.returncode == 1
    assert "is not in known_hosts" in node.stderr and "--accept-unknown-host-keys" in node.stderr
    node = done["node-host"]
    assert node.returncode == 1
    assert "host 'no-such-host' is not in the inventory" in node.stderr
    assert "itest-1" in node.stderr

    assert fingerprints(site) == before


def test_the_cluster_fails_over_and_keeps_its_tasks_running(site: Site) -> None:
    url = leader(site)
    tasks = checks.launch_on_every_agent(
        access(site), url, "failover", skip=[site.cluster.host("itest-4").ip]
    )
    old_leader = url.split("//")[1].split(":")[0]
    old_host = next(h.name for h in site.cluster.hosts if h.ip == old_leader)
    assert site.ssh(old_host, "systemctl stop mesos-master").returncode == 0
    try:
        wait_until(
            lambda: (
                (u := checks.leader_url(access(site), site.ips("masters")))
                and old_leader not in u
                and u
            ),
            90,
            message="a new leading master",
        )
        # kill a ZooKeeper member (systemd restarts it): the ensemble keeps its quorum
        member = next(h for h in site.cluster.hosts[:3] if h.name != old_host)
        site.ssh(member.name, "systemctl kill --signal=SIGKILL zookeeper")

        # asked of whichever master leads: if the killed member held the new leader's
        # session, that master exits by design and another one takes over
        def all_running() -> bool:
            now = checks.leader_url(access(site), site.ips("masters"))
            states = checks.task_states(access(site), now) if now else {}
            return all(states.get(t) == "TASK_RUNNING" for t in tasks)

        wait_until(all_running, 120, message="every task RUNNING on the leading master")
        wait_until(
            lambda: (
                sorted(checks.zookeeper_mode(ip) or "down" for ip in site.ips("zookeeper"))
                == ["follower", "follower", "leader"]
            ),
            90,
            message="the killed member back in the ensemble",
        )
    finally:
        site.ssh(old_host, "systemctl start mesos-master")
    wait_until(
        lambda: access(site).get_json(access(site).url(old_leader) + "/health") is None,
        60,
        message="the old leader back as a standby",
    )
    # one master leads again (a master whose ZooKeeper session expired with the killed
    # member exits by design and comes back as a standby: wait out such an election)
    url = leader(site)
    assert all(checks.task_states(access(site), url).get(t) == "TASK_RUNNING" for t in tasks)


def _new_release(work: Path, version: str) -> Path:
    """A copy of the project whose wheel is a new version (what a release would ship)."""
    project = work / f"project-{version}"
    if project.exists():
        shutil.rmtree(project)
    project.mkdir()
    shutil.copy(REPO / "README.md", project)
    pyproject = (REPO / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(
        pyproject.replace('version = "0.1.0"', f'version = "{version}"')
    )
    shutil.copytree(
        REPO / "mesos_runtime",
        project / "mesos_runtime",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    init = project / "mesos_runtime" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "0.1.0"', f'__version__ = "{version}"'))
    # the playbooks build the wheelhouse with the checkout's own builder
    return project


def test_upgrade_yml_to_a_new_wheel_keeps_a_long_task_running(site: Site) -> None:
    url = leader(site)
    long_task = checks.launch_on_every_agent(
        access(site), url, "long", skip=[site.cluster.host("itest-4").ip]
    )
    project = _new_release(site.work, "0.1.1")
    zk_leader = next(
        h.name for h in site.cluster.hosts[:3] if checks.zookeeper_mode(h.ip) == "leader"
    )
    run = site.playbook(
        "upgrade.yml",
        # a changed ZooKeeper setting: members restart one at a time, the leader last
        "-e",
        "zookeeper_max_client_connections=61",
        "-e",
        f"infinity_project_dir={project}",
        "-e",
        f"infinity_wheelhouse_dir={site.work / 'wheelhouse-0.1.1'}",
    )
    assert run.returncode == 0, run.output[-5000:]
    url = leader(site)
    assert {a["version"] for a in checks.agents(access(site), url)} == {"0.1.1"}
    version = access(site).get_json(url + "/version")
    assert version["git_sha"] == "infinity-0.1.1"
    # masters one at a time, the leader last; agents in batches, each re-registered
    assert run.output.count("Restart the master on") == 3
    restarted = [
        line.split(",")[-1].strip(" ]*")
        for line in run.output.splitlines()
        if line.startswith("TASK [zookeeper : Restart ZooKeeper on one member")
    ]
    assert sorted(restarted) == ["itest-1", "itest-2", "itest-3"]
    assert restarted[-1] == zk_leader
    modes = sorted(checks.zookeeper_mode(ip) or "down" for ip in site.ips("zookeeper"))
    assert modes == ["follower", "follower", "leader"]
    states = checks.task_states(access(site), url)
    assert all(states.get(t) == "TASK_RUNNING" for t in long_task), states


def test_infinity_node_drains_undrains_upgrades_and_collects_diagnostics(
    site: Site, tmp_path: Path
) -> None:
    ip = site.cluster.host("itest-4").ip
    drained = site.infinity("drain", "itest-4", "--grace-period", "5")
    assert drained.returncode == 0, drained.stderr
    listed = json.loads(site.infinity("list", "--json").stdout)
    assert sum(r["leading_master"] for r in listed) == 1
    assert node_row(site, "itest-4")["drain_state"] == "DRAINED"
    assert node_row(site, "itest-4")["active"] is False
    assert site.infinity("undrain", "itest-4").returncode == 0
    assert node_row(site, "itest-4")["drain_state"] is None
    assert node_row(site, "itest-4")["active"] is True

    # a rolling upgrade of that agent over SSH keeps its task running
    url = leader(site)
    wheelhouse.build(_new_release(site.work, "0.1.2"), tmp_path / "wheelhouse")
    with checks.AckingFramework(access(site), url, "kept") as framework:
        (task,) = framework.launch_on_every_agent("sleep 600", skip=site.ips("masters"))
        house = str(tmp_path / "wheelhouse")
        upgraded = site.infinity("upgrade", "itest-4", "--wheelhouse-dir", house)
        assert upgraded.returncode == 0, upgraded.stderr
        assert "itest-4: ok" in upgraded.stderr
        versions = {
            checks.agent_ip(a): a["version"] for a in checks.agents(access(site), leader(site))
        }
        assert versions[ip] == "0.1.2"
        assert checks.task_states(access(site), leader(site))[task] == "TASK_RUNNING"
        assert framework.states(task)[-1] == ("TASK_RUNNING", None)

    archive = tmp_path / "diag.tar.gz"
    diag = site.infinity("diag", "-o", str(archive))
    assert diag.returncode == 0, diag.stderr
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        journal = tar.extractfile("infinity-diag/itest-1/journal.txt").read().decode()  # type: ignore[union-attr]
    for host in site.cluster.hosts:
        assert f"infinity-diag/{host.name}/versions.txt" in names
    assert "infinity-diag/cluster/get_state.json" in names
    assert "mesos-master" in journal


def test_remove_node_yml_drains_first_and_bootstrap_brings_the_host_back(site: Site) -> None:
    url = leader(site)
    ghost_ip = site.cluster.host("itest-4").ip
    # a connected framework: the drain completes once it acknowledged the tasks' ends
    with checks.AckingFramework(access(site), url, "evicted") as framework:
        tasks = framework.launch_on_every_agent("sleep 3600")
        agents = {
            checks.agent_ip(a): a["agent_info"]["id"]["value"]
            for a in checks.agents(access(site), url)
        }
        on_node = [t for t, agent in tasks.items() if agent == agents[ghost_ip]]
        run = site.playbook("remove-node.yml", "-e", "node=itest-4")
        seen = {t: framework.states(t) for t in on_node}
        # the framework's tasks on the other agents were left alone
        others = [t for t in tasks if t not in on_node]
        states = checks.task_states(access(site), leader(site))
        assert others and all(states.get(t) == "TASK_RUNNING" for t in others), states
    assert run.returncode == 0, run.output[-5000:]
    assert run.output.index("Drain the agent") < run.output.index("Stop and disable the agent")
    url = leader(site)
    completed = access(site).get_json(url + "/api/v1", {"type": "GET_TASKS"})["get_tasks"]
    ended = {t["task_id"]["value"]: t for t in completed.get("completed_tasks", [])}
    for task_id in on_node:
        assert ("TASK_KILLED", "REASON_AGENT_DRAINING") in seen[task_id]
        assert ended[task_id]["state"] == "TASK_KILLED"
    assert ghost_ip not in {checks.agent_ip(a) for a in checks.agents(access(site), url)}
    assert site.ssh("itest-4", "systemctl is-active mesos-agent").stdout.strip() != "active"

    # the host comes back as a new agent: `infinity node bootstrap` (scale.yml --limit)
    back = site.infinity("bootstrap", "itest-4")
    assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-2000:]
    again = {
        checks.agent_ip(a): a["agent_info"]["id"]["value"] for a in checks.agents(access(site), url)
    }
    assert ghost_ip in again and again[ghost_ip] != agents[ghost_ip]


def test_reset_yml_tears_everything_down_and_is_idempotent(site: Site) -> None:
    run = site.playbook("reset.yml")
    assert run.returncode == 0, run.output[-5000:]
    for host in site.cluster.hosts:
        gone = site.ssh(
            host.name, "ls /opt/infinity /etc/mesos /var/lib/mesos 2>&1; pgrep -c sleep"
        )
        assert "No such file" in gone.stdout and gone.stdout.strip().endswith("0"), gone.stdout
        assert checks.zookeeper_mode(host.ip) is None
    again = site.playbook("reset.yml")
    assert again.returncode == 0, again.output[-5000:]
    assert again.changed() == 0, again.output[-5000:]
