"""The HA registry in ZooKeeper: durable across failover, written only by the leader."""

from __future__ import annotations

import os

import pytest
from kazoo.client import KazooClient

from mesos_runtime.discovery import ZooKeeperURL
from mesos_runtime.discovery.store import CHUNK_SIZE, RegistryFenced, ZooKeeperStore
from tests.harness.daemons import eventually
from tests.zookeeper.conftest import SESSION_TIMEOUT, ContenderFactory

pytestmark = pytest.mark.zookeeper

FAILOVER = SESSION_TIMEOUT + 1.0


def children(zk_url: ZooKeeperURL, path: str) -> list[str]:
    client = KazooClient(hosts=zk_url.hosts)
    client.start(timeout=30)
    try:
        return sorted(client.get_children(path))
    finally:
        client.stop()
        client.close()


async def test_registry_written_by_one_leader_is_what_the_next_leader_loads(
    contenders: ContenderFactory, zk_url: ZooKeeperURL
) -> None:
    a, b = await contenders("a"), await contenders("b")
    await eventually(lambda: a.is_leader, 30, message="a elected")
    store = ZooKeeperStore(a)
    assert await store.load() is None
    await store.store(b'{"version":1,"agents":[]}')
    await store.store(b'{"version":1,"agents":["agent-1"]}')

    await a.close()
    await eventually(lambda: b.is_leader, FAILOVER, message="b elected")
    assert await ZooKeeperStore(b).load() == b'{"version":1,"agents":["agent-1"]}'
    # clients looking for masters under the --zk path find only masters there
    assert all(c.startswith("json.info_") for c in children(zk_url, zk_url.path))


async def test_deposed_master_cannot_write_the_registry(contenders: ContenderFactory) -> None:
    a, b = await contenders("a"), await contenders("b")
    await eventually(lambda: a.is_leader, 30, message="a elected")
    old = ZooKeeperStore(a)
    await old.load()
    await old.store(b"from a")
    with pytest.raises(RegistryFenced):
        await ZooKeeperStore(b).store(b"b is not the leader")

    await a.close()
    await eventually(lambda: b.is_leader, FAILOVER, message="b elected")
    new = ZooKeeperStore(b)
    assert await new.load() == b"from a"
    await new.store(b"from b")

    with pytest.raises(RegistryFenced):
        await old.store(b"late write from a")
    assert await new.load() == b"from b"


async def test_registry_write_from_a_stale_view_is_refused(contenders: ContenderFactory) -> None:
    leader = await contenders("a")
    await eventually(lambda: leader.is_leader, 30, message="a elected")
    first, second = ZooKeeperStore(leader), ZooKeeperStore(leader)
    await first.store(b"v1")
    await first.load()
    await second.load()
    await second.store(b"v2")

    with pytest.raises(RegistryFenced, match="wrote since"):
        await first.store(b"v2 from an outdated view")
    assert await first.load() == b"v2"
    await first.store(b"v3")  # after re-reading, it may write again
    assert await second.load() == b"v3"


async def test_registry_larger_than_a_znode_is_chunked_and_old_chunks_removed(
    contenders: ContenderFactory, zk_url: ZooKeeperURL
) -> None:
    leader = await contenders("a")
    await eventually(lambda: leader.is_leader, 30, message="a elected")
    store = ZooKeeperStore(leader)
    big = os.urandom(3 * CHUNK_SIZE + 123)  # 1.5 MB: over ZooKeeper's 1 MB znode limit
    await store.store(big)
    assert await ZooKeeperStore(leader).load() == big

    bigger = os.urandom(4 * CHUNK_SIZE)
    await store.store(bigger)
    assert await ZooKeeperStore(leader).load() == bigger
    chunk_nodes = [c for c in children(zk_url, store.base) if c.startswith("chunks-")]
    assert len(chunk_nodes) == 1

    await store.store(b"small again")
    assert await ZooKeeperStore(leader).load() == b"small again"
    assert children(zk_url, store.base) == ["registry"]
