"""Mesos-style flags: durations, sizes, env vars, config files, unknown flags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from mesos_runtime.wire.flags import (
    Bytes,
    Duration,
    FlagError,
    as_dict,
    flag,
    format_duration,
    parse_bytes,
    parse_duration,
    parse_flags,
)


@dataclass
class ExampleFlags:
    port: int = flag(5050, help="port")
    ip: str | None = flag(help="ip")
    quorum: int | None = flag(help="quorum")
    timeout: Duration = flag(Duration(15), help="timeout")
    size: Bytes = flag(Bytes(1024), help="size")
    verbose: bool = flag(False, help="verbose")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("4secs", 4),
        ("1mins", 60),
        ("2hrs", 7200),
        ("1.5days", 129600),
        ("10us", 1e-5),
        ("3weeks", 1814400),
    ],
)
def test_mesos_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_durations_print_in_mesos_syntax() -> None:
    assert format_duration(0.5) == "500ms"
    assert format_duration(60) == "1mins"
    assert str(Duration(15)) == "15secs"


def test_bad_duration_and_size_say_what_to_use() -> None:
    with pytest.raises(FlagError, match=r"e\.g\. 500ms"):
        parse_duration("5 minutes")
    assert parse_bytes("512MB") == 512 * 1024 * 1024
    with pytest.raises(FlagError, match="512MB"):
        parse_bytes("lots")


def test_precedence_config_then_env_then_command_line(tmp_path: Path) -> None:
    config = tmp_path / "master.yml"
    config.write_text("port: 6000\nip: 10.0.0.1\nquorum: 2\n")
    flags = parse_flags(
        ExampleFlags,
        [f"--config={config}", "--ip=127.0.0.1", "--verbose", "--timeout", "4secs"],
        environ={"MESOS_PORT": "7000", "MESOS_SIZE": "1GB"},
    )
    assert flags.ip == "127.0.0.1"
    assert flags.port == 7000
    assert flags.quorum == 2
    assert flags.timeout == 4 and flags.size == 1 << 30
    assert flags.verbose is True
    assert as_dict(flags)["timeout"] == "4secs"


def test_file_values_are_read_like_mesos(tmp_path: Path) -> None:
    (tmp_path / "ip").write_text("127.0.0.2\n")
    assert (
        parse_flags(ExampleFlags, [f"--ip=file://{tmp_path / 'ip'}"], environ={}).ip == "127.0.0.2"
    )


def test_unknown_and_malformed_flags_are_refused_by_name() -> None:
    with pytest.raises(FlagError, match="unknown flag --prot"):
        parse_flags(ExampleFlags, ["--prot=1"], environ={})
    with pytest.raises(FlagError, match="--port"):
        parse_flags(ExampleFlags, ["--port=abc"], environ={})
    with pytest.raises(FlagError, match="--timeout"):
        parse_flags(ExampleFlags, [], environ={"MESOS_TIMEOUT": "forever"})
    with pytest.raises(FlagError, match="unexpected argument"):
        parse_flags(ExampleFlags, ["stray"], environ={})
