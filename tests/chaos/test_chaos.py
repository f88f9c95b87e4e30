"""Failures injected while a framework keeps launching short tasks (tests/harness/
load_framework.py), on 3 masters, 3 agents and a real 3-node ZooKeeper quorum. After each,
the framework's own record must show: every task it asked for settled, none finished twice,
every status update acknowledged, no resource offered twice at once, one acting leader.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest

from mesos_runtime.wire.mesos import TaskState
from tests.chaos.conftest import Cluster
from tests.harness import daemons, zookeeper
from tests.harness.load_framework import Attempt, LoadFramework, run_load

pytestmark = [pytest.mark.zookeeper, pytest.mark.timeout(180)]

TOTAL = 60


async def under_load(
    cluster: Cluster,
    inject: Callable[[LoadFramework], Awaitable[None]],
    total: int = TOTAL,
    command: str = "sleep 0.5",
) -> LoadFramework:
    """Run the load, inject the failure once it is under way, wait for every task."""
    load = LoadFramework(total=total, in_flight=6, command=command, agent_total=cluster.agent_total)
    client, loop = await run_load(cluster.zk_url, load)
    try:
        await wait_for(lambda: len(load.finished) >= 8 and load.running_attempts(), load)
        await inject(load)
        await wait_for(load.done.is_set, load, 60)
        # acknowledgements that failed are retried when the agent re-sends the update
        await wait_for(lambda: set(load.uuids) <= load.acknowledged, load, 30)
    finally:
        load.stop()
        await asyncio.gather(loop, return_exceptions=True)
        await client.close()
    return load


async def wait_for(condition: Callable[[], object], load: LoadFramework, timeout=60.0) -> None:
    async def poll() -> None:
        while not condition():
            load.progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(load.progress.wait(), 0.2)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        raise AssertionError(
            f"timed out: finished {len(load.finished)}/{load.total}, violations {load.violations}"
        ) from None


def assert_sound(load: LoadFramework, cluster: Cluster) -> None:
    assert load.violations == []
    # every task it asked for reached a state the framework observed
    unsettled = [a.task_id for a in load.attempts.values() if not a.settled]
    assert unsettled == []
    assert sorted(load.finished) == list(range(load.total))
    # no task id finished twice (a re-delivered update carries the same uuid)
    for attempt in load.attempts.values():
        finishes = {
            str(u.uuid)
            for u in load.updates
            # reconciliation answers (no uuid) restate a state; they are not new updates
            if u.uuid is not None
            and u.task_id.value == attempt.task_id
            and u.state is TaskState.TASK_FINISHED
        }
        assert len(finishes) <= 1, attempt.task_id
    # relaunches only of attempts the framework gave up on
    relaunched = len(load.attempts) - load.total
    given_up = sum(1 for a in load.attempts.values() if TaskState.TASK_FINISHED not in a.states)
    assert relaunched == given_up
    assert set(load.uuids) <= load.acknowledged
    assert len(set(load.subscriptions)) == 1  # one framework id throughout
    assert cluster.watch.double_leaders == []
    assert cluster.watch.sweeps > 0


async def test_leading_master_sigkill_fails_over_and_the_framework_resubscribes(
    cluster: Cluster,
) -> None:
    first = cluster.leader()

    async def kill_leader(load: LoadFramework) -> None:
        first.kill()
        await asyncio.to_thread(
            daemons.wait_until,
            lambda: (leader := cluster.watch.leader()) is not None and leader is not first,
            60,
            message="a new leading master",
        )

    load = await under_load(cluster, kill_leader)
    assert_sound(load, cluster)
    assert len(load.subscriptions) >= 2  # re-subscribed with its id after the failover
    assert len(cluster.watch.leaders_seen) >= 2


async def test_agent_sigkill_and_restart_keeps_its_tasks_running(cluster: Cluster) -> None:
    async def restart_busy_agent(load: LoadFramework) -> None:
        ids = cluster.agent_ids()

        # only tasks seen RUNNING: one still launching when the agent dies fails, as in Mesos
        def seen_running() -> list[Attempt]:
            return [
                a
                for a in load.running_attempts()
                if a.agent_id in ids and TaskState.TASK_RUNNING in a.states
            ]

        await wait_for(seen_running, load)
        busy = seen_running()[0].agent_id
        running = [a.task_id for a in seen_running() if a.agent_id == busy]
        await asyncio.to_thread(ids[busy].restart)
        load.kept = running  # type: ignore[attr-defined]

    load = await under_load(cluster, restart_busy_agent)
    assert_sound(load, cluster)
    # the tasks running on the agent when it was killed finished there, not relaunched
    assert load.kept  # type: ignore[attr-defined]
    for task_id in load.kept:  # type: ignore[attr-defined]
        assert load.attempts[task_id].states[-1] is TaskState.TASK_FINISHED


@pytest.mark.parametrize(
    "cluster_flags", [["--agent_ping_timeout=500ms", "--max_agent_ping_timeouts=4"]]
)
async def test_agent_stopped_for_good_has_its_tasks_replaced_elsewhere(
    cluster: Cluster,
) -> None:
    async def stop_busy_agent(load: LoadFramework) -> None:
        ids = cluster.agent_ids()
        # the newest attempt: the oldest may be finishing this very moment, and an agent
        # whose tasks all finished before it died has nothing to report unreachable
        newest = max(
            (a for a in load.running_attempts() if a.agent_id in ids), key=lambda a: a.launched
        )
        busy = newest.agent_id
        load.dead = busy  # type: ignore[attr-defined]
        ids[busy].kill()
        # the machine is gone: its task processes go with it
        await asyncio.to_thread(_kill_tasks_of, ids[busy])

    # tasks long enough to still be running when their agent dies
    load = await under_load(cluster, stop_busy_agent, total=24, command="sleep 3")
    dead = load.dead  # type: ignore[attr-defined]
    lost = [a for a in load.attempts_on(dead) if TaskState.TASK_UNREACHABLE in a.states]
    assert lost, "tasks on the stopped agent were reported unreachable"
    # acknowledgements of updates from the dead agent could reach no agent: not required
    load.uuids = {k: v for k, v in load.uuids.items() if v.agent_id.value != dead}
    assert_sound(load, cluster)
    for attempt in lost:  # replaced: the same logical task finished on another agent
        finisher = load.attempts[load.finished[attempt.logical]]
        assert finisher.agent_id != dead


def _kill_tasks_of(agent: daemons.Daemon) -> None:
    from tests.integration.test_agent_tasks import kill_leftover_tasks

    kill_leftover_tasks(agent.work_dir)


async def test_zookeeper_follower_sigkill_leaves_service_running(
    cluster: Cluster, zk_quorum: zookeeper.QuorumHandle
) -> None:
    async def kill_follower(load: LoadFramework) -> None:
        follower = zk_quorum.follower_indexes()[0]
        zk_quorum.kill(follower)

    load = await under_load(cluster, kill_follower)
    assert_sound(load, cluster)


async def test_zookeeper_leader_sigkill_leaves_service_running(
    cluster: Cluster, zk_quorum: zookeeper.QuorumHandle
) -> None:
    async def kill_zk_leader(load: LoadFramework) -> None:
        leader = await asyncio.to_thread(zk_quorum.wait_for_quorum)
        zk_quorum.kill(leader)

    load = await under_load(cluster, kill_zk_leader)
    assert_sound(load, cluster)
    cluster.leader()  # a master leads again
