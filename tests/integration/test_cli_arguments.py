"""`infinity` argument errors, caught before anything is contacted (typer's CliRunner)."""

from __future__ import annotations

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
