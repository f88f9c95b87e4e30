"""Allocation cycle time of the DRF allocator driven directly in one process (no HTTP),
on the grid Mesos' own allocator benchmarks use: 1k/10k agents x 100/1,000 frameworks.

Run: `.venv/bin/python -m bench.allocator [--quick]`.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from mesos_runtime.master.allocator import Allocation, Allocator
from mesos_runtime.wire.resources import Resources

AGENT_RESOURCES = "cpus:16;mem:65536;disk:1000000;ports:[31000-32000]"
ROLES = 10
GRID = [(1_000, 100), (1_000, 1_000), (10_000, 100), (10_000, 1_000)]


@dataclass
class Point:
    agents: int
    frameworks: int
    available: list[float]  # seconds per full cycle, every resource available
    filtered_first: float  # first cycle after every framework declined every agent
    filtered_full: list[float]  # every framework re-subscribed: every filter re-checked
    filtered_one: list[float]  # one framework re-activated: only it is re-checked
    filtered_steady: list[float]  # nothing changed since the last cycle


def build(agents: int, frameworks: int) -> Allocator:
    allocator = Allocator(seed=0)
    for i in range(frameworks):
        allocator.add_framework(f"framework-{i}", [f"role-{i % ROLES}"])
    for i in range(agents):
        allocator.add_agent(f"agent-{i}", Resources.parse(AGENT_RESOURCES))
    return allocator


def timed(cycle: Callable[[], list[Allocation]]) -> tuple[float, list[Allocation]]:
    start = time.perf_counter()
    allocations = cycle()
    return time.perf_counter() - start, allocations


def recover_all(allocator: Allocator, allocations: list[Allocation]) -> None:
    for a in allocations:
        allocator.recover(a.agent_id, a.framework_id, a.resources)


def run_point(agents: int, frameworks: int, cycles: int) -> Point:
    allocator = build(agents, frameworks)
    gc.collect()
    gc.freeze()  # setup garbage is not what a cycle should pay for (the master does the same)

    # Every resource available: recover everything (untimed), time the next full cycle.
    _, allocations = timed(allocator.allocate)  # warm-up: the first cycle fills caches
    assert len(allocations) == agents, "every agent is offered in a full cycle"
    available = []
    for _ in range(cycles):
        recover_all(allocator, allocations)
        seconds, allocations = timed(allocator.allocate)
        assert len(allocations) == agents
        available.append(seconds)
    recover_all(allocator, allocations)

    # Every framework declines every agent with a long filter, handing back what it was
    # offered (an idle agent's offer to a role is one object shared by its shape).
    offered = {a.role: a.resources for a in allocations}
    recover_all(allocator, allocations)
    assert len(offered) == ROLES
    for i in range(agents):
        for j in range(frameworks):
            allocator.recover(
                f"agent-{i}", f"framework-{j}", offered[f"role-{j % ROLES}"], refuse_seconds=1e9
            )
    gc.collect()
    gc.freeze()
    filtered_first, allocations = timed(allocator.allocate)
    assert not allocations
    full, one, steady = [], [], []
    for _ in range(3 if agents * frameworks > 1_000_000 else 5):
        for j in range(frameworks):  # a master failover: every framework re-subscribes
            allocator.activate_framework(f"framework-{j}")
        seconds, allocations = timed(allocator.allocate)
        assert not allocations
        full.append(seconds)
        allocator.activate_framework("framework-0")
        seconds, allocations = timed(allocator.allocate)
        assert not allocations
        one.append(seconds)
        seconds, allocations = timed(allocator.allocate)
        steady.append(seconds)
    gc.unfreeze()
    return Point(agents, frameworks, available, filtered_first, full, one, steady)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def machine() -> str:
    model = "unknown cpu"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"nproc={os.cpu_count()}  cpu={model}  "
        f"python={platform.python_version()} ({platform.python_implementation()})  "
        f"{load()}"
    )


def load() -> str:
    """Other work on the machine slows every figure: say how busy it was."""
    one, five, _ = os.getloadavg()
    return f"loadavg={one:.2f}/{five:.2f}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="only 1k agents x 100 frameworks")
    parser.add_argument("--cycles", type=int, default=0, help="timed cycles per grid point")
    parser.add_argument(
        "--point",
        action="append",
        default=[],
        metavar="AGENTSxFRAMEWORKS",
        help="run only this grid point, e.g. 10000x100 (repeatable)",
    )
    args = parser.parse_args()
    grid = GRID[:1] if args.quick else GRID
    if args.point:
        grid = [(int(a), int(f)) for a, f in (p.lower().split("x") for p in args.point)]
    print(machine())
    print(f"agent: {AGENT_RESOURCES}; frameworks spread over {ROLES} roles; times in ms")
    header = (
        f"{'agents':>7} {'fwks':>6} | {'avail p50':>9} {'avail p99':>9} | "
        f"{'filt 1st':>9} {'full p50':>9} {'full p99':>9} {'one p50':>9} {'steady':>9}"
    )
    print(header)
    print("-" * len(header))
    for agents, frameworks in grid:
        cycles = args.cycles or (30 if agents <= 1_000 else 15)
        p = run_point(agents, frameworks, cycles)
        print(
            f"{p.agents:>7} {p.frameworks:>6} | {ms(statistics.median(p.available))} "
            f"{ms(percentile(p.available, 0.99))} | {ms(p.filtered_first)} "
            f"{ms(statistics.median(p.filtered_full))} {ms(percentile(p.filtered_full, 0.99))} "
            f"{ms(statistics.median(p.filtered_one))} {ms(statistics.median(p.filtered_steady))}",
            flush=True,
        )
    print(f"at the end: {load()}")


if __name__ == "__main__":
    main()
