"""Molecule, inside the suite: each role's scenario (converge, idempotence, testinfra) and
the root scenario (site.yml on three hosts, idempotence, upgrade.yml, testinfra, reset.yml),
on systemd containers of the project's test-host image on 198.18.0.0/24."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.harness import testhosts

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"
ROLES = ["java", "common", "zookeeper", "mesos_master", "mesos_agent"]

pytestmark = [pytest.mark.ansible, pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def image() -> str:
    if (why := testhosts.available()) is not None:
        pytest.skip(f"molecule's containers cannot be made here: {why}")
    testhosts.ensure_podman_config()
    testhosts.ensure_network()
    return testhosts.ensure_image()


def molecule(directory: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        {
            # molecule finds ansible-config and ansible-playbook on PATH
            "PATH": f"{BIN}:{env.get('PATH', '')}",
            "ANSIBLE_FORCE_COLOR": "0",
            "PY_COLORS": "0",
            "MOLECULE_NO_LOG": "false",
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path / "facts"),
        }
    )
    for name in ("msite-1", "msite-2", "msite-3", *(f"mrole-{r.replace('_', '-')}" for r in ROLES)):
        (testhosts.CACHE / "apt" / name).mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(BIN / "molecule"), "test"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.parametrize("role", ROLES)
def test_role_scenario_converges_idempotently_and_verifies(
    role: str, image: str, tmp_path: Path
) -> None:
    del image
    result = molecule(REPO / "roles" / role, tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert "idempotence: Executed: Successful" in result.stdout + result.stderr


def test_root_scenario_converges_site_upgrades_verifies_and_resets(
    image: str, tmp_path: Path
) -> None:
    del image
    result = molecule(REPO, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert "idempotence: Executed: Successful" in output
    assert "passed" in output
