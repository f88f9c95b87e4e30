"""The service spec: what a valid spec builds, and every invalid one refused naming the path."""

from __future__ import annotations

import pytest

from mesos_runtime.sdk.context import (
    PodInstance,
    TaskLaunch,
    config_context,
    preview_peers,
    task_environment,
)
from mesos_runtime.sdk.placement import Operator
from mesos_runtime.sdk.spec import Goal, ServiceSpec, SpecError, load_spec, parse_spec

SPEC = """
name: kafka
pods:
  kafka:
    count: 3
    placement: '[["hostname", "UNIQUE"]]'
    uris:
      - uri: http://mirror/kafka/lib.tar
        checksum: sha512:abcd
        extract: true
      - http://mirror/extra.sh
    volume: {path: kafka-data, type: ROOT, size: 2000}
    replacement-failure-policy: {permanent-failure-timeout-secs: 600}
    tasks:
      broker:
        goal: RUNNING
        cmd: exec ./run-broker
        cpus: 0.5
        memory: 1024
        ports:
          broker: {port: 0, advertise: true}
          controller: {port: 9093, env-key: CONTROLLER_PORT}
        env: {HEAP: 256, DEBUG: false}
        configs:
          server: {template: server.properties.j2, dest: server.properties}
        readiness-check: {cmd: ./ready, interval: 2}
        health-check: {cmd: ./healthy, grace-period: 60}
  setup:
    count: 1
    tasks:
      init: {goal: ONCE, cmd: ./init, cpus: 0.1, memory: 32}
plans:
  deploy:
    strategy: serial
    phases:
      setup: {pod: setup}
      broker:
        strategy: parallel
        pod: kafka
        steps:
          - default: [[broker]]
"""


def spec_doc(**pod_overrides: object) -> dict[str, object]:
    task = {"cmd": "run", "cpus": 1, "memory": 64}
    pod: dict[str, object] = {"count": 1, "tasks": {"main": task}}
    pod.update(pod_overrides)
    return {"name": "svc", "pods": {"app": pod}}


def errors_of(doc: object) -> list[str]:
    with pytest.raises(SpecError) as raised:
        parse_spec(doc)
    return raised.value.errors


def test_a_valid_spec_builds_typed_pods_tasks_and_plans() -> None:
    spec = load_spec(SPEC)
    kafka = spec.pod("kafka")
    assert kafka.count == 3
    assert [(c.field, c.operator) for c in kafka.placement] == [("hostname", Operator.UNIQUE)]
    assert kafka.uris[0].checksum == "sha512:abcd" and kafka.uris[0].extract is True
    assert kafka.uris[1].value == "http://mirror/extra.sh"
    assert kafka.volumes[0].path == "kafka-data" and kafka.volumes[0].size == 2000
    assert kafka.replacement_failure_policy.permanent_failure_timeout_secs == 600
    broker = kafka.task("broker")
    assert broker.goal is Goal.RUNNING and broker.cpus == 0.5 and broker.memory == 1024
    assert {p.name: (p.port, p.env_key) for p in broker.ports} == {
        "broker": (0, "PORT_BROKER"),
        "controller": (9093, "CONTROLLER_PORT"),
    }
    assert broker.env == {"HEAP": "256", "DEBUG": "false"}
    assert broker.configs[0].dest == "server.properties"
    assert broker.readiness_check is not None and broker.readiness_check.interval == 2
    assert broker.health_check is not None and broker.health_check.grace_period == 60
    assert spec.pod("setup").task("init").goal is Goal.ONCE
    deploy = spec.plan("deploy")
    assert deploy is not None and [p.name for p in deploy.phases] == ["setup", "broker"]


def test_spec_records_round_trip_through_json() -> None:
    spec = load_spec(SPEC)
    assert ServiceSpec.from_json(spec.to_json()) == spec


def test_structural_errors_name_the_path_and_the_rule() -> None:
    doc = spec_doc()
    doc["pods"]["app"]["tasks"]["main"]["cpus"] = "lots"  # type: ignore[index]
    doc["pods"]["app"]["count"] = 0  # type: ignore[index]
    errors = errors_of(doc)
    assert "pods.app.count: 0 is less than the minimum of 1" in errors
    assert "pods.app.tasks.main.cpus: 'lots' is not of type 'number'" in errors


