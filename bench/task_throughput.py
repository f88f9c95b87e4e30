"""Task throughput on one real agent: N trivial tasks (`true`, cpus 0.01, mem 8) launched
by a framework on the scheduler library as offers allow, from submit until every
TASK_FINISHED is acknowledged.

    .venv/bin/python -m bench.task_throughput [--tasks 1000] [--isolation posix/cpu,posix/mem]
        [--tmp-dir /dev/shm] [--rounds N] [--profile DIR] [--json]

It prints the CPU time the master, the agent and the framework used, and the load average
(the machine may be shared: note it with the figures). In the same run it measures the
floor: the same N tasks (`sh -c true`) spawned directly, each in its own session with a
sandbox directory and captured stdout/stderr, 16 at a time, and prints the agent's rate as
a fraction of it (`--no-floor` skips it).

`--profile DIR` runs the master and the agent under cProfile and prints where their time
went (the profiles stay in DIR/<daemon>.prof for `python -m pstats`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mesos_runtime.cli import localcluster
from mesos_runtime.scheduler import Framework, SchedulerClient, command_task, run, task_resources
from mesos_runtime.wire.mesos import FrameworkInfo, Offer, TaskInfo, TaskState, TaskStatus
from mesos_runtime.wire.resources import Resources
from mesos_runtime.wire.scheduler import Subscribed

TASK_CPUS = 0.01
TASK_MEM = 8.0


class Throughput(Framework):
    """Launches every pending task that fits each offer; acknowledges updates itself so the
    finish time is taken when the TASK_FINISHED acknowledgement has been accepted."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.pending: deque[str] = deque(f"bench-{i:05d}" for i in range(count))
        self.count = count
        self.launched_at: dict[str, float] = {}
        self.finished_at: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self.first_launch = 0.0
        self.offers_seen = 0
        self._acks: set[asyncio.Task[None]] = set()

    async def subscribed(self, client: SchedulerClient, subscribed: Subscribed) -> None:
        pass

    async def offers(self, client: SchedulerClient, offers: list[Offer]) -> None:
        self.offers_seen += len(offers)
        for offer in offers:
            need = task_resources(offer, cpus=TASK_CPUS, mem=TASK_MEM)
            available = Resources.from_wire(offer.resources)
            tasks = []
            while self.pending and available.contains(need):
                available = available - need
                tasks.append(self.task(offer, self.pending.popleft(), need))
            if not tasks:
                await client.decline([offer.id], 0.2 if self.pending else 60)
                continue
            now = time.perf_counter()
            self.first_launch = self.first_launch or now
            for task in tasks:
                self.launched_at[task.task_id.value] = now
            await client.launch([offer.id], tasks, filters=0.0)

    def task(self, offer: Offer, task_id: str, need: Resources) -> TaskInfo:
        """One trivial task (`true`) on `offer`."""
        return command_task(offer, "true", task_id=task_id, resources=need)

    async def update(self, client: SchedulerClient, status: TaskStatus) -> None:
        if status.uuid is None:
            return
        ack = asyncio.create_task(self._acknowledge(client, status))
        self._acks.add(ack)
        ack.add_done_callback(self._acks.discard)

    async def _acknowledge(self, client: SchedulerClient, status: TaskStatus) -> None:
        await client.acknowledge(status)
        task_id = status.task_id.value
        if not status.state.is_terminal:
            return
        if status.state is TaskState.TASK_FINISHED:
            self.finished_at[task_id] = time.perf_counter()
        else:
            self.failed[task_id] = f"{status.state.value}: {status.message or ''}"
        if len(self.finished_at) + len(self.failed) >= self.count:
            self.stop()


async def measure(master: str, count: int, timeout: float) -> dict[str, Any]:
    framework = Throughput(count)
    info = FrameworkInfo(user="root", name="bench-task-throughput")
    async with SchedulerClient(master, info) as client:
        submitted = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                await run(client, framework, auto_acknowledge=False, teardown=True)
        except TimeoutError:
            pass
        done = time.perf_counter()
    latencies = sorted(
        framework.finished_at[t] - framework.launched_at[t] for t in framework.finished_at
    )
    finished = len(framework.finished_at)
    wall = (max(framework.finished_at.values()) if finished else done) - submitted
    return {
        "tasks": count,
        "finished": finished,
        "failed": len(framework.failed),
        "failures": dict(list(framework.failed.items())[:5]),
        "timed_out": finished + len(framework.failed) < count,
        "wall_seconds": round(wall, 3),
        "tasks_per_second": round(finished / wall, 1) if wall > 0 else 0.0,
        "latency_p50_ms": round(_percentile(latencies, 50) * 1000, 1),
        "latency_p99_ms": round(_percentile(latencies, 99) * 1000, 1),
        "offers": framework.offers_seen,
    }


