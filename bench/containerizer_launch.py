"""The containerizer alone: N containers (`sh -c true`, cpus 0.01, mem 8) prepared,
started, waited for and destroyed, `--parallel` at a time, through the launcher (`spawn`)
or through the old `sh` wrapper (`launch`), in the order given; no master or framework.

    .venv/bin/python -m bench.containerizer_launch [--tasks 1000] [--parallel 16]
        [--tmp-dir /mnt/benchfs] [--isolation cgroups/cpu,cgroups/mem] [launcher wrapper ...]

It prints, per round, the rate, the CPU this process (the agent's side) used per task,
the CPU of the reaped children (the wrapper and its command), and at the end the CPU of
the launcher and of its children (the commands) over all launcher rounds. Run it as root
for cgroups; the cgroup root is `bench-launch-<pid>`, removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from mesos_runtime.agent.containerizer import Containerizer, command_argv
from mesos_runtime.agent.isolation import CgroupsIsolator, create_isolator
from mesos_runtime.wire.mesos import CommandInfo
from mesos_runtime.wire.resources import Resources

RESOURCES = Resources.parse("cpus:0.01;mem:8")


async def one_round(c: Containerizer, work: Path, name: str, count: int, parallel: int) -> None:
    gate = asyncio.Semaphore(parallel)
    argv = command_argv(CommandInfo(value="true"))

    async def one(i: int) -> None:
        async with gate:
            state = c.prepare(f"{name}-{i}", RESOURCES)
            sandbox = work / f"{name}-{i}"
            sandbox.mkdir()
            options = {
                "env": {"PATH": "/usr/bin:/bin"},
                "workdir": sandbox,
                "sandbox": sandbox,
                "status_file": sandbox / "status",
            }
            if name.startswith("wrapper"):
                process = c.launch(state, argv, **options)  # type: ignore[arg-type]
            else:
                process = await c.spawn(state, argv, **options)  # type: ignore[arg-type]
            status = await process.wait()
            if not status.success:
                raise RuntimeError(f"{name}-{i}: {status.describe()}")
            await c.destroy(state)

    await asyncio.gather(*(one(i) for i in range(count)))


def _cpu(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


async def main_async(args: argparse.Namespace) -> None:
    root = f"bench-launch-{os.getpid()}"
    isolator = create_isolator(args.isolation, root)
    c = Containerizer(isolator)
    print(
        f"isolation {isolator.kind}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-launch-", dir=args.tmp_dir) as tmp:
        try:
            for index, mode in enumerate(args.modes):
                children = resource.getrusage(resource.RUSAGE_CHILDREN)
                started, cpu = time.perf_counter(), time.process_time()
                await one_round(c, Path(tmp), f"{mode}{index}", args.tasks, args.parallel)
                wall = time.perf_counter() - started
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                reaped = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
                print(
                    f"{mode}: {args.tasks / wall:.0f} containers/s, agent side "
                    f"{(time.process_time() - cpu) * 1000 / args.tasks:.2f} ms CPU each, "
                    f"reaped children {reaped * 1000 / args.tasks:.2f} ms each",
                    flush=True,
                )
            if c.launcher.pid is not None:
                rounds = args.tasks * sum(1 for m in args.modes if m == "launcher")
                own, kids = _cpu(c.launcher.pid)
                print(
                    f"launcher: {own * 1000 / rounds:.2f} ms CPU per container itself, "
                    f"{kids * 1000 / rounds:.2f} ms in its children (the commands)"
                )
        finally:
            c.launcher.close()
            if isinstance(isolator, CgroupsIsolator):
                for cgroup_root in (isolator.cpu_root, isolator.memory_root):
                    if cgroup_root is not None:
                        cgroup_root.rmdir()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--tmp-dir", help="where the sandboxes go (a journaled filesystem)")
    parser.add_argument("--isolation", help="the agent's --isolation (default: its own)")
    parser.add_argument(
        "modes",
        nargs="*",
        default=["wrapper", "launcher", "wrapper", "launcher"],
        choices=["wrapper", "launcher"],
        help="rounds, in order",
    )
    asyncio.run(main_async(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
