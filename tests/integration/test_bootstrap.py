"""`.ci/bootstrap.sh` on Debian 12: ZooKeeper without the desktop JRE (checked with apt's own
resolver, `apt-get -s`, against a minimal Debian made from this host's required packages), and
set-up output kept to one line per step, the full log named only when a step fails."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DPKG_STATUS = Path("/var/lib/dpkg/status")
DESKTOP = ("openjdk-17-jre", "default-jre", "libgtk-3-0", "libx11-6", "libgl1")

pytestmark = pytest.mark.skipif(
    not (shutil.which("apt-get") and shutil.which("dpkg-deb") and DPKG_STATUS.exists()),
    reason="needs Debian's apt-get and dpkg-deb",
)


def minimal_status(path: Path) -> Path:
    """A dpkg status file of a minimal Debian: this host's `Priority: required` packages and
    what they depend on (first alternative that is installed), nothing else."""
    entries: dict[str, str] = {}
    provided: dict[str, str] = {}
    for entry in DPKG_STATUS.read_text().split("\n\n"):
        name = re.search(r"^Package: (\S+)", entry, re.M)
        if name is None or not re.search(r"^Status: install ok installed", entry, re.M):
            continue
        entries[name.group(1)] = entry
        provides = re.search(r"^Provides: (.*)$", entry, re.M)
        for item in provides.group(1).split(",") if provides else []:
            provided.setdefault(item.split()[0], name.group(1))

    def depends(entry: str) -> list[str]:
        found = []
        for field in re.findall(r"^(?:Pre-)?Depends: (.*)$", entry, re.M):
            for group in field.split(","):
                names = [a.split()[0].split(":")[0] for a in group.split("|")]
                present = [n if n in entries else provided.get(n) for n in names]
                found += [n for n in present if n][:1]
        return found

    keep = {n for n, e in entries.items() if re.search(r"^Priority: required$", e, re.M)}
    todo = list(keep)
    while todo:
        for dependency in depends(entries[todo.pop()]):
            if dependency not in keep:
                keep.add(dependency)
                todo.append(dependency)
    path.write_text("\n\n".join(entries[n] for n in sorted(keep)) + "\n\n")
    return path


def simulate(status: Path, *packages: str) -> list[str]:
    """The packages `apt-get install --no-install-recommends` would unpack on that system."""
    result = subprocess.run(
        ["apt-get", "-s", "-o", f"Dir::State::status={status}", "install",
         "--no-install-recommends", *packages],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return [line.split()[1] for line in result.stdout.splitlines() if line.startswith("Inst ")]


def test_zookeeper_installs_with_the_headless_jre_only(tmp_path: Path) -> None:
    status = minimal_status(tmp_path / "status")
    deb = tmp_path / "infinity-headless-jre.deb"
    build = subprocess.run(
        ["bash", str(ROOT / ".ci/headless-jre.sh"), str(deb)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    plain = simulate(status, "zookeeper")
    if "zookeeper" not in plain:
        pytest.skip("apt's lists have no zookeeper (run apt-get update)")
    headless = simulate(status, str(deb), "zookeeper")
    # without it, Debian's zookeeper drags in the desktop JRE; with it, none of that
    assert {"openjdk-17-jre", "default-jre"} <= set(plain)
    assert not set(DESKTOP) & set(headless), sorted(set(DESKTOP) & set(headless))
    assert {"zookeeper", "libzookeeper-java", "openjdk-17-jre-headless"} <= set(headless)
    assert len(headless) < len(plain) * 0.6, (len(headless), len(plain))


def apt_packages() -> list[str]:
    listed = subprocess.run(
        ["bash", "-c", f"source <(sed -n '/^APT_PACKAGES=(/,/^)/p' {ROOT}/.ci/bootstrap.sh); "
         'printf "%s\\n" "${APT_PACKAGES[@]}"'],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return listed.stdout.split()


def test_a_failing_step_names_its_log_and_shows_its_end(tmp_path: Path) -> None:
    missing = [
        p
        for p in apt_packages()
        if "install ok installed"
        not in subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True, check=False
        ).stdout
    ]
    if missing:
        pytest.skip(f"would install Debian packages first: {missing}")
    # a checkout whose pyproject.toml is broken: pip's step fails
    shutil.copytree(ROOT / ".ci", tmp_path / ".ci")
    (tmp_path / "pyproject.toml").write_text("[project\nname = 'broken'\n")
    result = subprocess.run(
        ["bash", str(tmp_path / ".ci/bootstrap.sh")],
        capture_output=True, text=True, check=False, timeout=300,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode != 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("bootstrap: creating .venv") and lines[0].endswith("s)")
    assert lines[-1].endswith("... FAILED")
    logs = list(tmp_path.glob("infinity-bootstrap.*.log"))
    assert len(logs) == 1 and f"full log: {logs[0]}" in result.stderr
    assert "TOMLDecodeError" in result.stderr  # pip's own complaint, from the log's end
    assert len(lines) + len(result.stderr.splitlines()) < 40


def test_a_ready_checkout_bootstraps_in_one_line_and_leaves_no_log(tmp_path: Path) -> None:
    stamp = ROOT / ".venv/.infinity-installed"
    current = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text().strip() != current:
        pytest.skip("this checkout's .venv is not bootstrapped from its pyproject.toml")
    result = subprocess.run(
        ["bash", str(ROOT / ".ci/bootstrap.sh")],
        capture_output=True, text=True, check=False, timeout=600,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("bootstrap: ready")
    assert not list(tmp_path.glob("infinity-bootstrap.*.log"))