FLOOR_PARALLEL = 16


def floor(count: int, work_dir: Path, parallel: int = FLOOR_PARALLEL) -> dict[str, Any]:
    """What launching costs without a cluster: `count` sandboxed `sh -c true`, `parallel`
    at a time, spawned and reaped by this process (no agent, master or framework)."""
    env = {"PATH": "/usr/bin:/bin"}
    running: set[int] = set()
    children_cpu = 0.0

    def reap_one() -> None:
        nonlocal children_cpu
        pid, _, usage = os.wait4(-1, 0)
        if pid in running:  # (not a daemon of the cluster that ran before)
            running.discard(pid)
            children_cpu += usage.ru_utime + usage.ru_stime

    started = time.perf_counter()
    own_cpu = time.process_time()
    for i in range(count):
        if len(running) >= parallel:
            reap_one()
        sandbox = work_dir / f"floor-{i:05d}"
        sandbox.mkdir()
        pid = os.posix_spawn(
            "/bin/sh",
            ["sh", "-c", "true"],
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(sandbox / "stdout"), os.O_WRONLY | os.O_CREAT, 0o644),
                (os.POSIX_SPAWN_OPEN, 2, str(sandbox / "stderr"), os.O_WRONLY | os.O_CREAT, 0o644),
            ],
            setsid=True,
        )
        running.add(pid)
    while running:
        reap_one()
    wall = time.perf_counter() - started
    cpu = time.process_time() - own_cpu + children_cpu
    return {
        "tasks": count,
        "parallel": parallel,
        "wall_seconds": round(wall, 3),
        "tasks_per_second": round(count / wall, 1),
        "cpu_ms_per_task": round(cpu * 1000 / count, 2),
    }


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _cpu_seconds(pid: int) -> dict[str, float] | None:
    """User and system CPU a daemon has used so far (including start-up)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return {
        "user": round(int(fields[11]) / tick, 2),
        "system": round(int(fields[12]) / tick, 2),
        # the task processes (wrapper shell and command) the daemon has reaped
        "children": round((int(fields[13]) + int(fields[14])) / tick, 2),
    }


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def reference_loop_ms() -> float:
    """How fast this machine runs Python right now: the best of three runs of a fixed
    loop. Shared VMs drift (here by up to 2x within an hour); a figure is read with this."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        sum(range(5_000_000))
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 1)


def _percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1]


