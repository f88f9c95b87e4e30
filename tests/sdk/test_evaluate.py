"""What the scheduler puts in a TaskInfo, without a cluster: the readiness check carried by
the agent's health check, config files written before the command, the environment."""

from __future__ import annotations

import base64
import re

from mesos_runtime.sdk.context import PodInstance, TaskLaunch
from mesos_runtime.sdk.scheduler.evaluate import CONFIG_LABEL, Evaluator, _check
from mesos_runtime.sdk.spec import load_spec
from mesos_runtime.wire.mesos import AgentID, FrameworkID, Offer, OfferID
from mesos_runtime.wire.resources import Resources

from .service import TEMPLATE, spec


def task_of(text: str):
    s = load_spec(text)
    return s, s.pods[0], s.pods[0].tasks[0]


def test_a_readiness_check_alone_never_kills_and_gates_on_the_first_healthy() -> None:
    _, _, task = task_of(spec())
    check = _check(task)
    assert check is not None and check.command is not None
    assert check.command.value == task.readiness_check.cmd
    assert check.consecutive_failures == 1_000_000 and check.interval_seconds == 0.3


def test_readiness_and_health_probe_readiness_until_it_passes_once() -> None:
    text = spec().replace(
        "        readiness-check:",
        "        health-check: {cmd: 'true', max-consecutive-failures: 2, grace-period: 9}\n"
        "        readiness-check:",
    )
    _, _, task = task_of(text)
    check = _check(task)
    assert check is not None and check.command is not None
    assert check.command.value.startswith("if [ -e .sdk-ready ]; then true; else (")
    assert check.consecutive_failures == 2 and check.grace_period_seconds == 9


def test_the_task_info_carries_configs_environment_ports_and_its_config_id() -> None:
    service, pod, task = task_of(spec(greeting="hi"))
    evaluator = Evaluator("hello", "hello-role", None, {"index.html.j2": TEMPLATE}, {})
    instance = PodInstance(pod="web", index=1, hostname="host-b", ports={"http": 20123})
    launch = TaskLaunch(
        service="hello", pod=pod, task=task, instance=instance, peers={"web": [instance]}
    )
    offer = Offer(
        id=OfferID(value="o1"),
        framework_id=FrameworkID(value="f"),
        agent_id=AgentID(value="a1"),
        hostname="host-b",
    )
    info = evaluator.task_info(offer, launch, Resources.scalars(cpus=0.1), "cfg-1")
    env = {v.name: v.value for v in info.command.environment.variables}
    assert env["TASK_NAME"] == "web-1-server" and env["POD_INSTANCE_INDEX"] == "1"
    assert env["PORT_HTTP"] == env["PORT0"] == "20123" and env["FRAMEWORK_HOST"] == "host-b"
    assert env["GREETING"] == "hi" and env["FRAMEWORK_NAME"] == "hello"
    written = re.search(r"echo (\S+) \| base64 -d > site/index.html", info.command.value)
    assert written is not None
    assert base64.b64decode(written.group(1)).decode() == "web-1-server on host-b says hi\n"
    assert info.command.value.endswith(task.cmd)
    assert [(lb.key, lb.value) for lb in info.labels.labels] == [(CONFIG_LABEL, "cfg-1")]
    assert info.name == "web-1-server" and info.task_id.value.startswith("web-1-server__")
    assert service.name == "hello"
