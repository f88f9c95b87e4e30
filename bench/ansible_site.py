"""Ansible rollout time: `site.yml` on fresh podman test hosts over SSH (cold), then the
idempotent re-run (which must report changed=0), for 3 hosts and for 6 hosts (ZooKeeper
and masters on three of them, agents on all). Prints each figure with the machine's load.

    .venv/bin/python -m bench.ansible_site [--hosts 3 6] [--keep]

Targets (docs/benchmarks.md): cold <= 4 min, re-run <= 45 s, 6 hosts <= 1.3 x 3 hosts.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.harness import testhosts
from tests.harness.playbooks import Site, make_site


def _load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


def _warm_debs(site: Site) -> int:
    """How many of the hosts' .deb caches (tests/harness/testhosts.py) were already filled."""
    caches = [testhosts.CACHE / "apt" / h.name for h in site.cluster.hosts]
    return sum(1 for c in caches if any(c.glob("*.deb")))


def measure(count: int, keep: bool) -> tuple[float, float]:
    name = f"bench{count}"
    work = Path(tempfile.mkdtemp(prefix=f"bench-ansible-{count}-"))
    names = [f"{name}-{i}" for i in range(1, count + 1)]
    groups = {"zookeeper": names[:3], "masters": names[:3], "agents": names}
    site = make_site(name, count, work, groups)
    warm = _warm_debs(site)
    try:
        started, load = time.monotonic(), _load()
        cold = site.playbook("site.yml")
        cold_s = time.monotonic() - started
        if cold.returncode != 0:
            sys.exit(f"site.yml failed on {count} hosts:\n{cold.output[-4000:]}")
        started, load_again = time.monotonic(), _load()
        again = site.playbook("site.yml")
        again_s = time.monotonic() - started
        if again.returncode != 0 or again.changed() != 0:
            sys.exit(
                f"the re-run changed {again.changed()} on {count} hosts:\n{again.output[-4000:]}"
            )
        print(
            f"{count} hosts: cold site.yml {cold_s:6.1f} s ({load}, "
            f"{warm}/{count} warm .deb caches) | re-run {again_s:5.1f} s changed=0 ({load_again})",
            flush=True,
        )
        return cold_s, again_s
    finally:
        if not keep:
            testhosts.destroy(name)
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(site.secrets, ignore_errors=True)  # the cluster's CA and credentials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, nargs="+", default=[3, 6])
    parser.add_argument("--keep", action="store_true", help="leave the hosts running")
    args = parser.parse_args()
    if (why := testhosts.available()) is not None:
        sys.exit(f"test hosts cannot be made here: {why}")
    print(
        f"machine: {os.cpu_count()} cpus, {platform.processor() or platform.machine()}, {_load()}"
    )
    figures = {n: measure(n, args.keep) for n in args.hosts}
    if 3 in figures and 6 in figures:
        print(
            f"6 hosts / 3 hosts: cold {figures[6][0] / figures[3][0]:.2f}x, "
            f"re-run {figures[6][1] / figures[3][1]:.2f}x"
        )


if __name__ == "__main__":
    main()
