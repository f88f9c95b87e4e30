"""Fixtures of the universe tests: the real artifact cache (outside the repository; filled
on first use from Maven Central and PyPI), the built-in packages, and a CLI runner with its
own config directory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mesos_runtime.universe.artifacts import ArtifactStore
from mesos_runtime.universe.package import Package, load_package
from mesos_runtime.universe.paths import UniversePaths

REPO = Path(__file__).resolve().parents[2]
PACKAGES = REPO / "packages"
INFINITY = Path(sys.executable).with_name("infinity")


@pytest.fixture(scope="session")
def universe_paths() -> UniversePaths:
    return UniversePaths.from_env()


@pytest.fixture(scope="session")
def store(universe_paths: UniversePaths) -> ArtifactStore:
    return ArtifactStore(universe_paths)


@pytest.fixture(scope="session")
def kafka_package() -> Package:
    return load_package(PACKAGES / "kafka")


@pytest.fixture(scope="session")
def spark_package() -> Package:
    return load_package(PACKAGES / "spark")


CliResult = subprocess.CompletedProcess[str]


@pytest.fixture
def infinity(tmp_path: Path) -> Callable[..., CliResult]:
    """Run the installed `infinity` command with its own config dir (the artifact cache
    stays the shared one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFINITY_")}
    env["INFINITY_CONFIG_DIR"] = str(tmp_path / "config")
    if "INFINITY_CACHE_DIR" in os.environ:
        env["INFINITY_CACHE_DIR"] = os.environ["INFINITY_CACHE_DIR"]

    def run(
        *args: str, timeout: float = 300, cwd: Path | None = None, cache: Path | None = None
    ) -> CliResult:
        """`cache`: a cache of its own, for tests that must see what a fetch leaves."""
        return subprocess.run(
            [str(INFINITY), *args],
            capture_output=True,
            text=True,
            env=env if cache is None else env | {"INFINITY_CACHE_DIR": str(cache)},
            timeout=timeout,
            cwd=cwd or tmp_path,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    return run
