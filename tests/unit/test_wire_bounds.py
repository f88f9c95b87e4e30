"""What the wire refuses at decode (issue 11, findings 1, 3, 7 and 9): ids that are not
safe path components, numbers that are not finite (also spelled as strings), strings past
their bound, and JSON bodies nested too deep, holding NaN/Infinity or lone surrogates."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import pytest

from mesos_runtime.agent.paths import Layout, UnsafePath
from mesos_runtime.master.flags import MasterFlags
from mesos_runtime.wire import WireError
from mesos_runtime.wire.bounds import MAX_JSON_DEPTH, MAX_OPAQUE_DEPTH, loads_untrusted
from mesos_runtime.wire.flags import FlagError, HelpRequested, flag, parse_flags
from mesos_runtime.wire.mesos import FrameworkInfo, TaskInfo, TaskStatus
from mesos_runtime.wire.resources import Resources
from mesos_runtime.wire.scheduler import Call

BAD_IDS = ["/tmp/x", "..", ".", "../../x", "a\x00b", "a\\b", "tab\there", "", "x" * 256]


@pytest.mark.parametrize("value", BAD_IDS)
def test_ids_that_are_not_path_components_do_not_decode(value: str) -> None:
    call = {
        "type": "SUBSCRIBE",
        "subscribe": {"framework_info": {"user": "u", "name": "n", "id": {"value": value}}},
    }
    with pytest.raises(WireError, match=r"subscribe\.framework_info\.id\.value"):
        Call.from_json(call)


def test_an_id_of_255_utf8_bytes_is_accepted_and_256_is_not() -> None:
    ok = "é" * 127 + "x"  # 255 bytes
    assert TaskStatus.from_json({"task_id": {"value": ok}, "state": "TASK_RUNNING"})
    with pytest.raises(WireError, match="255 bytes"):
        TaskStatus.from_json({"task_id": {"value": ok + "x"}, "state": "TASK_RUNNING"})


@pytest.mark.parametrize(
    "ids", [("..", "f", "e", "c"), ("a", "../x", "e", "c"), ("a", "f", "/e", "c")]
)
def test_the_agent_layout_refuses_paths_outside_its_work_dir(tmp_path, ids) -> None:
    layout = Layout(tmp_path)
    with pytest.raises(UnsafePath):
        layout.sandbox(*ids)
    with pytest.raises(UnsafePath):
        layout.executor_meta(*ids[:3])


@pytest.mark.parametrize(
    "value", [float("inf"), float("-inf"), float("nan"), "inf", "NaN", "1e999"]
)
def test_non_finite_numbers_do_not_decode_whatever_their_spelling(value) -> None:
    with pytest.raises(WireError, match="finite"):
        FrameworkInfo.from_json({"user": "u", "name": "n", "failover_timeout": value})
    resource = {"name": "cpus", "type": "SCALAR", "scalar": {"value": value}}
    task = {"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"}}
    with pytest.raises(WireError, match="finite"):
        TaskInfo.from_json({**task, "resources": [resource]})


def test_integers_outside_64_bits_do_not_decode() -> None:
    with pytest.raises(WireError, match="64-bit"):
        TaskStatus.from_json(
            {
                "task_id": {"value": "t"},
                "state": "TASK_RUNNING",
                "unreachable_time": {"nanoseconds": 1 << 70},
            }
        )


@pytest.mark.parametrize("text", ["cpus:inf", "cpus:nan", "mem:1e999", "cpus:-1"])
def test_agent_resources_must_be_finite_and_not_negative(text: str) -> None:
    with pytest.raises(WireError, match="finite, non-negative"):
        Resources.parse(text)


def test_names_are_bounded() -> None:
    with pytest.raises(WireError, match=r"framework_info\.name' is longer than 4096"):
        Call.from_json(
            {
                "type": "SUBSCRIBE",
                "subscribe": {"framework_info": {"user": "u", "name": "n" * 5000}},
            }
        )


def test_untrusted_json_refuses_nan_infinity_deep_nesting_and_lone_surrogates() -> None:
    for body in (b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}'):
        with pytest.raises(WireError, match="finite"):
            loads_untrusted(body)
    with pytest.raises(WireError, match="nested deeper"):
        loads_untrusted(b"[" * 100_000 + b"]" * 100_000)
    # what parses is bounded where it is kept: a record's opaque JSON (e.g. `container`)
    deep = json.loads('{"a":' * (MAX_OPAQUE_DEPTH + 1) + "1" + "}" * (MAX_OPAQUE_DEPTH + 1))
    task = {"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"}}
    with pytest.raises(WireError, match=r"field 'container' is nested deeper than 64"):
        TaskInfo.from_json({**task, "container": deep})
    with pytest.raises(WireError, match="lone surrogate"):
        loads_untrusted(b'{"name": "x\\ud800y"}')
    # a surrogate pair is one character, and fine; so is nesting up to the bound
    assert loads_untrusted(b'{"name": "\\ud83d\\ude00"}') == {"name": "\U0001f600"}
    deep = json.dumps(json.loads("[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)))
    assert loads_untrusted(deep.encode()) is not None


@dataclass
class Switches:
    authenticate_frameworks: bool = flag(False, help="x")
    verbose: bool | None = flag(help="x")


@pytest.mark.parametrize(
    ("argv", "value"),
    [
        (["--authenticate_frameworks"], True),
        (["--no-authenticate_frameworks"], False),
        (["--authenticate_frameworks=true"], True),
        (["--authenticate_frameworks=false"], False),
        ([], False),
    ],
)
def test_mesos_boolean_flag_forms(argv: list[str], value: bool) -> None:
    assert parse_flags(Switches, argv, environ={}).authenticate_frameworks is value
    assert parse_flags(MasterFlags, argv, environ={}).authenticate_frameworks is value


def test_an_unknown_flag_is_named_and_help_is_not_an_error() -> None:
    with pytest.raises(FlagError, match="unknown flag --frobnicate"):
        parse_flags(Switches, ["--frobnicate"], environ={})
    with pytest.raises(HelpRequested, match="--authenticate_frameworks"):
        parse_flags(Switches, ["--help"], environ={})
    with pytest.raises(FlagError, match="finite"):
        parse_flags(MasterFlags, ["--min_allocatable_cpus=nan"], environ={})
    with pytest.raises(FlagError, match="too long"):
        parse_flags(MasterFlags, ["--offer_timeout=" + "9" * 400 + "secs"], environ={})


@pytest.mark.parametrize("daemon", ["master", "agent"])
def test_help_prints_every_flag_and_exits_zero(daemon: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"mesos_runtime.{daemon}.main", "--help"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "--work_dir" in done.stdout
    assert "--acls" in done.stdout
