"""The protobuf-JSON mapping of wire records, as Mesos clients send and expect it."""

from __future__ import annotations

import pytest

from mesos_runtime.wire import WireError
from mesos_runtime.wire.mesos import (
    FrameworkCapabilityType,
    FrameworkInfo,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from mesos_runtime.wire.scheduler import Call, CallType, Event, EventType


def test_unknown_fields_are_ignored_like_legacy_slave_id() -> None:
    task = TaskInfo.from_json(
        {
            "name": "t",
            "task_id": {"value": "1"},
            "agent_id": {"value": "a"},
            "slave_id": {"value": "a"},
            "command": {"value": "true"},
        }
    )
    assert task.agent_id.value == "a"
    assert "slave_id" not in task.to_json()


def test_missing_required_field_is_named_with_its_path() -> None:
    with pytest.raises(WireError, match=r"subscribe\.framework_info\.user"):
        Call.from_json({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "fw"}}})


def test_unknown_enum_value_is_rejected_naming_the_field() -> None:
    with pytest.raises(WireError, match="'type' has unknown value 'LAUNCH_ROCKET'"):
        Call.from_json({"type": "LAUNCH_ROCKET"})


def test_bytes_fields_are_base64_both_ways() -> None:
    status = TaskStatus.from_json(
        {"task_id": {"value": "t"}, "state": "TASK_RUNNING", "uuid": "AAECAw==", "data": "aGk="}
    )
    assert status.uuid == b"\x00\x01\x02\x03"
    assert status.data == b"hi"
    assert status.to_json()["uuid"] == "AAECAw=="


def test_invalid_base64_is_rejected() -> None:
    with pytest.raises(WireError, match="uuid"):
        TaskStatus.from_json({"task_id": {"value": "t"}, "state": "TASK_RUNNING", "uuid": "***"})


def test_int64_as_string_and_wrong_types() -> None:
    info = FrameworkInfo.from_json({"user": "u", "name": "n", "failover_timeout": "30"})
    assert info.failover_timeout == 30.0
    with pytest.raises(WireError, match="'name' must be a string"):
        FrameworkInfo.from_json({"user": "u", "name": 5})
    with pytest.raises(WireError, match="expected a JSON object"):
        Call.from_json(["SUBSCRIBE"])


def test_unset_fields_are_omitted_and_enums_are_names() -> None:
    event = Event(type=EventType.HEARTBEAT)
    assert event.to_json() == {"type": "HEARTBEAT"}
    status = TaskStatus.from_json({"task_id": {"value": "t"}, "state": "TASK_FINISHED"})
    assert status.state is TaskState.TASK_FINISHED and status.state.is_terminal
    assert status.to_json() == {"task_id": {"value": "t"}, "state": "TASK_FINISHED"}


def test_framework_roles_follow_multi_role_capability() -> None:
    single = FrameworkInfo.from_json({"user": "u", "name": "n", "role": "kafka"})
    multi = FrameworkInfo.from_json(
        {"user": "u", "name": "n", "roles": ["a", "b"], "capabilities": [{"type": "MULTI_ROLE"}]}
    )
    assert single.effective_roles() == ["kafka"]
    assert multi.has_capability(FrameworkCapabilityType.MULTI_ROLE)
    assert multi.effective_roles() == ["a", "b"]
    assert FrameworkInfo(user="u", name="n").effective_roles() == ["*"]


def test_round_trip_of_a_call() -> None:
    raw = {
        "framework_id": {"value": "f"},
        "type": "ACCEPT",
        "accept": {
            "offer_ids": [{"value": "o"}],
            "filters": {"refuse_seconds": 1.5},
            "operations": [
                {
                    "type": "LAUNCH",
                    "launch": {
                        "task_infos": [
                            {
                                "name": "t",
                                "task_id": {"value": "1"},
                                "agent_id": {"value": "a"},
                                "command": {"value": "true"},
                            }
                        ]
                    },
                }
            ],
        },
    }
    call = Call.from_json(raw)
    assert call.type is CallType.ACCEPT
    assert Call.from_json(call.to_json()) == call
    assert call.accept is not None and call.accept.filters is not None
    assert call.accept.filters.refuse == 1.5
