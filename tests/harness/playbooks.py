"""Plain `ansible-playbook` runs from the repository root (its ansible.cfg) against a set of
fresh podman test hosts, with the run's own fact cache, for the Ansible tests and benchmarks;
PLAY RECAP parsed per host."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml

from tests.harness import testhosts

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"
RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


def run_in_own_group(
    argv: list[str], *, env: dict[str, str], stdout: IO[str], timeout: float
) -> int:
    """Run a playbook in a process group of its own, so that a timeout stops its forks too
    (subprocess.run's timeout kills only ansible-playbook itself, and its workers then hold
    SSH sessions and ports into later tests)."""
    process = subprocess.Popen(
        argv,
        cwd=REPO,
        env=env,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group our own child leads
        process.wait()
        raise


@dataclass
class PlaybookRun:
    returncode: int
    output: str

    def recap(self) -> dict[str, dict[str, int]]:
        """PLAY RECAP per host: ok, changed, unreachable, failed."""
        return {
            m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
            for m in RECAP.finditer(self.output)
        }

    def changed(self) -> int:
        return sum(r["changed"] for r in self.recap().values())


@dataclass
class Site:
    """A test cluster: its hosts, an inventory directory, and how to run playbooks on it."""

    cluster: testhosts.TestCluster
    inventory: Path
    work: Path
    runs: int = 0
    # runs may go side by side (each logs to a file of its own)
    _counting: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def env(self, control_dir: str = "cp") -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                # a fact cache and SSH control sockets of this run's own: fresh hosts
                "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(self.work / "facts"),
                # SSH connections shared by this site's runs only (ControlPersist): a run
                # with another control_dir opens (and checks host keys on) its own
                "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.work / control_dir),
                "ANSIBLE_FORCE_COLOR": "0",
                "ANSIBLE_NOCOLOR": "1",
                "PATH": f"{BIN}:{env.get('PATH', '')}",
            }
        )
        return env

    def playbook(
        self,
        name: str,
        *args: str,
        inventory: Path | None = None,
        timeout: float = 900,
        control_dir: str = "cp",
    ) -> PlaybookRun:
        with self._counting:
            self.runs += 1
            number = self.runs
        log = self.work / f"playbook-{number:02d}-{name.removesuffix('.yml')}.log"
        with log.open("w+") as output:  # written as it runs: `tail -f` it while debugging
            returncode = run_in_own_group(
                [
                    str(BIN / "ansible-playbook"),
                    "-i",
                    str(inventory or self.inventory),
                    str(REPO / "playbooks" / name),
                    *args,
                ],
                env=self.env(control_dir),
                stdout=output,
                timeout=timeout,
            )
            output.seek(0)
            return PlaybookRun(returncode, output.read())

    def infinity(self, *args: str, inventory: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            # options before the arguments: `ssh HOST -- CMD` ends them at `--`
            [
                str(BIN / "infinity"),
                "node",
                args[0],
                "-i",
                str(inventory or self.inventory),
                *args[1:],
            ],
            cwd=REPO,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def ssh(self, host: str, command: str) -> subprocess.CompletedProcess:
        return self.cluster.ssh(self.cluster.host(host), command)

    @property
    def secrets(self) -> Path:
        """The controller's directory of this cluster's CA, certificates and credentials
        (the roles' infinity_secrets_dir default: ~/.infinity/<infinity_cluster_name>)."""
        return Path.home() / ".infinity" / self.cluster.name

    def ips(self, group: str) -> list[str]:
        document = yaml.safe_load(self.inventory.joinpath("hosts.yml").read_text())
        names = document["all"]["children"][group]["hosts"]
        return [self.cluster.host(n).ip for n in names]

    def variant(self, name: str, edit: object) -> Path:
        """A copy of the inventory directory with `edit(document)` applied to hosts.yml."""
        directory = self.work / name
        if directory.exists():
            shutil.rmtree(directory)
        shutil.copytree(self.inventory, directory)
        document = yaml.safe_load((directory / "hosts.yml").read_text())
        edit(document)  # type: ignore[operator]
        (directory / "hosts.yml").write_text(yaml.safe_dump(document, sort_keys=False))
        return directory


def make_site(name: str, count: int, work: Path, groups: dict[str, list[str]] | None) -> Site:
    """Fresh hosts `<name>-1..count` and an inventory for them with inventories/local's
    group_vars (raises testhosts.TestHostsError when hosts cannot be made here)."""
    inventory = work / "inventory"
    inventory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "inventories/local/group_vars", inventory / "group_vars")
    vars_file = inventory / "group_vars" / "all.yml"
    vars_file.write_text(
        vars_file.read_text().replace(
            "infinity_cluster_name: local", f"infinity_cluster_name: {name}"
        )
    )
    cluster = testhosts.create(
        name, count, inventory=inventory / "hosts.yml", groups=groups, state_dir=work / "hosts"
    )
    return Site(cluster, inventory, work)
