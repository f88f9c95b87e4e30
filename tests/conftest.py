"""Shared fixtures: real master and agent daemons on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import daemons


@pytest.fixture
def master(tmp_path: Path) -> Iterator[daemons.Daemon]:
    """A running standalone master."""
    m = daemons.master(tmp_path / "master").start()
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture
def agent(tmp_path: Path, master: daemons.Daemon) -> Iterator[daemons.Daemon]:
    """A running agent registered with `master`."""
    a = daemons.agent(
        tmp_path / "agent",
        master.address,
        "--resources=cpus:4;mem:4096;disk:10000;ports:[31000-31999]",
    ).start()
    try:
        daemons.wait_until(
            lambda: daemons.registered_agents(master), 30, message="agent registered"
        )
        yield a
    finally:
        a.stop()
