"""The launch planner decides what an ACCEPT does without a master, HTTP or agents: the
tasks it runs, the conversions it applies, the tasks it refuses and what is left over."""

from __future__ import annotations

from typing import Any

from mesos_runtime.master.launch import (
    Conversion,
    LaunchTasks,
    TaskRefusal,
    plan_accept,
    refuse_unauthorized,
)
from mesos_runtime.wire.mesos import ExecutorInfo, Operation, StatusReason
from mesos_runtime.wire.resources import Resources

AGENT = "agent-1"
DYNAMIC_WEB = [{"type": "DYNAMIC", "role": "web", "principal": "ops"}]


def scalar(name: str, value: float, reservations: list | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "type": "SCALAR", "scalar": {"value": value}}
    if reservations:
        out["reservations"] = reservations
    return out


def task(task_id: str, cpus: float, *, executor: str | None = None, **extra: Any) -> dict:
    out: dict[str, Any] = {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": {"value": AGENT},
        "resources": [scalar("cpus", cpus, extra.pop("reservations", None))],
        **extra,
    }
    if executor is None:
        out["command"] = {"value": "true"}
    else:
        out["executor"] = {
            "executor_id": {"value": executor},
            "command": {"value": "exec-it"},
            "resources": [scalar("cpus", 0.1)],
        }
    return out


def launch(*tasks: dict) -> Operation:
    return Operation.from_json({"type": "LAUNCH", "launch": {"task_infos": list(tasks)}})


def group(*tasks: dict) -> Operation:
    return Operation.from_json(
        {
            "type": "LAUNCH_GROUP",
            "launch_group": {
                "executor": {"executor_id": {"value": "default"}, "resources": []},
                "task_group": {"tasks": list(tasks)},
            },
        }
    )


def plan(
    operations: list[Operation],
    offered: str = "cpus:2;mem:256",
    role: str = "*",
    known: tuple[str, ...] = (),
    running: dict[str, ExecutorInfo] | None = None,
):
    return plan_accept(
        operations,
        framework_id="fw",
        agent_id=AGENT,
        role=role,
        offered=Resources.parse(offered).allocate(role),
        is_known=lambda tid: tid in known,
        running_executor=(running or {}).get,
    )


def test_tasks_that_fit_launch_and_the_rest_goes_back() -> None:
    result = plan([launch(task("a", 0.5), task("b", 1))])
    assert [type(s) for s in result.steps] == [LaunchTasks, LaunchTasks]
    assert [s.tasks[0].task_id.value for s in result.steps] == ["a", "b"]  # type: ignore[union-attr]
    assert result.remaining.unallocated() == Resources.parse("cpus:0.5;mem:256")


def test_a_task_beyond_the_offer_is_refused_and_keeps_nothing() -> None:
    result = plan([launch(task("big", 3), task("small", 1))])
    refusal, launched = result.steps
    assert isinstance(refusal, TaskRefusal) and refusal.task.task_id.value == "big"
    assert "more resources" in refusal.message
    assert isinstance(launched, LaunchTasks)
    assert result.remaining.unallocated() == Resources.parse("cpus:1;mem:256")


def test_duplicate_task_ids_are_refused_within_one_accept_and_against_known_tasks() -> None:
    result = plan([launch(task("a", 0.5), task("a", 0.5), task("old", 0.5))], known=("old",))
    assert isinstance(result.steps[0], LaunchTasks)
    assert all(isinstance(s, TaskRefusal) for s in result.steps[1:])
    assert all("duplicate ID" in s.message for s in result.steps[1:])  # type: ignore[union-attr]


def test_an_executor_is_started_once_and_taken_into_account_once() -> None:
    result = plan([launch(task("a", 0.5, executor="e"), task("b", 0.5, executor="e"))])
    first, second = result.steps
    assert isinstance(first, LaunchTasks) and first.new_executor
    assert isinstance(second, LaunchTasks) and not second.new_executor
    assert first.executor is not None and first.executor.framework_id.value == "fw"  # type: ignore[union-attr]
    assert result.remaining.unallocated() == Resources.parse("cpus:0.9;mem:256")


def test_a_running_executor_with_another_info_refuses_the_task() -> None:
    running = ExecutorInfo.from_json(
        {"executor_id": {"value": "e"}, "command": {"value": "something-else"}}
    )
    result = plan([launch(task("a", 0.5, executor="e"))], running={"e": running})
    (refusal,) = result.steps
    assert isinstance(refusal, TaskRefusal) and "not compatible" in refusal.message


def test_reserve_then_launch_on_the_reservation() -> None:
    reserve = Operation.from_json(
        {"type": "RESERVE", "reserve": {"resources": [scalar("cpus", 1, DYNAMIC_WEB)]}}
    )
    result = plan(
        [reserve, launch(task("a", 1, reservations=DYNAMIC_WEB))], offered="cpus:2", role="web"
    )
    conversion, launched = result.steps
    assert isinstance(conversion, Conversion) and conversion.converted.cpus == 1
    assert isinstance(launched, LaunchTasks)
    assert result.remaining.unallocated() == Resources.parse("cpus:1")


def test_a_conversion_beyond_the_offer_is_dropped_with_a_reason() -> None:
    reserve = Operation.from_json(
        {"type": "RESERVE", "reserve": {"resources": [scalar("cpus", 5, DYNAMIC_WEB)]}}
    )
    result = plan([reserve], role="web")
    assert result.steps == []
    assert result.dropped and "not in the offered resources" in result.dropped[0]


def test_a_task_group_with_one_bad_task_is_refused_as_a_whole() -> None:
    bad = task("b", 1)
    bad["agent_id"] = {"value": "elsewhere"}
    result = plan([group(task("a", 0.5), bad)])
    assert [s.task.task_id.value for s in result.steps] == ["a", "b"]  # type: ignore[union-attr]
    assert all(s.reason is StatusReason.REASON_TASK_GROUP_INVALID for s in result.steps)  # type: ignore[union-attr]
    assert result.remaining.unallocated() == Resources.parse("cpus:2;mem:256")


def test_a_task_group_launches_together_with_its_default_executor() -> None:
    result = plan([group(task("a", 0.5), task("b", 0.5))])
    (launched,) = result.steps
    assert isinstance(launched, LaunchTasks) and launched.group and launched.new_executor
    assert [t.task_id.value for t in launched.task_group().tasks] == ["a", "b"]


def test_unauthorized_tasks_are_refused_and_the_rest_kept() -> None:
    operations = [launch(task("a", 0.5), task("b", 0.5)), group(task("c", 0.5), task("d", 0.5))]
    kept, refusals = refuse_unauthorized(operations, {"a": "not a's user", "d": "no"})
    assert [t.task_id.value for t in kept[0].launch.task_infos] == ["b"]  # type: ignore[union-attr]
    assert len(kept) == 1
    assert {(r.task.task_id.value, r.reason) for r in refusals} == {
        ("a", StatusReason.REASON_TASK_UNAUTHORIZED),
        ("c", StatusReason.REASON_TASK_GROUP_UNAUTHORIZED),
        ("d", StatusReason.REASON_TASK_GROUP_UNAUTHORIZED),
    }
