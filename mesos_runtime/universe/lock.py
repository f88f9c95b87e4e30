"""The artifact lock committed in each package (`artifacts.lock.json`): for every Maven
library, the coordinates it was resolved from and every resolved file with its sha512,
plus the sha512 of the library packed as the mirror serves it (a reproducible tar).
"""

from __future__ import annotations

import json
from pathlib import Path

from mesos_runtime.wire.record import Record, WireError, record, repeated, required

__all__ = ["LOCK_FILE", "ArtifactLock", "LockError", "LockedFile", "LockedLibrary"]

LOCK_FILE = "artifacts.lock.json"


class LockError(ValueError):
    """A lock file that cannot be read."""


@record(frozen=True)
class LockedFile(Record):
    path: str = required()  # in Maven's repository layout: group/as/dirs/artifact/version/file
    name: str = required()  # the file's name in the library directory
    sha512: str = required()
    size: int = required()


@record(frozen=True)
class LockedLibrary(Record):
    name: str = required()  # the artifact's name in package.yml
    coordinates: list[str] = repeated()
    scope: str = "runtime"
    packed_sha512: str = required()
    packed_size: int = required()
    files: list[LockedFile] = repeated()

    def file(self, name: str) -> LockedFile | None:
        return next((f for f in self.files if f.name == name), None)


@record(frozen=True)
class ArtifactLock(Record):
    format: int = 1
    libraries: list[LockedLibrary] = repeated()

    def library(self, name: str) -> LockedLibrary | None:
        return next((lib for lib in self.libraries if lib.name == name), None)

    @classmethod
    def load(cls, path: Path) -> ArtifactLock | None:
        if not path.exists():
            return None
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (ValueError, WireError) as e:
            raise LockError(f"{path.name}: {e}") from None

    def dump(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    def with_library(self, library: LockedLibrary) -> ArtifactLock:
        others = [lib for lib in self.libraries if lib.name != library.name]
        return ArtifactLock(
            format=self.format, libraries=sorted([*others, library], key=lambda x: x.name)
        )