def _profile_summary(path: Path, top: int = 25) -> str:
    if not path.exists():
        return f"(no profile at {path}: the daemon did not exit cleanly)"
    stats = pstats.Stats(str(path))
    lines: list[str] = []
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (filename, line, func), (_cc, _nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((ct, tt, f"{_short(filename)}:{line}({func})"))
    lines.append(f"total {total:.2f}s CPU in profiled code; by cumulative time:")
    for ct, tt, where in sorted(rows, reverse=True)[:top]:
        lines.append(f"  {ct:8.3f}s cum {tt:8.3f}s self  {where}")
    by_module: dict[str, float] = {}
    for (filename, _line, _func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        by_module[_short(filename)] = by_module.get(_short(filename), 0.0) + tt
    lines.append("self time by module:")
    for module, tt in sorted(by_module.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {tt:8.3f}s  {module}")
    return "\n".join(lines)


def _short(filename: str) -> str:
    for marker in ("site-packages/", "mesos_runtime/", "lib/python3"):
        if marker in filename:
            head = "mesos_runtime/" if marker == "mesos_runtime/" else ""
            return head + filename.split(marker, 1)[1]
    return filename


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--agent-resources", default="cpus:4;mem:4096;disk:1024")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--isolation",
        help="the agent's --isolation (posix/cpu,posix/mem or cgroups/cpu,cgroups/mem); "
        "default: the agent's own (cgroups where writable)",
    )
    parser.add_argument(
        "--tmp-dir",
        help="where the daemons' work dirs go (default: the system's; e.g. /dev/shm to take "
        "the disk out of the measurement)",
    )
    parser.add_argument("--profile", type=Path, help="profile the daemons into this directory")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure this many times, each on a new cluster"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the direct-spawn floor measurement"
    )
    args = parser.parse_args(argv)

    if args.profile:
        args.profile = args.profile.absolute()
        args.profile.mkdir(parents=True, exist_ok=True)
    results = []
    for round_ in range(args.rounds):
        result = run_once(args)
        results.append(result)
        if args.json:
            continue
        if args.rounds > 1:
            print(f"-- round {round_ + 1}/{args.rounds}")
        _print(result)
    if args.json:
        print(json.dumps(results if args.rounds > 1 else results[0], indent=2))
    elif args.rounds > 1:
        rates = [r["tasks_per_second"] for r in results]
        print(
            f"-- {args.rounds} rounds: median {statistics.median(rates)} tasks/s "
            f"(min {min(rates)}, max {max(rates)})"
        )
        ratios = [r["floor"]["ratio"] for r in results if r.get("floor")]
        if ratios:
            floors = [r["floor"]["tasks_per_second"] for r in results]
            print(
                f"-- floor: median {statistics.median(floors)} tasks/s; the agent reaches "
                f"a median {statistics.median(ratios):.2f} of it"
            )
    if args.profile:
        for kind in ("master", "agent"):
            print(f"\n== {kind} profile ({args.profile / (kind + '.prof')})")
            print(_profile_summary(args.profile / f"{kind}.prof"))
    return 1 if any(r["timed_out"] or r["failed"] for r in results) else 0


def _start_cluster(
    tmp: Path, port: int, args: argparse.Namespace, interpreter: Any
) -> localcluster.ClusterState:
    # on a loaded machine a daemon is now and then taken for dead during its start-up
    # (localcluster's liveness probe); a fresh cluster in a fresh directory then works
    for attempt in range(3):
        try:
            return localcluster.start_cluster(
                tmp / f"cluster-{attempt}",
                agents=1,
                port=port,
                agent_resources=args.agent_resources,
                agent_flags=[f"--isolation={args.isolation}"] if args.isolation else [],
                interpreter=interpreter,
            )
        except localcluster.ClusterError as e:
            if attempt == 2:
                raise
            print(f"(cluster start failed, retrying: {str(e).splitlines()[0]})", file=sys.stderr)
            port = localcluster.free_port()
    raise AssertionError("unreachable")


def run_once(args: argparse.Namespace) -> dict[str, Any]:
    """One measurement on a fresh master and agent (their work dirs removed afterwards)."""

    def interpreter(kind: str, work_dir: Path) -> list[str]:
        if args.profile is None:
            return [sys.executable]
        return [sys.executable, "-m", "cProfile", "-o", str(args.profile / f"{kind}.prof")]

    with tempfile.TemporaryDirectory(prefix="bench-throughput-", dir=args.tmp_dir) as tmp:
        port = localcluster.free_port()
        state = _start_cluster(Path(tmp), port, args, interpreter)
        try:
            cpu_before = time.process_time()
            result = asyncio.run(measure(state.master.address, args.tasks, args.timeout))
            result["cpu_seconds"] = {
                "master": _cpu_seconds(state.master.pid),
                "agent": _cpu_seconds(state.agents[0].pid),
                "framework": {"total": round(time.process_time() - cpu_before, 2)},
            }
            # the agent's launcher process (the parent of its tasks), while it still runs
            for child in _children(state.agents[0].pid):
                result["cpu_seconds"]["launcher"] = _cpu_seconds(child)
        finally:
            localcluster.stop_cluster(state, grace=30)
        if not args.no_floor:
            floor_dir = Path(tmp) / "floor"
            floor_dir.mkdir()
            result["floor"] = floor(args.tasks, floor_dir)
            rate = result["floor"]["tasks_per_second"]
            result["floor"]["ratio"] = round(result["tasks_per_second"] / rate, 3) if rate else 0.0
    result["machine"] = machine()
    result["reference_loop_ms"] = reference_loop_ms()
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return result


def _print(result: dict[str, Any]) -> None:
    m = result["machine"]
    print(
        f"{result['finished']}/{result['tasks']} tasks finished and acknowledged in "
        f"{result['wall_seconds']}s: {result['tasks_per_second']} tasks/s"
    )
    print(
        f"launch -> TASK_FINISHED acknowledged: p50 {result['latency_p50_ms']} ms, "
        f"p99 {result['latency_p99_ms']} ms ({result['offers']} offers)"
    )
    cpu = result.get("cpu_seconds", {})
    print(
        "CPU seconds: "
        + ", ".join(
            f"{k} " + "/".join(f"{n} {s}" for n, s in (v or {}).items()) for k, v in cpu.items()
        )
    )
    print(
        f"load average: {' '.join(f'{x:.2f}' for x in result['load_average'])}; "
        f"reference loop {result['reference_loop_ms']} ms (machine speed now, lower is faster)"
    )
    if result.get("floor"):
        f = result["floor"]
        print(
            f"floor (same {f['tasks']} sandboxed tasks spawned directly, {f['parallel']} at a "
            f"time): {f['tasks_per_second']} tasks/s, {f['cpu_ms_per_task']} ms CPU per task; "
            f"the agent reaches {f['ratio']:.2f} of it"
        )
    if result["failed"]:
        print(f"{result['failed']} tasks failed, e.g. {result['failures']}")
    print(f"machine: {m['nproc']} x {m['cpu']}, Python {m['python']}, {m['platform']}")


if __name__ == "__main__":
    sys.exit(main())
