"""Container task latency on one real agent with the docker containerizer (podman): N
tasks `true` in a tiny busybox image (`type: DOCKER`, HOST network), launched as offers
allow, from submit until every TASK_FINISHED is acknowledged; the same N plain tasks
beside it for comparison.

    .venv/bin/python -m bench.container_launch [--tasks 20] [--json]

The image is `podman import`ed from Debian's static busybox as
`infinity-ctest-bench-busybox:1` and removed afterwards, as are the containers (the agent
names them `infinity-ctest-bench-<container id>`). It prints the CPU time the agent used
and the load average (the machine may be shared: note it with the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mesos_runtime.cli import localcluster
from mesos_runtime.scheduler import SchedulerClient, run
from mesos_runtime.wire.mesos import FrameworkInfo, Offer, TaskInfo
from mesos_runtime.wire.resources import Resources

from .task_throughput import (
    Throughput,
    _cpu_seconds,
    _percentile,
    machine,
    reference_loop_ms,
)

PREFIX = "infinity-ctest-bench-"
IMAGE = f"localhost/{PREFIX}busybox:1"


class ContainerThroughput(Throughput):
    def __init__(self, count: int, container: dict[str, Any] | None) -> None:
        super().__init__(count)
        self.container = container

    def task(self, offer: Offer, task_id: str, need: Resources) -> TaskInfo:
        return super().task(offer, task_id, need).replace(container=self.container)


async def measure(master: str, count: int, container: dict[str, Any] | None) -> dict[str, Any]:
    framework = ContainerThroughput(count, container)
    info = FrameworkInfo(user="root", name="bench-container-launch")
    async with SchedulerClient(master, info) as client:
        submitted = time.perf_counter()
        async with asyncio.timeout(600):
            await run(client, framework, auto_acknowledge=False, teardown=True)
    latencies = sorted(
        framework.finished_at[t] - framework.launched_at[t] for t in framework.finished_at
    )
    wall = max(framework.finished_at.values(), default=submitted) - submitted
    return {
        "tasks": count,
        "finished": len(framework.finished_at),
        "failed": len(framework.failed),
        "failures": dict(list(framework.failed.items())[:3]),
        "wall_seconds": round(wall, 2),
        "latency_p50_ms": round(_percentile(latencies, 50) * 1000),
        "latency_p99_ms": round(_percentile(latencies, 99) * 1000),
    }


def build_image(tmp: Path) -> None:
    rootfs = tmp / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        tar.add("/bin/busybox", "bin/busybox")
        for applet in ("sh", "true"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link, io.BytesIO())
    subprocess.run(["podman", "import", "--quiet", str(rootfs), IMAGE], check=True)


def remove_ours() -> None:
    def podman(*args: str) -> str:
        return subprocess.run(["podman", *args], capture_output=True, text=True, check=False).stdout

    for name in podman("ps", "--all", "--format", "{{.Names}}").split():
        if name.startswith(PREFIX):
            podman("rm", "--force", "--time", "0", name)
    podman("rmi", "--force", IMAGE)


def run_once(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-containers-") as tmp:
        build_image(Path(tmp))
        state = localcluster.start_cluster(
            Path(tmp),
            agents=1,
            port=localcluster.free_port(),
            agent_resources="cpus:4;mem:4096;disk:1024",
            agent_flags=[
                "--containerizers=mesos,docker",
                f"--docker_container_prefix={PREFIX}",
                "--isolation=posix/cpu,posix/mem",
            ],
        )
        try:
            result: dict[str, Any] = {}
            for kind, container in (
                ("plain", None),
                ("docker", {"type": "DOCKER", "docker": {"image": IMAGE}}),
            ):
                before = _cpu_seconds(state.agents[0].pid) or {}
                result[kind] = asyncio.run(measure(state.master.address, count, container))
                after = _cpu_seconds(state.agents[0].pid) or {}
                result[kind]["agent_cpu_seconds"] = {
                    k: round(after.get(k, 0) - before.get(k, 0), 2) for k in after
                }
        finally:
            localcluster.stop_cluster(state, grace=30)
            remove_ours()
    result["machine"] = machine()
    result["reference_loop_ms"] = reference_loop_ms()
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run_once(args.tasks)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for kind in ("plain", "docker"):
            r = result[kind]
            print(
                f"{kind:6}: {r['finished']}/{r['tasks']} finished in {r['wall_seconds']}s; "
                f"launch -> TASK_FINISHED acknowledged p50 {r['latency_p50_ms']} ms, "
                f"p99 {r['latency_p99_ms']} ms; agent CPU {r['agent_cpu_seconds']}"
                + (f"; failed {r['failures']}" if r["failed"] else "")
            )
        m = result["machine"]
        print(
            f"load average {result['load_average']}; reference loop "
            f"{result['reference_loop_ms']} ms; {m['nproc']} x {m['cpu']}, Python {m['python']}"
        )
    return 1 if any(result[k]["failed"] for k in ("plain", "docker")) else 0


if __name__ == "__main__":
    sys.exit(main())