def test_an_unknown_key_is_refused_not_ignored() -> None:
    errors = errors_of(spec_doc(cuont=3))
    assert errors == ["pods.app: Additional properties are not allowed ('cuont' was unexpected)"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"volume": {"path": "../escape", "size": 10}}, "must be relative to the sandbox"),
        ({"placement": "hostname:SOMETIMES"}, "unknown operator 'SOMETIMES'"),
        ({"placement": "rack:MAX_PER:two"}, "MAX_PER needs a positive integer"),
        ({"uris": [{"uri": "x", "output-file": "/etc/passwd"}]}, "must be relative"),
    ],
)
def test_meaning_errors_name_the_path(override: dict[str, object], message: str) -> None:
    (error,) = errors_of(spec_doc(**override))
    assert error.startswith("pods.app.") and message in error


def test_ports_must_be_unique_within_a_pod() -> None:
    doc = spec_doc(
        tasks={
            "a": {"cmd": "x", "cpus": 1, "memory": 1, "ports": {"web": {"port": 8080}}},
            "b": {"cmd": "x", "cpus": 1, "memory": 1, "ports": {"web": {"port": 8080}}},
        }
    )
    errors = errors_of(doc)
    assert "pods.app.tasks.b.ports.web: name already used by task a" in errors
    assert "pods.app.tasks.b.ports.web: port 8080 already used by a.web" in errors


def test_a_health_check_belongs_to_running_tasks_only() -> None:
    doc = spec_doc(
        tasks={
            "job": {
                "goal": "FINISH",
                "cmd": "x",
                "cpus": 1,
                "memory": 1,
                "health-check": {"cmd": "y"},
            }
        }
    )
    assert errors_of(doc) == [
        "pods.app.tasks.job.health-check: only a RUNNING task has a health check"
    ]


def test_plans_must_name_pods_instances_and_tasks_that_exist() -> None:
    doc = spec_doc()
    doc["plans"] = {
        "deploy": {
            "phases": {
                "p1": {"pod": "nope"},
                "p2": {"pod": "app", "steps": [{"3": [["main"]]}, {"default": [["other"]]}]},
            }
        }
    }
    errors = errors_of(doc)
    assert "plans.deploy.phases.p1.pod: no pod named 'nope'" in errors
    assert "plans.deploy.phases.p2.steps[0]: pod app has no instance 3" in errors
    assert "plans.deploy.phases.p2.steps[1]: pod app has no task 'other'" in errors


def test_yaml_that_does_not_parse_is_reported_as_such() -> None:
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec("name: [unclosed")


def test_a_task_is_told_its_name_index_host_and_ports_in_its_environment() -> None:
    spec = load_spec(SPEC)
    pod = spec.pod("kafka")
    instance = PodInstance(
        pod="kafka", index=2, hostname="h2", ports={"broker": 31002, "controller": 9093}
    )
    env = task_environment(
        TaskLaunch(service="kafka", pod=pod, task=pod.task("broker"), instance=instance)
    )
    assert env["TASK_NAME"] == "kafka-2-broker"
    assert env["POD_INSTANCE_INDEX"] == "2"
    assert env["HOST"] == "h2"
    assert env["PORT_BROKER"] == "31002" and env["CONTROLLER_PORT"] == "9093"
    assert env["HEAP"] == "256"


def test_config_context_gives_volumes_in_the_sandbox_and_every_peer() -> None:
    spec = load_spec(SPEC)
    pod = spec.pod("kafka")
    peers = preview_peers(spec)
    launch = TaskLaunch(
        service="kafka",
        pod=pod,
        task=pod.task("broker"),
        instance=peers["kafka"][1],
        peers=peers,
        sandbox="/sandbox",
    )
    context = config_context(launch)
    assert context["task"]["volumes"] == {"kafka-data": "/sandbox/kafka-data"}
    assert [p["hostname"] for p in context["pods"]["kafka"]] == [
        "kafka-0.agent.invalid",
        "kafka-1.agent.invalid",
        "kafka-2.agent.invalid",
    ]
    # fixed ports stay as given, dynamic ones get distinct stand-ins
    brokers = [p["ports"]["broker"] for p in context["pods"]["kafka"]]
    assert len(set(brokers)) == 3
    assert {p["ports"]["controller"] for p in context["pods"]["kafka"]} == {9093}
