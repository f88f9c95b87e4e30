"""The agent's garbage collector on real directories: removal after the delay, in the order
paths became garbage; unscheduled paths kept; pruning by age; bad GC flags refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mesos_runtime.agent.flags import AgentFlags
from mesos_runtime.agent.gc import GarbageCollector
from mesos_runtime.agent.main import build_agent
from mesos_runtime.wire.flags import FlagError, parse_flags
from tests.harness.daemons import eventually


def _sandbox(base: Path, name: str) -> Path:
    path = base / name
    (path / "runs").mkdir(parents=True)
    (path / "runs" / "stdout").write_text("output\n")
    return path


async def test_paths_are_removed_after_the_delay_and_unscheduled_ones_kept(tmp_path) -> None:
    gc = GarbageCollector(delay=0.2, staging=tmp_path / "gc")
    kept, removed = _sandbox(tmp_path, "kept"), _sandbox(tmp_path, "removed")
    now = time.time()
    gc.schedule(kept, since=now)
    gc.schedule(removed, since=now + 0.01)  # due after `kept` would have been
    assert gc.unschedule(kept)
    assert gc.pending == 1

    await eventually(lambda: not removed.exists(), 10, message="scheduled path removed")
    await eventually(lambda: gc.metrics.path_removals_succeeded == 1, 10)
    assert kept.exists()
    assert gc.pending == 0
    gc.close()


async def test_prune_removes_only_what_is_older_than_the_age(tmp_path) -> None:
    gc = GarbageCollector(delay=7 * 86400, staging=tmp_path / "gc")
    old, new = _sandbox(tmp_path, "old"), _sandbox(tmp_path, "new")
    gc.schedule(old, since=time.time() - 3600)
    gc.schedule(new)  # its modification time: just now

    gc.prune(max_age=60)
    await eventually(lambda: gc.metrics.path_removals_succeeded == 1, 10)
    assert not old.exists()
    assert new.exists()
    assert gc.pending == 1

    gc.watch_disk(tmp_path, headroom=1.0)  # no headroom left: everything goes
    await eventually(lambda: gc.metrics.path_removals_succeeded == 2, 10)
    assert not new.exists()
    gc.close()


def test_scheduling_a_vanished_path_is_a_no_op(tmp_path) -> None:
    gc = GarbageCollector(delay=1, staging=tmp_path / "gc")
    gc.schedule(tmp_path / "missing")
    assert gc.pending == 0


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--gc_disk_headroom=1.5", "--gc_disk_headroom must be within [0, 1]"),
        ("--disk_watch_interval=0secs", "--disk_watch_interval must be positive"),
    ],
)
def test_bad_gc_flags_are_refused(tmp_path, flag, message) -> None:
    flags = parse_flags(AgentFlags, [f"--work_dir={tmp_path}", "--resources=cpus:1;mem:64", flag])
    with pytest.raises(FlagError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_agent(flags)


async def test_a_path_reused_while_being_removed_starts_fresh_and_stays(tmp_path) -> None:
    gc = GarbageCollector(delay=7 * 86400, staging=tmp_path / "gc")
    sandbox = _sandbox(tmp_path, "executor")
    gc.schedule(sandbox, since=time.time() - 60)
    gc.prune(max_age=0)  # taken out of place at once, removed by `rm` meanwhile
    reused = _sandbox(tmp_path, "executor")  # a new run of the same executor id

    await eventually(lambda: gc.metrics.path_removals_succeeded == 1, 10)
    assert (reused / "runs" / "stdout").read_text() == "output\n"
    assert not list((tmp_path / "gc").iterdir())
    gc.close()


async def test_removals_an_earlier_agent_left_unfinished_are_completed(tmp_path) -> None:
    leftover = _sandbox(tmp_path / "gc", "executor.123")
    gc = GarbageCollector(delay=7 * 86400, staging=tmp_path / "gc")
    gc.recover()
    await eventually(lambda: gc.metrics.path_removals_succeeded == 1, 10)
    assert not leftover.exists()
    gc.close()
