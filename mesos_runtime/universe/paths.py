"""Where the universe keeps things outside the repository: the artifact cache (large
downloads, verified), the CLI's config (the repository list), Maven's local repository,
and the built-in `packages/` beside the source tree.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["UniversePaths"]

_SOURCE_PACKAGES = Path(__file__).resolve().parents[2] / "packages"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class UniversePaths:
    cache: Path  # verified artifacts, unpacked libraries, remote repositories' copies
    config: Path  # repositories.json
    builtin_packages: Path | None
    maven_repo: Path | None  # None: Maven's own default (~/.m2/repository)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> UniversePaths:
        """INFINITY_CACHE_DIR, INFINITY_CONFIG_DIR, INFINITY_PACKAGES, INFINITY_MAVEN_REPO,
        else the XDG locations under the home directory."""
        env = os.environ if env is None else env
        home = Path(env.get("HOME") or Path.home())
        cache = env.get("INFINITY_CACHE_DIR") or str(
            Path(env.get("XDG_CACHE_HOME") or home / ".cache") / "infinity"
        )
        config = env.get("INFINITY_CONFIG_DIR") or str(
            Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "infinity"
        )
        builtin = Path(env["INFINITY_PACKAGES"]) if env.get("INFINITY_PACKAGES") else None
        if builtin is None and _SOURCE_PACKAGES.is_dir():
            builtin = _SOURCE_PACKAGES
        maven = env.get("INFINITY_MAVEN_REPO")
        return cls(
            cache=Path(cache),
            config=Path(config),
            builtin_packages=builtin,
            maven_repo=Path(maven) if maven else None,
        )
