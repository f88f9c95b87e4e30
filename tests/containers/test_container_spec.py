"""ContainerInfo checks and the `podman run` command line built from a TaskInfo (no podman
needed: what reaches podman is asserted as the argv the agent would run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesos_runtime.agent.containerizer import Containerizer
from mesos_runtime.agent.docker import DockerRuntime, DockerSettings, unsupported
from mesos_runtime.agent.isolation import PosixIsolator
from mesos_runtime.wire.container import check_image_name, validate_container
from mesos_runtime.wire.errors import WireError
from mesos_runtime.wire.mesos import AgentID, CommandInfo, TaskID, TaskInfo
from mesos_runtime.wire.resources import Resources


@pytest.mark.parametrize(
    "name",
    [
        "busybox",
        "localhost/infinity-ctest-a:1",
        "registry.local:5000/team/app:v1.2",
        "a@sha256:" + "0" * 64,
    ],
)
def test_image_references_docker_accepts_pass(name: str) -> None:
    assert check_image_name(name) is None


@pytest.mark.parametrize("name", ["", "Busybox", "a b", "--privileged", "a:", "x" * 300, "a/../b"])
def test_bad_image_references_are_refused(name: str) -> None:
    assert check_image_name(name) is not None


@pytest.mark.parametrize(
    ("container", "words"),
    [
        ({"type": "DOCKER"}, "'TaskInfo.container.docker' is required"),
        ({"type": "DOCKER", "docker": {"image": "UPPER"}}, "'TaskInfo.container.docker.image'"),
        ({"type": "DOCKER",
          "docker": {"image": "a", "parameters": [{"key": "rm -rf", "value": ""}]}},
         "parameters[0].key"),
        ({"type": "DOCKER", "docker": {"image": "a", "network": "HOST",
                                       "port_mappings": [{"host_port": 1, "container_port": 2}]}},
         "need network BRIDGE or USER"),
        ({"type": "DOCKER", "docker": {"image": "a", "network": "BRIDGE",
                                       "port_mappings": [{"host_port": 0, "container_port": 2}]}},
         "host_port' must be within 1-65535"),
        ({"type": "MESOS", "mesos": {"image": {"type": "APPC"}}}, "only DOCKER images"),
        ({"type": "DOCKER", "docker": {"image": "a"},
          "volumes": [{"container_path": "/a:/b", "host_path": "/tmp"}]}, "container_path"),
        ({"type": "KVM"}, "TaskInfo.container.type"),
    ],
)  # fmt: skip
def test_invalid_containers_are_refused_naming_the_field(container: dict, words: str) -> None:
    error = validate_container(container)
    assert error is not None
    assert words in error


def test_images_are_for_command_tasks_only() -> None:
    docker = {"type": "DOCKER", "docker": {"image": "a"}}
    assert "task group" in (validate_container(docker, in_group=True) or "")
    assert "custom executor" in (validate_container(docker, has_executor=True) or "")
    assert validate_container({"type": "MESOS"}, in_group=True) is None  # no image: fine


def test_an_agent_names_the_flag_a_container_needs() -> None:
    docker = {"type": "DOCKER", "docker": {"image": "a"}}
    mesos = {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "a"}}}}
    assert "--containerizers=mesos,docker" in (unsupported(None, docker) or "")
    assert "--image_providers=docker" in (unsupported(None, mesos) or "")
    assert unsupported(None, {"type": "MESOS"}) is None


def _containerizer(container: dict, sandbox: Path):
    settings = DockerSettings(
        docker="/usr/bin/podman",
        work_dir="/var/lib/mesos",
        init="/usr/bin/catatonit",
        ulimits=("nofile=4096:4096",),
    )
    runtime = DockerRuntime(settings, mesos_images=True)
    task = TaskInfo(
        name="t",
        task_id=TaskID(value="t"),
        agent_id=AgentID(value="a"),
        resources=Resources.scalars(cpus=0.25, mem=64).to_wire(),
        container=container,
    )
    return runtime.containerizer(Containerizer(PosixIsolator()), task, "c1", sandbox)


def test_the_podman_run_command_line(tmp_path: Path) -> None:
    container = {
        "type": "DOCKER",
        "docker": {
            "image": "busybox",
            "network": "BRIDGE",
            "port_mappings": [{"host_port": 31000, "container_port": 80}],
            "parameters": [{"key": "label", "value": "x=y"}],
        },
        "volumes": [{"container_path": "/data", "host_path": "/srv/data", "mode": "RO"},
                    {"container_path": "cache"}],
    }  # fmt: skip
    c = _containerizer(container, tmp_path)
    args = c.command_argv(CommandInfo(value="echo $SECRET"))
    env = {"PATH": c.runtime._base_env["PATH"], "SECRET": "s3cret", "MESOS_SANDBOX": str(tmp_path)}
    argv = c.run_argv(args, env, tmp_path)
    assert argv[:3] == ["/usr/bin/podman", "run", "--name=mesos-c1"]
    assert argv[-4:] == ["--entrypoint=/bin/sh", "busybox", "-c", "echo $SECRET"]
    for option in (
        "--label=infinity.agent.work_dir=/var/lib/mesos",
        "--log-driver=passthrough",
        f"--volume={tmp_path}:/mnt/mesos/sandbox:rw",
        "--workdir=/mnt/mesos/sandbox",
        "--init",
        "--ulimit=nofile=4096:4096",
        "--cpus=0.25",
        "--memory=64m",
        "--network=podman",
        "--publish=31000:80/tcp",
        "--volume=/srv/data:/data:ro",
        f"--volume={tmp_path}/cache:/mnt/mesos/sandbox/cache:rw",
        "--label=x=y",
        "--env=SECRET",  # the value comes from podman's environment, not the argv
        "--env=MESOS_SANDBOX=/mnt/mesos/sandbox",
    ):
        assert option in argv, option
    assert not [a for a in argv if "s3cret" in a]
    assert "--env=PATH" not in argv  # the agent's own environment stays outside


def test_argv_forms_follow_mesos() -> None:
    docker = _containerizer({"type": "DOCKER", "docker": {"image": "a"}}, Path("/s"))
    assert docker.command_argv(CommandInfo(shell=False, arguments=["x", "y"])) == ["x", "y"]
    assert docker.command_argv(CommandInfo(shell=False, value="v", arguments=["x"])) == ["v", "x"]
    mesos = {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "a"}}}}
    m = _containerizer(mesos, Path("/s"))
    assert m.command_argv(CommandInfo(shell=False, value="/bin/ls", arguments=["ls", "-l"])) == [
        "-l"
    ]
    assert m._entrypoint == "/bin/ls"
    with pytest.raises(ValueError, match="needs 'value'"):
        docker.command_argv(CommandInfo())


def test_a_malformed_container_is_a_wire_error() -> None:
    from mesos_runtime.wire.container import parse_container

    with pytest.raises(WireError):
        parse_container({"type": "DOCKER", "docker": {"image": 5}})


def test_command_health_checks_run_in_the_container_and_http_ones_stay() -> None:
    from mesos_runtime.wire.mesos import HealthCheck, HealthCheckType, HTTPCheckInfo

    c = _containerizer({"type": "DOCKER", "docker": {"image": "a"}}, Path("/s"))
    check = HealthCheck(type=HealthCheckType.COMMAND, command=CommandInfo(value="test -f x"))
    inner = c.health_check(check).command
    assert inner is not None
    assert inner.shell is False
    assert inner.arguments == [
        "/usr/bin/podman", "exec", "--workdir=/mnt/mesos/sandbox", "mesos-c1",
        "/bin/sh", "-c", "test -f x",
    ]  # fmt: skip
    http = HealthCheck(type=HealthCheckType.HTTP, http=HTTPCheckInfo(port=80))
    assert c.health_check(http) is http
