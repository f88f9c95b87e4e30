"""Masters elect one leader through ZooKeeper and advertise it as Mesos does."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys

import pytest
from kazoo.client import KazooClient

from mesos_runtime.discovery import (
    MasterContender,
    MasterDetector,
    ZooKeeperLeadership,
    ZooKeeperURL,
    leading_master,
    make_master_info,
    master_endpoint,
)
from tests.harness.daemons import eventually
from tests.zookeeper.conftest import SESSION_TIMEOUT, ContenderFactory

pytestmark = pytest.mark.zookeeper

FAILOVER = SESSION_TIMEOUT + 1.0


def only_leader(contenders: list[MasterContender]) -> MasterContender | None:
    leaders = [c for c in contenders if c.is_leader]
    assert len(leaders) <= 1, f"two acting leaders: {[c.info.id for c in leaders]}"
    return leaders[0] if leaders else None


async def test_contender_advertises_master_info_json_as_mesos_does(
    contenders: ContenderFactory, zk_url: ZooKeeperURL
) -> None:
    master = await contenders("master-1")
    await eventually(lambda: master.is_leader, 30, message="sole contender elected")

    client = KazooClient(hosts=zk_url.hosts)
    client.start(timeout=30)
    try:
        children = client.get_children(zk_url.path)
        assert len(children) == 1 and children[0].startswith("json.info_")
        assert len(children[0]) == len("json.info_") + 10  # ZooKeeper's 10-digit sequence
        data, stat = client.get(f"{zk_url.path}/{children[0]}")
        assert stat.ephemeralOwner == master.client.client_id[0]
    finally:
        client.stop()
        client.close()

    advertised = json.loads(data)
    port = master.info.port
    assert advertised == {
        "id": "master-1",
        "ip": 16777343,  # 127.0.0.1 as Mesos encodes it (s_addr as a uint32)
        "port": port,
        "pid": f"master@127.0.0.1:{port}",
        "hostname": "localhost",
        "address": {"hostname": "localhost", "ip": "127.0.0.1", "port": port},
    }


async def test_three_contenders_elect_exactly_one_leader_and_the_detector_agrees(
    contenders: ContenderFactory, detector: MasterDetector
) -> None:
    masters = [await contenders(f"master-{i}") for i in range(3)]
    leader = await eventually(lambda: only_leader(masters), 30, message="a leader")
    # the first to contend holds the lowest sequence
    assert leader is masters[0]
    info = await detector.detect_info(None, timeout=30)
    assert info == leader.info
    assert detector.endpoint == ("127.0.0.1", leader.info.port)
    assert await leading_master(str(detector.url), timeout=30) == master_endpoint(leader.info)
    assert sum(c.is_leader for c in masters) == 1
    assert leader.elected_time is not None
    assert all(c.elected_time is None for c in masters if c is not leader)


async def test_closing_the_leaders_session_elects_the_next_contender(
    contenders: ContenderFactory, detector: MasterDetector
) -> None:
    masters = [await contenders(f"master-{i}") for i in range(3)]
    first = await eventually(lambda: only_leader(masters), 30, message="a leader")
    await detector.detect_info(None, timeout=30)

    await first.close()

    rest = [c for c in masters if c is not first]
    second = await eventually(lambda: only_leader(rest), FAILOVER, message="next leader")
    assert second is masters[1]  # next in sequence order
    assert await detector.detect_info(first.info, timeout=FAILOVER) == second.info


CONTENDER_PROGRAM = """
import asyncio, sys
from mesos_runtime.discovery import MasterContender, make_master_info, parse_zk_url

async def main():
    info = make_master_info(sys.argv[2], "127.0.0.1", int(sys.argv[3]))
    contender = MasterContender(parse_zk_url(sys.argv[1]), info, session_timeout=float(sys.argv[4]))
    await contender.start()
    await contender.elected()
    print("elected", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_sigkill_of_the_leading_master_elects_the_next_after_its_session_expires(
    contenders: ContenderFactory, detector: MasterDetector, zk_url: ZooKeeperURL
) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CONTENDER_PROGRAM,
            zk_url.hosts.join(["zk://", zk_url.path]),
            "doomed",
            "5999",
            str(SESSION_TIMEOUT),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = await eventually_line(process)
        assert line == "elected"
        survivor = await contenders("survivor")
        info = await detector.detect_info(None, timeout=30)
        assert info is not None and info.id == "doomed"

        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

        await eventually(lambda: survivor.is_leader, FAILOVER + 10, message="survivor elected")
        assert await detector.detect_info(info, timeout=FAILOVER) == survivor.info
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def eventually_line(process: subprocess.Popen[bytes]) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 60)
    return line.decode().strip()


async def test_master_leadership_serves_only_once_elected_and_recovered(
    zk_url: ZooKeeperURL,
) -> None:
    first = ZooKeeperLeadership(zk_url, session_timeout=SESSION_TIMEOUT)
    second = ZooKeeperLeadership(zk_url, session_timeout=SESSION_TIMEOUT)
    first_info = make_master_info("first", "127.0.0.1", 5051)
    second_info = make_master_info("second", "127.0.0.1", 5052)
    try:
        await first.start(first_info)
        await first.contender.elected()
        await second.start(second_info)
        # elected but still recovering: nobody serves yet (503), not even by redirect
        assert not first.is_leader and first.leader is None
        first.mark_recovered()
        assert first.is_leader and first.leader == first_info
        await eventually(lambda: second.leader == first_info, 30, message="second redirects")
        assert not second.is_leader

        await first.close()
        await second.contender.elected()
        assert not second.is_leader and second.leader is None
        second.mark_recovered()
        assert second.is_leader and second.leader == second_info
    finally:
        await first.close()
        await second.close()
