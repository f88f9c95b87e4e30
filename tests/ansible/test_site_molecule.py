"""Molecule, inside the suite: the zookeeper role's scenario (a wrong checksum refused, then
a release installed from its tarball: converge, idempotence, testinfra; java is converged and
checked there as its dependency), on a systemd container of the project's test-host image
on 198.18.0.0/24. It runs in the background from the start of this directory's tests
(conftest.py), beside the end-to-end module, which converges and checks the other roles on
its site; the tests here wait for its result."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from tests.ansible.conftest import REPO, ROLES, SCENARIO_OF, MoleculeRun

pytestmark = [pytest.mark.ansible, pytest.mark.slow, pytest.mark.timeout(2400)]


def finished(runs: dict[str, Future[MoleculeRun]], scenario: str) -> MoleculeRun:
    result = runs[scenario].result(timeout=2400)
    assert result.returncode == 0, f"molecule {scenario} ({result.seconds:.0f} s):\n{result.tail}"
    return result


@pytest.mark.parametrize("role", ROLES)
def test_role_scenario_converges_idempotently_and_verifies(
    role: str, molecule_runs: dict[str, Future[MoleculeRun]]
) -> None:
    result = finished(molecule_runs, SCENARIO_OF[role])
    assert "idempotence: Executed: Successful" in result.output
    assert "verify: Executed: Successful" in result.output
    # this role's own checks ran in that scenario's verify step
    assert f"test_{role}.py" in result.output
    converged = (REPO / "roles" / SCENARIO_OF[role] / "molecule/default/converge.yml").read_text()
    meta = (REPO / "roles" / SCENARIO_OF[role] / "meta/main.yml").read_text()
    tasks = (REPO / "roles" / SCENARIO_OF[role] / "tasks/main.yml").read_text()
    assert f"role: {role}" in converged + meta or f"name: {role}\n" in tasks
    if role == "zookeeper":
        # a release with a wrong checksum refused before anything changed (prepare), then
        # the release (served to the controller) installed from its tarball and serving
        assert "prepare: Executed: Successful" in result.output
        assert "test_a_served_release_is_installed_from_its_tarball PASSED" in result.output
