"""`mesos-master --zk`: two real masters on a real 3-node ZooKeeper zk_quorum. One leads and
serves; the other redirects API calls to it (307); when the leader is SIGKILLed the other
takes over, recovers the registry from ZooKeeper and a framework re-subscribes with its id.
(The chaos suite under load is tests/zookeeper/ and issue 3's.)"""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from tests.harness import daemons, zookeeper
from tests.harness.v1_client import V1Client, framework_info

pytestmark = [pytest.mark.integration, pytest.mark.zookeeper]


def leader_pid(master: daemons.Daemon) -> str | None:
    return daemons.http_json(master.url + "/master/state").get("leader")


async def test_standby_redirects_and_takes_over_when_the_leader_dies(
    zk_quorum: zookeeper.QuorumHandle, tmp_path: Path
) -> None:
    url = zk_quorum.zk_url(f"/mesos-{tmp_path.name}")
    masters = [
        daemons.master(tmp_path / f"m{i}", f"--zk={url}", "--zk_session_timeout=4secs")
        for i in (1, 2)
    ]
    with daemons.running(*masters):
        daemons.wait_until(lambda: all(leader_pid(m) for m in masters), 60, message="a leader")
        leading = next(m for m in masters if leader_pid(m) == f"master@127.0.0.1:{m.port}")
        standby = next(m for m in masters if m is not leading)
        info = framework_info("ha", user=getpass.getuser(), failover_timeout=300)
        async with V1Client(standby.url) as client:
            redirect = await client.post("/api/v1/scheduler", {"type": "REVIVE"})
            assert redirect.status == 307
            assert redirect.headers["Location"] == f"//127.0.0.1:{leading.port}/api/v1/scheduler"
            assert (await client.get_json("/metrics/snapshot"))["master/elected"] == 0.0
        async with V1Client(leading.url) as client:
            framework = await client.subscribe(info)

        leading.kill()
        daemons.wait_until(
            lambda: leader_pid(standby) == f"master@127.0.0.1:{standby.port}",
            60,
            message="the standby leading",
        )
        state = daemons.http_json(standby.url + "/master/state")
        (recovered,) = state["frameworks"]  # read back from the registry in ZooKeeper
        assert (recovered["id"], recovered["connected"]) == (framework.id, False)
        async with V1Client(standby.url) as client:
            again = await client.subscribe({**info, "id": {"value": framework.id}})
            assert again.id == framework.id
            assert (await again.call("TEARDOWN")).status == 202
