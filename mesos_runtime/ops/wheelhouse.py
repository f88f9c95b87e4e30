"""The runtime's wheelhouse, built on the controller: `pip wheel` of the project and every
dependency, packed into one reproducible tarball named by its release id
(`<version>-<sha256[:12]>`), so hosts install it with `pip --no-index` and need no index.

Standard library only: the Ansible roles run this file by path with the controller's Python.
    python3 mesos_runtime/ops/wheelhouse.py build --project . --out ~/.cache/infinity/wheelhouse
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

# wheels are zip files: entries dated 1980-01-01 make identical sources identical wheels
SOURCE_DATE_EPOCH = "315532800"
PROJECT_NAME = "infinity-mesos"
_SKIP = {"__pycache__", ".venv", ".git", "build", "dist", ".cache"}
_WHEEL = re.compile(r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)-.*\.whl$")


@dataclass(frozen=True)
class Wheelhouse:
    release: str  # <version>-<first 12 hex of the tarball's sha256>
    version: str
    tarball: str
    sha256: str
    source_digest: str
    wheels: tuple[str, ...]


class WheelhouseError(RuntimeError):
    pass


def source_digest(project: Path) -> str:
    """What the project's wheel is built from: its metadata and the package sources."""
    digest = hashlib.sha256()
    files = [project / "pyproject.toml", project / "README.md"]
    for root, dirs, names in os.walk(project / "mesos_runtime"):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP and not d.endswith(".egg-info"))
        files += [Path(root) / n for n in sorted(names) if not n.endswith((".pyc", ".pyo"))]
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(project)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _pack(wheel_dir: Path, tarball: Path) -> str:
    """A tar.gz with sorted entries, no owners and no dates: the same wheels, the same
    bytes. Returns its sha256."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(wheel_dir.glob("*.whl")):
            info = tarfile.TarInfo(path.name)
            info.size = path.stat().st_size
            info.mode = 0o644
            with path.open("rb") as f:
                tar.addfile(info, f)
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    tarball.write_bytes(packed.getvalue())
    return hashlib.sha256(packed.getvalue()).hexdigest()


def _project_version(wheel_dir: Path) -> str:
    for path in wheel_dir.glob("*.whl"):
        match = _WHEEL.match(path.name)
        if match and match["name"].replace("_", "-").lower() == PROJECT_NAME:
            return match["version"]
    raise WheelhouseError(f"no {PROJECT_NAME} wheel in {wheel_dir}")


def load(out: Path) -> Wheelhouse | None:
    manifest = out / "manifest.json"
    if not manifest.exists():
        return None
    data = json.loads(manifest.read_text())
    data["wheels"] = tuple(data["wheels"])
    house = Wheelhouse(**data)
    return house if (out / house.tarball).exists() else None


def build(
    project: Path, out: Path, python: str = sys.executable, wheels_from: Path | None = None
) -> tuple[Wheelhouse, bool]:
    """Build (or reuse, when the sources are unchanged) the wheelhouse; (it, changed)."""
    project = project.resolve()
    digest = source_digest(project) if wheels_from is None else f"dir:{wheels_from.resolve()}"
    current = load(out)
    if current is not None and current.source_digest == digest and wheels_from is None:
        return current, False
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wheelhouse-", dir=out) as tmp:
        wheel_dir = Path(tmp) / "wheels"
        if wheels_from is not None:
            shutil.copytree(wheels_from, wheel_dir)
        else:
            env = dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, PIP_NO_INPUT="1")
            result = subprocess.run(
                [
                    *(python, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check"),
                    *("--wheel-dir", str(wheel_dir), str(project)),
                ],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if result.returncode != 0:
                raise WheelhouseError(f"pip wheel failed: {result.stderr.strip()[-3000:]}")
        version = _project_version(wheel_dir)
        staged = Path(tmp) / "wheelhouse.tar.gz"
        sha256 = _pack(wheel_dir, staged)
        release = f"{version}-{sha256[:12]}"
        tarball = f"infinity-wheelhouse-{release}.tar.gz"
        house = Wheelhouse(
            release=release,
            version=version,
            tarball=tarball,
            sha256=sha256,
            source_digest=digest,
            wheels=tuple(sorted(p.name for p in wheel_dir.glob("*.whl"))),
        )
        changed = current is None or current.sha256 != sha256
        os.replace(staged, out / tarball)
        (out / "manifest.json").write_text(json.dumps(asdict(house), indent=1) + "\n")
    if current is not None and current.tarball != tarball:
        (out / current.tarball).unlink(missing_ok=True)
    return house, changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("build", help="build or reuse the wheelhouse; prints JSON")
    make.add_argument("--project", type=Path, default=Path.cwd())
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--python", default=sys.executable, help="the Python whose pip builds")
    make.add_argument(
        "--wheels-from", type=Path, help="pack this directory of wheels instead of building"
    )
    show = commands.add_parser("show", help="the current wheelhouse's manifest")
    show.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            house, changed = build(args.project, args.out, args.python, args.wheels_from)
        else:
            loaded = load(args.out)
            if loaded is None:
                raise WheelhouseError(f"no wheelhouse in {args.out}")
            house, changed = loaded, False
    except (WheelhouseError, OSError) as e:
        print(json.dumps({"failed": True, "msg": str(e)}))
        return 1
    print(json.dumps({"changed": changed, **asdict(house), "dir": str(args.out.resolve())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
