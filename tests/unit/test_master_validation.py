"""What the master refuses before anything changes: calls without their message,
FrameworkInfo with bad roles, tasks that are not launchable, acknowledgements with a
uuid that is not one."""

from __future__ import annotations

import pytest

from mesos_runtime.master.validation import (
    validate_call,
    validate_framework_info,
    validate_role,
    validate_task,
    with_allocation,
)
from mesos_runtime.wire.mesos import FrameworkInfo, TaskInfo
from mesos_runtime.wire.resources import Resources
from mesos_runtime.wire.scheduler import Call


def call(body: dict) -> Call:
    return Call.from_json(body)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"type": "ACCEPT", "framework_id": {"value": "f"}}, "'accept'"),
        ({"type": "KILL", "framework_id": {"value": "f"}}, "'kill'"),
        ({"type": "REVIVE"}, "'framework_id'"),
        ({"type": "UNKNOWN", "framework_id": {"value": "f"}}, "Unsupported"),
        (
            {
                "type": "ACKNOWLEDGE",
                "framework_id": {"value": "f"},
                "acknowledge": {
                    "agent_id": {"value": "a"},
                    "task_id": {"value": "t"},
                    "uuid": "AA==",
                },
            },
            "UUID",
        ),
        (
            {
                "type": "SUBSCRIBE",
                "framework_id": {"value": "other"},
                "subscribe": {"framework_info": {"user": "u", "name": "n", "id": {"value": "f"}}},
            },
            "differs",
        ),
    ],
)
def test_invalid_calls_are_named(body: dict, needle: str) -> None:
    error = validate_call(call(body))
    assert error is not None
    assert needle in error


def test_valid_calls_pass() -> None:
    assert validate_call(call({"type": "REVIVE", "framework_id": {"value": "f"}})) is None
    subscribe = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}
    assert validate_call(call(subscribe)) is None


@pytest.mark.parametrize("role", ["", ".", "..", "-x", "a b", "a//b", "a/./b", "x\\y"])
def test_bad_role_names_are_refused(role: str) -> None:
    assert validate_role(role) is not None


@pytest.mark.parametrize("role", ["*", "db", "eng/db", "a.b-c_d"])
def test_good_role_names_pass(role: str) -> None:
    assert validate_role(role) is None


def test_multi_role_needs_the_capability() -> None:
    plain = FrameworkInfo(user="u", name="n", roles=["a", "b"])
    assert "MULTI_ROLE" in (validate_framework_info(plain) or "")


def _task(**extra: object) -> TaskInfo:
    return TaskInfo.from_json(
        {"name": "t", "task_id": {"value": "t1"}, "agent_id": {"value": "a1"}, **extra}
    )


def test_task_needs_exactly_one_of_command_or_executor() -> None:
    error = validate_task(_task(), agent_id="a1", is_known=lambda _: False)
    assert error is not None and "CommandInfo" in error
    both = _task(command={"value": "true"}, executor={"executor_id": {"value": "e"}})
    assert validate_task(both, agent_id="a1", is_known=lambda _: False) is not None
    assert (
        validate_task(_task(command={"value": "true"}), agent_id="a1", is_known=lambda _: False)
        is None
    )


def test_task_ids_are_unique_and_on_the_offers_agent() -> None:
    task = _task(command={"value": "true"})
    assert "duplicate" in (validate_task(task, agent_id="a1", is_known={"t1"}.__contains__) or "")
    assert "agent" in (validate_task(task, agent_id="a2", is_known=lambda _: False) or "")


def test_resources_without_allocation_info_get_the_offers_role() -> None:
    tagged = with_allocation(Resources.scalars(cpus=1).to_wire(), "db")
    assert tagged.allocation_roles() == {"db"}
    assert tagged.unallocated() == Resources.scalars(cpus=1)
