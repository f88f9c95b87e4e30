"""Fixtures for the Ansible tests: fresh podman test hosts (tests/harness/testhosts.py)
reached over real SSH, an inventory for them (inventories/local's group_vars), and plain
`ansible-playbook` runs from the repository root with its ansible.cfg."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import testhosts
from tests.harness.playbooks import REPO, Site, make_site

__all__ = ["REPO", "Site", "site"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Four fresh hosts: ZooKeeper and masters on the first three, agents on all four."""
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
        shutil.rmtree(Path.home() / ".infinity" / "itest", ignore_errors=True)
