"""Marathon at scale on one real agent: scale one app from 0 to N instances (trivial
`sleep` tasks, no health check) until all run, then a rolling restart of M instances until
every one is replaced; Marathon's CPU per launched instance for each.

    .venv/bin/python -m bench.marathon_scale [--instances 500] [--restart 100] [--json]

A real master, agent and Marathon from `infinity cluster up`'s code, driven over
Marathon's REST API as a user would. The load average is printed: the machine may be
shared, read the figures with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mesos_runtime.cli import localcluster

from .task_throughput import _cpu_seconds, machine, reference_loop_ms

APP = "/bench-sleep"


def _call(base: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


def _cpu(pid: int) -> float:
    used = _cpu_seconds(pid) or {}
    return used.get("user", 0.0) + used.get("system", 0.0)


def _wait(base: str, done: Any, timeout: float, embed: str = "app.counts") -> float:
    """Poll the app (counts only unless told: listing 500 tasks would cost Marathon CPU)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        query = f"embed={embed}&embed=app.deployments"
        app = _call(base, "GET", f"/v2/apps{APP}?{query}")["app"]
        if done(app):
            return time.monotonic() - start
        time.sleep(0.1)
    raise TimeoutError(f"not done within {timeout:.0f}s")


def measure(
    base: str, marathon_pid: int, instances: int, restart: int, timeout: float
) -> dict[str, Any]:
    result: dict[str, Any] = {"instances": instances, "restart": restart}
    _call(
        base,
        "POST",
        "/v2/apps",
        {
            "id": APP,
            "cmd": "sleep 3600",
            "cpus": 0.01,
            "mem": 8,
            "instances": 0,
            "portDefinitions": [],
        },
    )
    _wait(base, lambda a: not a["deployments"], timeout)

    cpu = _cpu(marathon_pid)
    _call(base, "PUT", f"/v2/apps{APP}", {"instances": instances})
    seconds = _wait(
        base,
        lambda a: a["tasksRunning"] == instances and not a["deployments"],
        timeout,
    )
    used = _cpu(marathon_pid) - cpu
    result["scale_seconds"] = round(seconds, 2)
    result["scale_instances_per_second"] = round(instances / seconds, 1)
    result["scale_marathon_cpu_ms_per_instance"] = round(used * 1000 / instances, 2)

    if restart:
        _call(base, "PUT", f"/v2/apps{APP}?force=true", {"instances": restart})
        _wait(base, lambda a: a["tasksRunning"] == restart and not a["deployments"], timeout)
        old = {t["id"] for t in _call(base, "GET", f"/v2/apps{APP}/tasks")["tasks"]}
        cpu = _cpu(marathon_pid)
        _call(base, "POST", f"/v2/apps{APP}/restart")
        seconds = _wait(
            base,
            lambda a: (
                not a["deployments"]
                and len(a["tasks"]) == restart
                and not old & {t["id"] for t in a["tasks"]}
            ),
            timeout,
            embed="app.tasks",
        )
        used = _cpu(marathon_pid) - cpu
        result["restart_seconds"] = round(seconds, 2)
        result["restart_marathon_cpu_ms_per_instance"] = round(used * 1000 / restart, 2)
    _call(base, "DELETE", f"/v2/apps{APP}?force=true")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--restart", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--agent-resources", default="cpus:64;mem:65536;disk:65536;ports:[31000-32000]"
    )
    parser.add_argument("--max-instances-per-offer", type=int, default=100)
    parser.add_argument("--tmp-dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile Marathon into DIR")
    args = parser.parse_args(argv)

    def interpreter(kind: str, work_dir: Path) -> list[str]:
        if args.profile is None or kind != "marathon":
            return [sys.executable]
        args.profile.mkdir(parents=True, exist_ok=True)
        return [sys.executable, "-m", "cProfile", "-o", str(args.profile / "marathon.prof")]

    with tempfile.TemporaryDirectory(prefix="bench-marathon-", dir=args.tmp_dir) as tmp:
        state = localcluster.start_cluster(
            Path(tmp),
            agents=1,
            port=localcluster.free_port(),
            agent_resources=args.agent_resources,
            marathon=True,
            marathon_port=localcluster.free_port(),
            marathon_flags=[f"--max_instances_per_offer={args.max_instances_per_offer}"],
            interpreter=interpreter,
        )
        try:
            assert state.marathon is not None
            base = state.marathon.url
            deadline = time.monotonic() + 30
            while not _call(base, "GET", "/v2/info").get("frameworkId"):
                if time.monotonic() > deadline:
                    raise TimeoutError("Marathon did not subscribe")
                time.sleep(0.1)
            result = measure(base, state.marathon.pid, args.instances, args.restart, args.timeout)
            result["cpu_seconds"] = {
                "marathon": _cpu_seconds(state.marathon.pid),
                "master": _cpu_seconds(state.master.pid),
                "agent": _cpu_seconds(state.agents[0].pid),
            }
        finally:
            localcluster.stop_cluster(state, grace=30)
    result["machine"] = machine()
    result["reference_loop_ms"] = reference_loop_ms()
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    m = result["machine"]
    print(
        f"scale 0 -> {args.instances}: all running in {result['scale_seconds']}s "
        f"({result['scale_instances_per_second']}/s), Marathon CPU "
        f"{result['scale_marathon_cpu_ms_per_instance']} ms per launched instance"
    )
    if args.restart:
        print(
            f"rolling restart of {args.restart}: all replaced in {result['restart_seconds']}s, "
            f"Marathon CPU {result['restart_marathon_cpu_ms_per_instance']} ms per instance"
        )
    print(f"CPU seconds (user+system so far): {result['cpu_seconds']}")
    print(
        f"machine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}; reference loop "
        f"{result['reference_loop_ms']} ms; load average {result['load_average']}"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (TimeoutError, urllib.error.URLError, localcluster.ClusterError) as e:
        print(f"benchmark failed: {e}", file=sys.stderr)
        sys.exit(1)
