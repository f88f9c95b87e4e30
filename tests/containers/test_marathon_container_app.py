"""Marathon apps with `container.docker.image` on real master, agent and Marathon
processes: the image, port mappings and args reach the agent's docker containerizer."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

from tests.harness import daemons
from tests.integration.test_agent_tasks import kill_leftover_tasks
from tests.marathon.conftest import Marathon, marathon

from .conftest import DOCKER_FLAGS, Images, our_containers, remove_our_containers

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def marathon_api(tmp_path_factory: pytest.TempPathFactory, images: Images) -> Iterator[Marathon]:
    root = tmp_path_factory.mktemp("marathon-docker")
    master = daemons.master(root / "master", "--allocation_interval=200ms")
    agent = daemons.agent(
        root / "agent",
        master.address,
        "--resources=cpus:4;mem:4096;disk:4000;ports:[38400-38499]",
        "--isolation=posix/cpu,posix/mem",
        *DOCKER_FLAGS,
    )
    try:
        with daemons.running(master, agent):
            daemons.wait_until(lambda: daemons.registered_agents(master), 30, message="agent")
            process = marathon(root / "marathon", master.address)
            with daemons.running(process):
                yield Marathon(process, master)
    finally:
        kill_leftover_tasks(agent.work_dir)
        remove_our_containers()


def page(host: str, port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/index.html", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


def test_a_bridged_docker_app_serves_on_its_mapped_host_port_and_is_healthy(
    marathon_api: Marathon, images: Images
) -> None:
    app = {
        "id": "/web",
        "cmd": "exec httpd -f -p 8080 -h /www",
        "cpus": 0.1,
        "mem": 32,
        "instances": 1,
        "container": {
            "type": "DOCKER",
            "docker": {"image": images.busybox, "network": "BRIDGE"},
            "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
        },
        "healthChecks": [{"protocol": "HTTP", "path": "/index.html", "portIndex": 0,
                          "intervalSeconds": 1, "gracePeriodSeconds": 30}],
    }  # fmt: skip
    answer = marathon_api("POST", "/v2/apps", app)
    assert answer.status == 201, answer
    (task,) = marathon_api.wait_running("/web", 1)
    assert 38400 <= task["ports"][0] <= 38499
    body = daemons.wait_until(lambda: page(task["host"], task["ports"][0]), 30, message="page")
    assert body == "hello from the container\n"
    daemons.wait_until(
        lambda: (
            all(r["alive"] for r in marathon_api.tasks("/web")[0].get("healthCheckResults", []))
            and marathon_api.tasks("/web")[0].get("healthCheckResults")
        ),
        30,
        message="healthy",
    )
    assert len(our_containers()) == 1
    marathon_api.remove("/web")
    daemons.wait_until(lambda: not our_containers(), 60, message="container removed")


def test_args_run_after_the_image_and_scaling_adds_containers(
    marathon_api: Marathon, images: Images
) -> None:
    app = {
        "id": "/sleepers",
        "args": ["sleep", "300"],
        "cpus": 0.1,
        "mem": 32,
        "instances": 2,
        "container": {"type": "DOCKER", "docker": {"image": images.busybox}},
    }
    assert marathon_api("POST", "/v2/apps", app).status == 201
    marathon_api.wait_running("/sleepers", 2)
    daemons.wait_until(lambda: len(our_containers()) == 2, 60, message="two containers")
    assert marathon_api("PUT", "/v2/apps/sleepers", {"instances": 1}).status == 200
    marathon_api.wait_running("/sleepers", 1)
    daemons.wait_until(lambda: len(our_containers()) == 1, 60, message="one container")
    marathon_api.remove("/sleepers")


def test_a_mesos_container_app_runs_its_docker_image(
    marathon_api: Marathon, images: Images
) -> None:
    app = {
        "id": "/unified",
        "cmd": "test -e /bin/busybox && echo in-image > marker && sleep 300",
        "cpus": 0.1,
        "mem": 32,
        "container": {"type": "MESOS", "docker": {"image": images.busybox}},
    }
    assert marathon_api("POST", "/v2/apps", app).status == 201
    marathon_api.wait_running("/unified", 1)
    daemons.wait_until(lambda: len(our_containers()) == 1, 60, message="one container")
    marathon_api.remove("/unified")
    daemons.wait_until(lambda: not our_containers(), 60, message="container removed")


@pytest.mark.parametrize(
    ("container", "path", "words"),
    [
        ({"type": "DOCKER", "docker": {"image": "Bad Image!"}}, "/container/docker/image",
         "not a valid image reference"),
        ({"type": "DOCKER", "docker": {"image": ""}}, "/container/docker/image",
         "must not be empty"),
        ({"type": "DOCKER", "docker": {"image": "a", "network": "WIFI"}},
         "/container/docker/network", "must be HOST, BRIDGE"),
        ({"type": "DOCKER", "docker": {"image": "a"},
          "portMappings": [{"containerPort": 70000}]}, "/container/portMappings(0)/containerPort",
         ""),
    ],
)  # fmt: skip
def test_bad_container_fields_are_refused_naming_the_field(
    marathon_api: Marathon, container: dict, path: str, words: str
) -> None:
    answer = marathon_api("POST", "/v2/apps", {"id": "/bad", "cmd": "x", "container": container})
    assert answer.status == 422, answer
    details = {d["path"]: d["errors"] for d in answer.body["details"]}
    assert path in details, answer.body
    assert any(words in e for e in details[path]), details
    assert marathon_api("GET", "/v2/apps/bad").status == 404
