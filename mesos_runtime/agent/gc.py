"""Garbage collection of finished sandboxes and checkpoints, as Mesos' agent does it.

A path is scheduled when what it holds has ended, and removed `--gc_delay` after its last
modification; every `--disk_watch_interval` the agent prunes sooner when the disk fills:
anything garbage for longer than `gc_delay * max(0, 1 - gc_disk_headroom - disk usage)`.
Removal is batched into `rm -rf` processes, off the agent's event loop and CPU, of paths
first renamed into a staging directory: a new run that takes a removed path's name meanwhile
starts from a fresh directory, never one being removed.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_PATHS_PER_RM = 512


@dataclass
class GcMetrics:
    path_removals_succeeded: int = 0
    path_removals_failed: int = 0


class GarbageCollector:
    def __init__(self, delay: float, staging: Path) -> None:
        self.delay = delay
        self.staging = staging  # on the same filesystem as what is collected
        self.metrics = GcMetrics()
        # path -> the (wall clock) time it became garbage; the heap orders removals by it
        self._scheduled: dict[Path, float] = {}
        self._heap: list[tuple[float, Path]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._removing: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        return len(self._scheduled)

    def schedule(self, path: Path, since: float | None = None) -> None:
        """Remove `path` `delay` after `since` (default: its modification time, or now)."""
        if since is None:
            try:
                since = path.stat().st_mtime
            except FileNotFoundError:
                return
        self._scheduled[path] = since
        heapq.heappush(self._heap, (since, path))
        self._arm()

    def unschedule(self, path: Path) -> bool:
        """Keep `path` after all (a new run of the same executor or framework)."""
        return self._scheduled.pop(path, None) is not None

    def prune(self, max_age: float) -> None:
        """Remove now whatever has been garbage for `max_age` seconds or longer."""
        self._collect(time.time() - max_age)

    def watch_disk(self, work_dir: Path, headroom: float) -> None:
        """One disk check: prune as Mesos does when the disk holding `work_dir` fills."""
        try:
            stat = os.statvfs(work_dir)
        except OSError:
            return
        if stat.f_blocks == 0:
            return
        usage = 1.0 - stat.f_bavail / stat.f_blocks
        self.prune(self.delay * max(0.0, 1.0 - headroom - usage))

    def recover(self) -> None:
        """Finish removals an earlier agent started (its `rm` may have died with it)."""
        if self.staging.is_dir():
            for entry in self.staging.iterdir():
                self.schedule(entry, since=0.0)

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- removal ------------------------------------------------------------------------

    def _arm(self) -> None:
        """One timer, for the earliest scheduled removal."""
        if self._closed or not self._heap:
            return
        due = self._heap[0][0] + self.delay
        if self._timer is not None:
            if self._timer.when() <= self._loop_time(due):
                return
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(self._loop_time(due), self._on_timer)

    @staticmethod
    def _loop_time(wall: float) -> float:
        loop = asyncio.get_running_loop()
        return loop.time() + max(0.0, wall - time.time())

    def _on_timer(self) -> None:
        self._timer = None
        self._collect(time.time() - self.delay)

    def _collect(self, cutoff: float) -> None:
        """Take every path that became garbage at or before `cutoff` into one removal."""
        batch: list[Path] = []
        while self._heap and self._heap[0][0] <= cutoff:
            since, path = heapq.heappop(self._heap)
            if self._scheduled.get(path) == since:  # not unscheduled or rescheduled since
                del self._scheduled[path]
                batch.append(self._stage(path))
        for start in range(0, len(batch), _PATHS_PER_RM):  # within ARG_MAX
            previous = self._removing
            self._removing = asyncio.get_running_loop().create_task(
                self._remove(batch[start : start + _PATHS_PER_RM], previous)
            )
        self._arm()

    def _stage(self, path: Path) -> Path:
        if path.parent == self.staging:
            return path
        target = self.staging / f"{path.name}.{time.monotonic_ns()}"
        try:
            path.rename(target)
        except FileNotFoundError:
            try:
                self.staging.mkdir(parents=True, exist_ok=True)
                path.rename(target)
            except OSError:
                return path  # gone already, or not movable: removed where it is
        except OSError:
            return path
        return target

    async def _remove(self, batch: list[Path], previous: asyncio.Task[None] | None) -> None:
        if previous is not None:  # one `rm` at a time
            await asyncio.shield(previous)
        process = await asyncio.create_subprocess_exec(
            "rm",
            "-rf",
            "--",
            *map(str, batch),
            stdin=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await process.communicate()
        failed = [path for path in batch if os.path.lexists(path)] if process.returncode else []
        self.metrics.path_removals_failed += len(failed)
        self.metrics.path_removals_succeeded += len(batch) - len(failed)
        if failed:
            log.warning("could not remove %s: %s", failed, stderr.decode(errors="replace"))
