"""Calls the scheduler library builds, as they go on the wire (Mesos v1 JSON)."""

from __future__ import annotations

import pytest

from mesos_runtime.cli.taskrun import TaskResult
from mesos_runtime.scheduler import calls, command_task
from mesos_runtime.wire.mesos import (
    AgentID,
    FrameworkID,
    Offer,
    OfferID,
    Resource,
    TaskID,
    TaskState,
    TaskStatus,
)
from mesos_runtime.wire.resources import Resources


def offer(role: str | None = "*") -> Offer:
    resources = Resources.scalars(cpus=2, mem=1024)
    if role is not None:
        resources = resources.allocate(role)
    return Offer(
        id=OfferID(value="o1"),
        framework_id=FrameworkID(value="f1"),
        agent_id=AgentID(value="a1"),
        hostname="127.0.0.1",
        resources=resources.to_wire(),
    )


def test_launch_is_an_accept_with_one_launch_operation() -> None:
    task = command_task(offer(), "echo hi", task_id="t1", cpus=0.5, mem=64)
    call = calls.with_framework(
        calls.accept(["o1"], [calls.launch_operation([task])], filters=0),
        FrameworkID(value="f1"),
    )
    wire = call.to_json()
    assert wire["type"] == "ACCEPT" and wire["framework_id"] == {"value": "f1"}
    assert wire["accept"]["offer_ids"] == [{"value": "o1"}]
    assert wire["accept"]["filters"] == {"refuse_seconds": 0.0}
    operation = wire["accept"]["operations"][0]
    assert operation["type"] == "LAUNCH"
    launched = operation["launch"]["task_infos"][0]
    assert launched["task_id"] == {"value": "t1"}
    assert launched["agent_id"] == {"value": "a1"}
    assert launched["command"] == {"shell": True, "value": "echo hi"}


def test_task_resources_carry_the_offers_allocation_role() -> None:
    task = command_task(offer(role="web"), "true", cpus=0.5, mem=64)
    assert {r.allocation_info.role for r in task.resources if r.allocation_info} == {"web"}
    assert Resources.from_wire(task.resources) == Resources.scalars(cpus=0.5, mem=64).allocate(
        "web"
    )
    untagged = command_task(offer(role=None), "true", cpus=0.5, mem=64)
    assert all(r.allocation_info is None for r in untagged.resources)
    assert all(isinstance(r, Resource) for r in untagged.resources)


def test_acknowledge_names_agent_task_and_uuid_in_base64() -> None:
    status = TaskStatus(
        task_id=TaskID(value="t1"),
        state=TaskState.TASK_RUNNING,
        agent_id=AgentID(value="a1"),
        uuid=b"\x00\x01\x02",
    )
    wire = calls.acknowledge(status).to_json()
    assert wire == {
        "type": "ACKNOWLEDGE",
        "acknowledge": {"agent_id": {"value": "a1"}, "task_id": {"value": "t1"}, "uuid": "AAEC"},
    }


def test_updates_without_uuid_need_no_acknowledgement() -> None:
    status = TaskStatus(task_id=TaskID(value="t1"), state=TaskState.TASK_RUNNING)
    with pytest.raises(ValueError, match="no uuid"):
        calls.acknowledge(status)


def test_reconcile_without_tasks_is_implicit() -> None:
    assert calls.reconcile().to_json() == {"type": "RECONCILE", "reconcile": {}}
    explicit = calls.reconcile([("t1", "a1"), ("t2", None)]).to_json()
    assert explicit["reconcile"]["tasks"] == [
        {"task_id": {"value": "t1"}, "agent_id": {"value": "a1"}},
        {"task_id": {"value": "t2"}},
    ]


def test_decline_revive_suppress_kill_teardown_shapes() -> None:
    assert calls.decline(["o1"]).to_json() == {
        "type": "DECLINE",
        "decline": {"offer_ids": [{"value": "o1"}]},
    }
    assert calls.revive().to_json() == {"type": "REVIVE"}
    assert calls.suppress(["web"]).to_json() == {
        "type": "SUPPRESS",
        "suppress": {"roles": ["web"]},
    }
    assert calls.kill("t1", "a1").to_json()["kill"] == {
        "task_id": {"value": "t1"},
        "agent_id": {"value": "a1"},
    }
    assert calls.teardown().to_json() == {"type": "TEARDOWN"}


@pytest.mark.parametrize(
    ("state", "message", "code"),
    [
        (TaskState.TASK_FINISHED, "Command exited with status 0", 0),
        (TaskState.TASK_FAILED, "Command exited with status 3", 3),
        (TaskState.TASK_FAILED, "Command terminated with signal Killed", 1),
        (TaskState.TASK_KILLED, None, 1),
    ],
)
def test_task_run_exit_code_follows_the_task(
    state: TaskState, message: str | None, code: int
) -> None:
    status = TaskStatus(task_id=TaskID(value="t"), state=state, message=message)
    assert TaskResult("t", "f", status).exit_code == code
