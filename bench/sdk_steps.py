"""The service SDK's own overhead per plan step, beside the task's own start time.

A real master, three agents and the service scheduler deploy one pod type of N instances
through a serial deploy plan (each step: RESERVE + CREATE a volume + LAUNCH one
`python3 -m http.server` task with a readiness check). From the scheduler's step timings
(`/v1/debug/steps`):

- SDK before launch: step start → its ACCEPT sent (offer wait + evaluation);
- task start: ACCEPT → TASK_RUNNING (the master, the agent, the command executor);
- readiness: TASK_RUNNING → the check passed on the agent (the task's own readiness);
- SDK after ready: the check passed on the agent → the next step's start (this includes
  the status update's way agent → master → scheduler).

    .venv/bin/python -m bench.sdk_steps [--steps 10] [--json]

SDK overhead per step = the first plus the last. The load average is printed: the machine
may be shared, read the figures with it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.sdk.service import Scheduler, start_cluster

from .task_throughput import machine, reference_loop_ms


def bench_spec(steps: int) -> str:
    return f"""
name: bench
pods:
  web:
    count: {steps}
    volume: {{path: data, type: ROOT, size: 1}}
    tasks:
      server:
        goal: RUNNING
        cpus: 0.05
        memory: 32
        ports:
          http: {{port: 0}}
        cmd: cd data && exec python3 -m http.server "$PORT_HTTP" --bind 127.0.0.1
        readiness-check:
          cmd: python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT_HTTP/')"
          interval: 0.2
          timeout: 5
"""


def _summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.fmean(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
    }


def run(steps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-sdk-") as tmp:
        root = Path(tmp)
        cluster = start_cluster(root)
        scheduler = Scheduler(cluster, "bench", root / "store", bench_spec(steps))
        try:
            began = time.time()
            scheduler.start()
            scheduler.wait_complete(timeout=60 + 10 * steps)
            total = time.time() - began
            timings = scheduler.get("/v1/debug/steps")
        finally:
            scheduler.stop()
            cluster.stop()
    order = [f"web-{i}:[server]" for i in range(steps)]
    rows = [timings[name] for name in order]
    before = [r["launched"] - r["start"] for r in rows]
    task_start = [r["started"] - r["launched"] for r in rows]
    readiness = [r.get("ready", r["complete"]) - r["started"] for r in rows]
    after = [
        rows[i + 1]["start"] - rows[i].get("ready", rows[i]["complete"]) for i in range(steps - 1)
    ]
    overhead = [b + a for b, a in zip(before, [*after, 0.0], strict=True)]
    return {
        "steps": steps,
        "deploy_seconds": round(total, 2),
        "sdk_before_launch": _summary(before),
        "sdk_after_ready": _summary(after or [0.0]),
        "sdk_overhead_per_step": _summary(overhead),
        "task_start": _summary(task_start),
        "task_readiness": _summary(readiness),
        "machine": machine(),
        "load": os.getloadavg(),
        "reference_loop_ms": reference_loop_ms(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error("--steps: at least 2 (the overhead between steps needs two)")
    result = run(args.steps)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.steps} serial steps deployed in {result['deploy_seconds']} s")
    for key in (
        "sdk_before_launch",
        "sdk_after_ready",
        "sdk_overhead_per_step",
        "task_start",
        "task_readiness",
    ):
        s = result[key]
        print(
            f"  {key:24} mean {s['mean']:.3f} s  median {s['median']:.3f} s  max {s['max']:.3f} s"
        )
    load = ", ".join(f"{v:.2f}" for v in result["load"])
    print(f"  load {load}; reference loop {result['reference_loop_ms']} ms; {result['machine']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
