"""Fixtures for the Ansible tests: fresh podman test hosts (tests/harness/testhosts.py)
reached over real SSH, an inventory for them (inventories/local's group_vars), and plain
`ansible-playbook` runs from the repository root with its ansible.cfg."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from mesos_runtime.ops import wheelhouse
from tests.harness import testhosts, zookeeper_tarball
from tests.harness.playbooks import BIN, REPO, Site, make_site

__all__ = ["REPO", "ROLES", "SCENARIO_OF", "MoleculeRun", "Site", "molecule_runs", "site"]

# The roles molecule converges in the suite, and the scenario that checks each: java
# converges (and is checked) as the zookeeper scenario's dependency. That scenario is the
# only one the suite runs: it covers what no site does (a release from a tarball, a wrong
# checksum refused). common, mesos_master and mesos_agent are converged once, by
# test_site_e2e.py's site, which checks what their scenarios check; their scenarios and the
# root one (site.yml on three hosts) stay for `molecule test` by hand.
ROLES = ["java", "zookeeper"]
SCENARIO_OF = {"java": "zookeeper", "zookeeper": "zookeeper"}
# every test site (inventories/local/group_vars) installs the wheelhouse built here, once
SHARED_WHEELHOUSE = Path.home() / ".cache/infinity/wheelhouse/test-hosts"
MOLECULE_PARALLEL = 2


@dataclass
class MoleculeRun:
    scenario: str
    returncode: int
    output: str
    seconds: float

    @property
    def tail(self) -> str:
        return self.output[-8000:]


def _molecule(
    scenario: str, directory: Path, work: Path, extra_env: dict[str, str] | None = None
) -> MoleculeRun:
    env = dict(os.environ, **(extra_env or {}))
    env.update(
        {
            # molecule finds ansible-config and ansible-playbook on PATH
            "PATH": f"{BIN}:{env.get('PATH', '')}",
            "ANSIBLE_FORCE_COLOR": "0",
            "PY_COLORS": "0",
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(work / f"facts-{scenario}"),
        }
    )
    started = time.monotonic()
    with (work / f"molecule-{scenario}.log").open("w+") as log:  # `tail -f` it while running
        returncode = subprocess.run(
            [str(BIN / "molecule"), "test"],
            cwd=directory,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=2400,
            stdin=subprocess.DEVNULL,
            check=False,
        ).returncode
        log.seek(0)
        return MoleculeRun(scenario, returncode, log.read(), time.monotonic() - started)


@pytest.fixture(scope="session")
def molecule_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Future[MoleculeRun]]]:
    """The suite's molecule scenarios, started in the background on first use,
    MOLECULE_PARALLEL at a time; the futures of their results by scenario."""
    if (why := testhosts.available()) is not None:
        pytest.skip(f"molecule's containers cannot be made here: {why}")
    testhosts.ensure_podman_config()
    testhosts.ensure_network()
    testhosts.ensure_image()
    wheelhouse.build(REPO, SHARED_WHEELHOUSE)  # before the scenarios, which only read it
    scenarios = sorted(set(SCENARIO_OF.values()))
    names = [f"mrole-{r.replace('_', '-')}" for r in scenarios]
    for name in names:
        (testhosts.CACHE / "apt" / name).mkdir(parents=True, exist_ok=True)
    work = tmp_path_factory.mktemp("molecule")
    # the zookeeper scenario installs an Apache-layout release, fetched by the controller
    # from this loopback "mirror", after refusing it with a wrong checksum
    tarball, version, sha512 = zookeeper_tarball.build(work / "mirror")
    with zookeeper_tarball.served(tarball.parent) as mirror:
        release = {
            "INFINITY_ZK_TARBALL_URL": f"{mirror}/{tarball.name}",
            "INFINITY_ZK_TARBALL_VERSION": version,
            "INFINITY_ZK_TARBALL_CHECKSUM": f"sha512:{sha512}",
            "INFINITY_ZK_TARBALL_CACHE": str(work / "zookeeper-cache"),
        }
        pool = ThreadPoolExecutor(max_workers=MOLECULE_PARALLEL, thread_name_prefix="molecule")
        runs = {}
        for role in scenarios:
            env = release if role == "zookeeper" else None
            runs[role] = pool.submit(_molecule, role, REPO / "roles" / role, work, env)
        try:
            yield runs
        finally:
            pool.shutdown(wait=True)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Site]:
    """Four fresh hosts: ZooKeeper and masters on the first three, agents on all four.
    When the molecule tests are selected too, their scenarios start now, beside these."""
    if any(item.path.name == "test_site_molecule.py" for item in request.session.items):
        request.getfixturevalue("molecule_runs")
    work = tmp_path_factory.mktemp("site")
    names = [f"itest-{i}" for i in range(1, 5)]
    groups = {"zookeeper": names[:3], "masters": names[:3], "agents": names}
    if (why := testhosts.available()) is not None:
        pytest.skip(f"test hosts cannot be made here: {why}")
    built = make_site("itest", 4, work, groups)
    try:
        yield built
    finally:
        testhosts.destroy("itest")
        shutil.rmtree(built.secrets, ignore_errors=True)
