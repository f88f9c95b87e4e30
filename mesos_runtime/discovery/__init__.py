"""Masters in ZooKeeper, as Mesos does it: leader election and advertisement
(`MasterContender`), finding the leader (`MasterDetector`, `leading_master`), the master's
leadership seam (`ZooKeeperLeadership`) and `zk://` URLs. The fenced HA registry store is
`mesos_runtime.discovery.store.ZooKeeperStore`, imported by the master only (it implements
`mesos_runtime.master.registry.RegistryStore`). See docs/high-availability.md.
"""

from __future__ import annotations

from mesos_runtime.discovery.contender import MASTER_ZNODE_PREFIX, MasterContender
from mesos_runtime.discovery.detector import (
    Endpoint,
    LeaderDetector,
    MasterDetector,
    StaticMasterDetector,
    await_other_leader,
    leader_change,
    leading_master,
    open_detector,
    parse_master_address,
)
from mesos_runtime.discovery.leadership import ZooKeeperLeadership
from mesos_runtime.discovery.master_info import (
    decode_ip,
    encode_ip,
    make_master_info,
    master_endpoint,
)
from mesos_runtime.discovery.zk_url import (
    ZooKeeperURL,
    ZooKeeperURLError,
    is_zk_url,
    parse_zk_url,
)
from mesos_runtime.wire.address import join_host_port

__all__ = [
    "MASTER_ZNODE_PREFIX",
    "Endpoint",
    "LeaderDetector",
    "MasterContender",
    "MasterDetector",
    "StaticMasterDetector",
    "ZooKeeperLeadership",
    "ZooKeeperURL",
    "ZooKeeperURLError",
    "await_other_leader",
    "decode_ip",
    "detect_leader",
    "encode_ip",
    "is_zk_url",
    "leader_change",
    "leading_master",
    "make_master_info",
    "master_endpoint",
    "open_detector",
    "parse_master_address",
    "parse_zk_url",
]


async def detect_leader(master: str, timeout: float = 30.0) -> str:
    """`host:port` of the leading master for a `--master` value (the scheduler library's seam).

    Accepts `host:port`, `http://host:port`, `zk://...` and `file:///...`; raises
    TimeoutError when ZooKeeper advertises no leader within `timeout` seconds.
    """
    host, port = await leading_master(master, timeout)
    return join_host_port(host, port)
