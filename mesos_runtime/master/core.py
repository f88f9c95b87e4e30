"""The master's state and what all its parts share: the records it holds (frameworks,
agents, offers, the maintenance schedule), ids, operator events, the statuses it writes
itself and its background steps. The calls are layered on it (master.py)."""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import socket
import struct
import uuid as uuidlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from mesos_runtime import MESOS_API_VERSION
from mesos_runtime.security.tls import TlsSettings
from mesos_runtime.wire.mesos import (
    Address,
    AgentID,
    AgentInfo,
    ExecutorID,
    MasterInfo,
    StatusReason,
    StatusSource,
    TaskID,
    TaskState,
    TaskStatus,
)
from mesos_runtime.wire.scheduler import (
    Event,
    EventType,
    Update,
)

from .drain import Drainer
from .flags import MasterFlags
from .maintenance import MachineID, MachineMode, MaintenanceSchedule
from .registry import Registry, RegistryFenced
from .state import (
    MAX_COMPLETED_FRAMEWORKS,
    Agent,
    EventStream,
    Framework,
    OutstandingOffer,
    UnreachableAgentState,
)
from .statuses import now

if TYPE_CHECKING:
    from .master import Master

log = logging.getLogger("mesos.master")


def ip_to_uint32(ip: str) -> int:
    """MasterInfo.ip as Mesos writes it: the in_addr bytes read as a native uint32."""
    try:
        return struct.unpack("<I", socket.inet_aton(ip))[0]
    except OSError:
        return 0


class MasterCore:
    """The master's state and what every part of it shares: ids, events, background steps."""

    def __init__(  # noqa: PLR0917
        self,
        flags: MasterFlags,
        registry: Registry,
        allocator: Any,
        hostname: str,
        advertise_ip: str,
        advertise_port: int,
    ) -> None:
        self.flags = flags
        self.registry = registry
        self.allocator = allocator
        self.id = str(uuidlib.uuid4())
        self.hostname = hostname
        self.info = MasterInfo(
            id=self.id,
            ip=ip_to_uint32(advertise_ip),
            port=advertise_port,
            pid=f"master@{advertise_ip}:{advertise_port}",
            hostname=hostname,
            version=MESOS_API_VERSION,
            address=Address(hostname=hostname, ip=advertise_ip, port=advertise_port),
        )
        self.start_time = now()
        self.elected_time: float | None = None
        self.frameworks: dict[str, Framework] = {}
        self.completed_frameworks: collections.deque[Framework] = collections.deque(
            maxlen=MAX_COMPLETED_FRAMEWORKS
        )
        self._removed_framework_ids: set[str] = set()
        self.agents: dict[str, Agent] = {}
        self.recovered_agents: dict[str, AgentInfo] = {}  # admitted, not yet re-registered
        self.unreachable: dict[str, UnreachableAgentState] = {}
        self.offers: dict[str, OutstandingOffer] = {}
        self.operator_streams: set[EventStream] = set()
        self.schedule = MaintenanceSchedule()
        self.machines: dict[MachineID, MachineMode] = {}
        self.counters: collections.Counter[str] = collections.Counter()
        self._framework_ids = itertools.count()
        self._agent_ids = itertools.count()
        self._offer_ids = itertools.count()
        self._dirty: set[str] = set()
        self._dirty_all = False
        self._allocation_pending = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._timers: list[asyncio.TimerHandle] = []
        # unreachable agents become gone after --registry_max_agent_age
        self._gone_timers: dict[str, asyncio.TimerHandle] = {}
        # called when the registry refuses a write: this master must stop acting at once
        self.on_fenced: Callable[[], None] | None = None
        # agents speak TLS when this master does (libprocess' SSL settings are cluster-wide)
        self.agent_scheme = "https" if TlsSettings.from_environment().enabled else "http"
        # the core is always a Master's: the drainer calls its agent-removal steps
        self.drain = Drainer(cast("Master", self))  # DRAIN_AGENT, DEACTIVATE_AGENT, ... (drain.py)

    # --- lifecycle ---------------------------------------------------------------------

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for timer in [*self._timers, *self._gone_timers.values()]:
            timer.cancel()
        for framework in self.frameworks.values():
            if framework.failover_timer:
                framework.failover_timer.cancel()
            if framework.stream:
                framework.stream.close()
        for agent in self.agents.values():
            if agent.stream:
                agent.stream.close()
        for stream in self.operator_streams:
            stream.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        if task.cancelled() or task.exception() is None:
            return
        if isinstance(task.exception(), RegistryFenced):
            self.fenced()
        else:
            log.error("Background step failed: %r", task.exception())

    def fenced(self) -> None:
        """The registry refused a write: another master leads now. Stop acting (Mesos
        aborts the process for the same reason) so two masters never act at once."""
        log.critical("Registry write fenced: this master is no longer the leader")
        if self.on_fenced is not None:
            self.on_fenced()

    # --- ids ----------------------------------------------------------------------------

    def _new_framework_id(self) -> str:
        return f"{self.id}-{next(self._framework_ids):04d}"

    def _new_agent_id(self) -> str:
        return f"{self.id}-S{next(self._agent_ids)}"

    def _new_offer_id(self) -> str:
        return f"{self.id}-O{next(self._offer_ids)}"

    # --- events -------------------------------------------------------------------------

    def publish(self, build: Callable[[], dict[str, Any]]) -> None:
        """An event for operator API subscribers (built only when someone listens)."""
        if not self.operator_streams:
            return
        event = build()
        for stream in list(self.operator_streams):
            if stream.closed:
                self.operator_streams.discard(stream)
            else:
                stream.send_json(event)

    def _publish_task_updated(self, framework_id: str, status: TaskStatus) -> None:
        self.publish(
            lambda: {
                "type": "TASK_UPDATED",
                "task_updated": {
                    "framework_id": {"value": framework_id},
                    "status": status.to_json(),
                    "state": status.state.value,
                },
            }
        )

    def _master_status(  # noqa: PLR0917
        self,
        task_id: str,
        state: TaskState,
        reason: StatusReason | None,
        message: str,
        agent_id: str | None = None,
        executor_id: str | None = None,
    ) -> TaskStatus:
        return TaskStatus(
            task_id=TaskID(value=task_id),
            state=state,
            source=StatusSource.SOURCE_MASTER,
            reason=reason,
            message=message,
            agent_id=AgentID(value=agent_id) if agent_id else None,
            executor_id=ExecutorID(value=executor_id) if executor_id else None,
            timestamp=now(),
        )

    def _send_update(self, framework: Framework, status: TaskStatus) -> None:
        framework.send(Event(type=EventType.UPDATE, update=Update(status=status)))

    def _lost_state(self, framework: Framework) -> TaskState:
        return TaskState.TASK_UNKNOWN if framework.partition_aware else TaskState.TASK_LOST
