"""The one-command demo, timed: `infinity cluster up --agents 3`, then `infinity install
kafka --wait` (3 brokers, one per host) until the deploy plan is COMPLETE; the scheduler's
own per-step timings (`/v1/debug/steps`) beside it; then uninstall and `cluster down`.

    .venv/bin/python -m bench.install_kafka [--small] [--rounds 1]

`--small` installs with the tests' small-footprint broker options (heap 192 MB, one
thread each); without it, the package's defaults. The artifact cache must be warm (run the
universe tests or `infinity mirror build kafka` once) so that nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.allocator import load, machine

INFINITY = str(Path(sys.executable).with_name("infinity"))
SMALL = {
    "brokers": {
        "heap_mb": 192,
        "mem": 512,
        "cpus": 0.3,
        "disk_mb": 200,
        "num_network_threads": 1,
        "num_io_threads": 1,
        "background_threads": 1,
        "jvm_opts": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError",
    },
    "kafka": {"group_initial_rebalance_delay_ms": 0},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [INFINITY, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"infinity {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done


def scheduler_timings(env: dict[str, str], directory: Path) -> dict[str, Any]:
    """The scheduler's own per-step timings, from its API (the framework's webui_url)."""
    os.environ["INFINITY_CLUSTER_DIR"] = str(directory)
    from mesos_runtime.cli.localcluster import ClusterState
    from mesos_runtime.cli.service_api import find_scheduler

    state = ClusterState.load(directory)
    assert state is not None
    url = find_scheduler(state.master.address, "kafka")
    if url is None:
        return {}
    with urllib.request.urlopen(url + "/v1/debug/steps", timeout=10) as r:
        return json.loads(r.read())


def one_round(small: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFINITY_")}
        if "INFINITY_CACHE_DIR" in os.environ:
            env["INFINITY_CACHE_DIR"] = os.environ["INFINITY_CACHE_DIR"]
        env["INFINITY_CLUSTER_DIR"] = str(root / "cluster")
        env["INFINITY_CONFIG_DIR"] = str(root / "config")
        options = root / "options.json"
        options.write_text(json.dumps(SMALL if small else {}))
        start = time.perf_counter()
        run(env, "cluster", "up", "--agents", "3", "--port", str(free_port()))
        up = time.perf_counter() - start
        try:
            start = time.perf_counter()
            run(env, "install", "kafka", "--options", str(options), "--yes", "--wait",
                "--timeout", "600")  # fmt: skip
            install = time.perf_counter() - start
            steps = scheduler_timings(env, root / "cluster")
            start = time.perf_counter()
            run(env, "uninstall", "kafka", "--yes")
            uninstall = time.perf_counter() - start
        finally:
            subprocess.run([INFINITY, "cluster", "down"], env=env, capture_output=True, check=False)
    return {"cluster_up": up, "install_to_ready": install, "uninstall": uninstall, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="small-footprint brokers")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    print(f"# {machine()} {load()}", flush=True)
    results = [one_round(args.small) for _ in range(args.rounds)]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for i, r in enumerate(results, 1):
        print(
            f"round {i}: cluster up {r['cluster_up']:.1f} s, install kafka (3 brokers) to "
            f"all ready {r['install_to_ready']:.1f} s, uninstall {r['uninstall']:.1f} s"
        )
        for step, timing in sorted(r["steps"].items()):
            print(f"  {step}: {json.dumps(timing)}")
    print(f"# after: {load()}")


if __name__ == "__main__":
    main()
