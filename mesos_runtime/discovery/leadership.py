"""The master's leadership with `--zk`: a contender to lead, a detector to know who does.

`ZooKeeperLeadership` fits the master's `Leadership` seam (`is_leader`, `leader`): it serves
only once elected AND recovered; before that, or once deposed, requests go to the leader
the detector sees (307), or get a 503 while none is known or this master is recovering.
"""

from __future__ import annotations

from mesos_runtime.discovery.contender import MasterContender
from mesos_runtime.discovery.detector import MasterDetector
from mesos_runtime.discovery.zk_url import ZooKeeperURL
from mesos_runtime.wire.mesos import MasterInfo

__all__ = ["ZooKeeperLeadership"]


class ZooKeeperLeadership:
    """Contend and detect under `url`; `mark_recovered()` once the registry is recovered.

    `contender.elected()` / `contender.lost()` are what the master's main loop awaits;
    `ZooKeeperStore(leadership.contender)` is its registry store.
    """

    def __init__(self, url: ZooKeeperURL, *, session_timeout: float = 10.0) -> None:
        self.url = url
        self.contender = MasterContender(url, session_timeout=session_timeout)
        self.detector = MasterDetector(url, session_timeout=session_timeout)
        self._recovered = False
        self._info: MasterInfo | None = None

    @property
    def is_leader(self) -> bool:
        """Serve the leader-only APIs: elected, session connected, registry recovered."""
        return self._recovered and self.contender.is_leader

    @property
    def leader(self) -> MasterInfo | None:
        """Where to redirect; None (→ 503) while nobody, or this recovering master, leads."""
        if self.contender.is_leader:
            return self._info if self._recovered else None
        leader = self.detector.leader
        if leader is not None and self._info is not None and leader.id == self._info.id:
            return None  # we were just deposed: the detector has not caught up yet
        return leader

    async def start(self, info: MasterInfo) -> None:
        self._info = info
        await self.detector.start()
        await self.contender.start(info)

    def mark_recovered(self) -> None:
        """The master recovered the registry as leader: it serves from now on."""
        self._recovered = True

    def mark_deposed(self) -> None:
        """Leadership was lost: serve nothing until elected and recovered again."""
        self._recovered = False

    async def close(self) -> None:
        await self.contender.close()
        await self.detector.close()
