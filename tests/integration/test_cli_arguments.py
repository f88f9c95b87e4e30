"""`infinity` argument errors, caught before anything is contacted (typer's CliRunner)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from typer.testing import CliRunner

from mesos_runtime.cli.app import app

runner = CliRunner()


def test_task_run_without_a_command_is_a_usage_error() -> None:
    result = runner.invoke(app, ["task", "run"])
    assert result.exit_code == 2


def test_cluster_up_refuses_zero_agents() -> None:
    result = runner.invoke(app, ["cluster", "up", "--agents", "0"])
    assert result.exit_code == 2


def test_task_log_refuses_negative_line_counts() -> None:
    result = runner.invoke(app, ["task", "log", "t", "--lines", "-1"])
    assert result.exit_code == 2


def test_unknown_command_is_a_usage_error() -> None:
    result = runner.invoke(app, ["nodes"])
    assert result.exit_code == 2


def test_cluster_up_refuses_ports_out_of_range_naming_the_option() -> None:
    for port in ("99999", "-1"):
        result = runner.invoke(app, ["cluster", "up", "--port", port])
        assert result.exit_code == 2, result.output
        assert "--port" in result.output and "Traceback" not in result.output


def test_daemons_refuse_ports_out_of_range_naming_the_flag(tmp_path: Path) -> None:
    for module, flag in (
        ("mesos_runtime.master.main", "--port=99999"),
        ("mesos_runtime.agent.main", "--advertise_port=70000"),
        ("mesos_runtime.marathon.main", "--http_port=-1"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", module, flag, f"--work_dir={tmp_path}", "--master=127.0.0.1"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode != 0, (module, result.stdout)
        assert f"flag {flag.split('=')[0]}: port" in result.stderr, (module, result.stderr)
        assert "Traceback" not in result.stderr, (module, result.stderr)


def test_task_run_refuses_an_offer_timeout_that_is_not_positive() -> None:
    for value in ("-1", "0", "nan"):
        result = runner.invoke(app, ["task", "run", "--offer-timeout", value, "--", "true"])
        assert result.exit_code == 2, result.output
        assert "--offer-timeout" in result.output and "not a positive number" in result.output


def test_task_log_json_and_follow_do_not_combine() -> None:
    result = runner.invoke(app, ["task", "log", "t", "--json", "--follow"])
    assert result.exit_code == 1
    assert "cannot be combined with --follow" in str(result.exception)


def test_version_prints_the_installed_version() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("infinity")), "--version"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"infinity {metadata.version('infinity-mesos')}"
