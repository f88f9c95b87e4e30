"""What the agent offers: `--resources` (Mesos text or JSON) completed by autodetection,
`--attributes`, the task environment, and the agent's flags."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mesos_runtime.agent.environment import task_environment
from mesos_runtime.agent.flags import AgentFlags
from mesos_runtime.agent.host import agent_resources, parse_attributes
from mesos_runtime.wire.flags import FlagError, parse_flags
from mesos_runtime.wire.mesos import CommandInfo, Environment, ValueType, Variable
from mesos_runtime.wire.resources import Resources


def test_given_resources_win_and_the_rest_is_detected(tmp_path: Path) -> None:
    resources = agent_resources("cpus:2;mem:1024", tmp_path)
    assert resources.cpus == 2 and resources.mem == 1024
    assert resources.disk > 0
    assert resources.ports() == ((31000, 32000),)


def test_detected_resources_follow_mesos_rules(tmp_path: Path) -> None:
    resources = agent_resources(None, tmp_path)
    assert resources.cpus == os.cpu_count()
    total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 20)
    assert total_mb / 2 - 1 <= resources.mem <= max(total_mb - 1024, total_mb / 2) + 1


def test_json_resources_are_accepted(tmp_path: Path) -> None:
    text = '[{"name": "cpus", "type": "SCALAR", "scalar": {"value": 3}}]'
    assert agent_resources(text, tmp_path).cpus == 3


def test_attributes_text_scalar_ranges_and_sets() -> None:
    attributes = {a.name: a for a in parse_attributes("rack:r1;level:2;ids:[1-4];tags:{a,b}")}
    assert attributes["rack"].type is ValueType.TEXT and attributes["rack"].text.value == "r1"
    assert attributes["level"].scalar.value == 2
    assert attributes["ids"].ranges.range[0].end == 4
    assert attributes["tags"].set.item == ["a", "b"]


def test_task_environment_has_mesos_variables_and_ports() -> None:
    resources = Resources.parse("cpus:1;ports:[31000-31001]").to_wire()
    env = task_environment(
        {"PATH": "/bin"},
        sandbox="/sb",
        agent_id="A",
        framework_id="F",
        executor_id="E",
        task_id="T",
        hostname="h",
        resources=resources,
        command=CommandInfo(
            value="x", environment=Environment(variables=[Variable(name="PORT0", value="1")])
        ),
    )
    assert env["MESOS_SANDBOX"] == env["MESOS_DIRECTORY"] == "/sb"
    assert (env["MESOS_TASK_ID"], env["MESOS_AGENT_ID"], env["HOST"]) == ("T", "A", "h")
    assert env["PORT1"] == "31001" and env["PORTS"] == "31000,31001"
    assert env["PORT0"] == "1"  # the command's own environment wins


def test_flags_from_environment_and_command_line() -> None:
    flags = parse_flags(
        AgentFlags,
        ["--recover=cleanup", "--executor_shutdown_grace_period=3secs"],
        {"MESOS_MASTER": "m:5050", "MESOS_WORK_DIR": "/w"},
    )
    assert (flags.master, flags.work_dir, flags.recover) == ("m:5050", "/w", "cleanup")
    assert flags.executor_shutdown_grace_period == 3.0
    with pytest.raises(FlagError, match="--no_such_flag"):
        parse_flags(AgentFlags, ["--no_such_flag=1"], {})
