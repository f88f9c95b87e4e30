"""Molecule, inside the suite: each role's scenario (converge, idempotence, testinfra) and
the root scenario (site.yml on three hosts, idempotence, upgrade.yml, testinfra, reset.yml),
on systemd containers of the project's test-host image on 198.18.0.0/24. They run in the
background (two at a time) from the start of this directory's tests (conftest.py), beside
the end-to-end module; the tests here wait for their results."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from tests.ansible.conftest import ROLES, MoleculeRun

pytestmark = [pytest.mark.ansible, pytest.mark.slow, pytest.mark.timeout(2400)]


def finished(runs: dict[str, Future[MoleculeRun]], scenario: str) -> MoleculeRun:
    result = runs[scenario].result(timeout=2400)
    assert result.returncode == 0, f"molecule {scenario} ({result.seconds:.0f} s):\n{result.tail}"
    return result


@pytest.mark.parametrize("role", ROLES)
def test_role_scenario_converges_idempotently_and_verifies(
    role: str, molecule_runs: dict[str, Future[MoleculeRun]]
) -> None:
    result = finished(molecule_runs, role)
    assert "idempotence: Executed: Successful" in result.output
    assert "verify: Executed: Successful" in result.output


def test_root_scenario_converges_site_upgrades_verifies_and_resets(
    molecule_runs: dict[str, Future[MoleculeRun]],
) -> None:
    result = finished(molecule_runs, "site")
    for step in ("converge", "idempotence", "side_effect", "verify", "cleanup"):
        assert f"{step}: Executed: Successful" in result.output, step
