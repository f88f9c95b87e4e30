"""Failover time: 3 masters, 50 agents and a few frameworks on a real 3-node ZooKeeper
quorum (loopback). SIGKILL the leader; time until a new leader serves, every framework has
re-subscribed (same id) and every agent has re-registered. Repeats, prints p50/max.

    .venv/bin/python -m bench.failover [--agents 50] [--frameworks 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mesos_runtime.scheduler import Framework, SchedulerClient, run
from mesos_runtime.wire.mesos import FrameworkInfo
from tests.harness import daemons, zookeeper


class Counting(Framework):
    """Declines everything; counts its subscriptions."""

    def __init__(self) -> None:
        super().__init__()
        self.subscribed_at: list[float] = []

    async def subscribed(self, client, subscribed) -> None:
        self.subscribed_at.append(time.monotonic())


def _elected(master: daemons.Daemon) -> bool:
    try:
        return daemons.http_json(master.url + "/metrics/snapshot", timeout=2)["master/elected"] == 1
    except Exception:  # noqa: BLE001 - dead or standby
        return False


def _leader(masters: list[daemons.Daemon]) -> daemons.Daemon | None:
    leading = [m for m in masters if m.process and m.process.poll() is None and _elected(m)]
    return leading[0] if len(leading) == 1 else None


def _connected_agents(master: daemons.Daemon) -> int:
    state = daemons.http_json(master.url + "/master/state", timeout=5)
    return sum(1 for a in state["slaves"] if a.get("active", True))


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


async def bench(args: argparse.Namespace, work: Path) -> list[float]:
    quorum = await asyncio.to_thread(zookeeper.start_quorum, work / "zookeeper")
    url = quorum.zk_url(f"/mesos-bench-{uuid.uuid4().hex[:8]}")
    masters: list[daemons.Daemon] = []
    agents: list[daemons.Daemon] = []
    clients: list[SchedulerClient] = []
    loops: list[asyncio.Task[None]] = []
    frameworks: list[Counting] = []

    def new_master(i: int) -> daemons.Daemon:
        return daemons.master(
            work / f"m{i}",
            f"--zk={url}",
            "--quorum=2",
            f"--zk_session_timeout={args.session_timeout}secs",
            "--log_dir=" + str(work / f"m{i}"),
            "--logging_level=WARNING",
        )

    def start_all(ds: list[daemons.Daemon]) -> None:
        with ThreadPoolExecutor(16) as pool:
            for f in [pool.submit(d.start, 120) for d in ds]:
                f.result()

    try:
        masters = [new_master(i) for i in range(3)]
        await asyncio.to_thread(start_all, masters)
        agents = [
            daemons.agent(
                work / f"a{i}",
                url,
                "--resources=cpus:1;mem:512",
                "--registration_backoff_factor=100ms",
            )
            for i in range(args.agents)
        ]
        await asyncio.to_thread(start_all, agents)
        for i in range(args.frameworks):
            fw = Counting()
            client = SchedulerClient(
                url,
                FrameworkInfo(user="root", name=f"bench-{i}", failover_timeout=600),
                subscribe_timeout=120,
            )
            frameworks.append(fw)
            clients.append(client)
            loops.append(asyncio.create_task(run(client, fw, backoff_max=0.5)))
        results = []
        for round_no in range(args.rounds):
            leader = await asyncio.to_thread(
                daemons.wait_until, lambda: _leader(masters), 120, message="a leader"
            )
            await asyncio.to_thread(
                daemons.wait_until,
                lambda leader=leader: (
                    _connected_agents(leader) == args.agents
                    and all(fw.subscribed_at for fw in frameworks)
                ),
                180,
                message="all agents and frameworks on the leader",
            )
            before = [len(fw.subscribed_at) for fw in frameworks]
            start = time.monotonic()
            leader.kill()
            new = await asyncio.to_thread(
                daemons.wait_until, lambda: _leader(masters), 120, 0.02, "a new leader"
            )
            served = time.monotonic() - start
            await asyncio.to_thread(
                daemons.wait_until,
                lambda before=before: all(
                    len(f.subscribed_at) > b for f, b in zip(frameworks, before, strict=True)
                ),
                180,
                0.05,
                "frameworks re-subscribed",
            )
            frameworks_back = time.monotonic() - start
            await asyncio.to_thread(
                daemons.wait_until,
                lambda new=new: _connected_agents(new) == args.agents,
                180,
                0.05,
                "agents re-registered",
            )
            total = time.monotonic() - start
            results.append(total)
            print(
                f"round {round_no + 1}: new leader serving {served:.2f}s, frameworks "
                f"re-subscribed {frameworks_back:.2f}s, all agents back {total:.2f}s"
            )
            # the killed master comes back as a standby (as its supervisor would restart it)
            index = masters.index(leader)
            masters[index] = new_master(index + 10)
            await asyncio.to_thread(masters[index].start, 120)
        return results
    finally:
        for fw in frameworks:
            fw.stop()
        await asyncio.gather(*loops, return_exceptions=True)
        for c in clients:
            await c.close()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda d: d.stop(), [*agents, *masters]))
        quorum.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--frameworks", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--session-timeout", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as tmp:
        results = asyncio.run(bench(args, Path(tmp)))
    load = os.getloadavg()
    print(
        f"failover (leader SIGKILL -> leader serving, {args.frameworks} frameworks "
        f"re-subscribed, {args.agents} agents re-registered), {len(results)} rounds: "
        f"p50 {statistics.median(results):.2f}s max {max(results):.2f}s; "
        f"--zk_session_timeout={args.session_timeout:g}s (target <= "
        f"{args.session_timeout + 1:g}s); nproc {os.cpu_count()}, {_cpu_model()}, "
        f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


if __name__ == "__main__":
    main()
