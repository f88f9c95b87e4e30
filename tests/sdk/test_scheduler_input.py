"""Bad input to the scheduler process: it exits non-zero with a message naming the
variable and the field, before it registers anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mesos_runtime.sdk.scheduler.config import ConfigError, from_environment
from tests.harness import daemons

from .service import spec


def run_scheduler(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "SERVICE_"))}
    base.update(
        SERVICE_NAME="hello",
        MESOS_MASTER="127.0.0.1:1",  # never reached: the input is refused first
        SERVICE_STORE=str(tmp_path / "store"),
        SERVICE_TEMPLATES_DIR=str(tmp_path / "templates"),
    )
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "index.html.j2").write_text("hi\n")
    base.update(env)
    return subprocess.run(
        [sys.executable, "-m", "mesos_runtime.sdk.scheduler"],
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"SERVICE_SPEC": spec().replace("cpus: 0.1", "cpus: lots")},
            "pods.web.tasks.server.cpus: 'lots' is not of type 'number'",
        ),
        (
            {"SERVICE_SPEC": spec().replace("count: 2", "count: -1")},
            "pods.web.count",
        ),
        ({"SERVICE_SPEC": spec(name="other")}, "name: 'other' is not SERVICE_NAME 'hello'"),
        ({"SERVICE_SPEC": "pods: [unclosed"}, "SERVICE_SPEC: not valid YAML"),
        ({"SERVICE_SPEC": ""}, "SERVICE_SPEC (or SERVICE_SPEC_FILE) is not set"),
        ({"SERVICE_SPEC": spec(), "MESOS_MASTER": ""}, "MESOS_MASTER is not set"),
        (
            {"SERVICE_SPEC": spec(), "PERMANENT_FAILURE_TIMEOUT": "soon"},
            "PERMANENT_FAILURE_TIMEOUT: 'soon' is not a number of seconds",
        ),
        (
            {"SERVICE_SPEC": spec().replace("index.html.j2", "missing.j2")},
            "pods.web.tasks.server.configs.page.template: no missing.j2",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "index.html.j2").write_text("hi\n")
    base = {
        "SERVICE_NAME": "hello",
        "MESOS_MASTER": "127.0.0.1:1",
        "SERVICE_STORE": str(tmp_path / "store"),
        "SERVICE_TEMPLATES_DIR": str(templates),
        **env,
    }
    with pytest.raises(ConfigError) as refused:
        from_environment(base)
    assert expected in str(refused.value)


def test_the_process_exits_non_zero_with_the_message_and_stores_nothing(tmp_path: Path) -> None:
    result = run_scheduler(tmp_path, SERVICE_SPEC=spec().replace("cpus: 0.1", "cpus: lots"))
    assert result.returncode == 2, result.stderr
    assert "SERVICE_SPEC is not a valid service spec" in result.stderr
    assert "pods.web.tasks.server.cpus: 'lots' is not of type 'number'" in result.stderr
    assert not (tmp_path / "store").exists()
    result = run_scheduler(tmp_path, SERVICE_SPEC_FILE=str(tmp_path / "nope.yml"))
    assert result.returncode == 2
    assert f"SERVICE_SPEC_FILE: cannot read {tmp_path / 'nope.yml'}" in result.stderr


def test_an_update_that_changes_a_deployed_pods_volumes_or_shrinks_it_is_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "index.html.j2").write_text("hi\n")
    first = subprocess.Popen(
        [sys.executable, "-m", "mesos_runtime.sdk.scheduler"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "SERVICE_"))},
            "SERVICE_NAME": "hello",
            "SERVICE_SPEC": spec(),
            "MESOS_MASTER": "127.0.0.1:1",  # never reached: the target is stored first
            "SERVICE_STORE": str(tmp_path / "store"),
            "SERVICE_TEMPLATES_DIR": str(tmp_path / "templates"),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        daemons.wait_until(
            lambda: list((tmp_path / "store").rglob("target")), 30, message="target stored"
        )
    finally:
        first.terminate()
        first.wait(timeout=30)
    bigger = spec().replace("size: 10", "size: 20")
    result = run_scheduler(tmp_path, SERVICE_SPEC=bigger)
    assert result.returncode == 2, result.stderr
    assert (
        "pods.web: the volumes of a deployed pod cannot change "
        "(from data (data, 10 MB) to data (data, 20 MB))" in result.stderr
    )
    result = run_scheduler(tmp_path, SERVICE_SPEC=spec(count=1))
    assert result.returncode == 2, result.stderr
    assert "pods.web.count: cannot shrink from 2 to 1" in result.stderr
