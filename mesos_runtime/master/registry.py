"""The registry: the master's durable facts (admitted, unreachable and gone agents,
frameworks with their failover timeouts, the maintenance schedule), written through a
`RegistryStore` before a change is acknowledged. `FileStore` keeps it in one JSON file
under --work_dir (standalone); the ZooKeeper store (mesos_runtime/discovery/) does HA.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

# the fencing error is raised by every store, ZooKeeper's included; it lives with the stores
from mesos_runtime.wire.mesos import AgentID, AgentInfo, FrameworkInfo, TimeInfo
from mesos_runtime.wire.record import Record, record, repeated, required

from .drain import AgentDrainEntry
from .maintenance import MachineID, MachineMode, MaintenanceSchedule

REGISTRY_VERSION = 1


class RegistryFenced(Exception):
    """This master may no longer write the registry (it lost leadership)."""


__all__ = ["FileStore", "Registry", "RegistryFenced", "RegistryStore"]


class RegistryStore(Protocol):
    """Where the registry document lives; `store` is atomic and durable when it returns."""

    async def load(self) -> bytes | None: ...

    async def store(self, data: bytes) -> None: ...


class FileStore:
    """The standalone store: `<work_dir>/registry.json`, replaced atomically.

    Write a temporary file, fsync it, rename it over the old one, fsync the directory:
    a crash leaves either the old or the new document, never a torn one.
    """

    def __init__(self, work_dir: Path | str) -> None:
        self.path = Path(work_dir) / "registry.json"

    async def load(self) -> bytes | None:
        return await asyncio.to_thread(self._read)

    async def store(self, data: bytes) -> None:
        await asyncio.to_thread(self._write, data)

    def _read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def _write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# --- the document ---------------------------------------------------------------------


@record
class UnreachableAgent(Record):
    id: AgentID = required()
    timestamp: TimeInfo = required()


@record
class RegisteredFramework(Record):
    framework_info: FrameworkInfo = required()  # with `id` and `failover_timeout`
    registered_time: float = required()


@record
class AgentPrincipal(Record):
    """The principal an admitted agent authenticated as: only it may re-register the id."""

    id: AgentID = required()
    principal: str = required()


@record
class MachineInfo(Record):
    id: MachineID = required()
    mode: MachineMode = required()


@record
class RegistryDocument(Record):
    version: int = required()
    agents: list[AgentInfo] = repeated()  # admitted, with `id`
    agent_principals: list[AgentPrincipal] = repeated()
    unreachable: list[UnreachableAgent] = repeated()
    gone: list[AgentID] = repeated()  # removed for good: refused if they come back
    frameworks: list[RegisteredFramework] = repeated()
    schedules: list[MaintenanceSchedule] = repeated()
    machines: list[MachineInfo] = repeated()
    drain: list[AgentDrainEntry] = repeated()  # deactivated and draining agents (drain.py)

    @classmethod
    def empty(cls) -> RegistryDocument:
        return cls(version=REGISTRY_VERSION)


Mutation = Callable[[RegistryDocument], None]


class Registry:
    """Logic on the registry document; every change is stored before it takes effect.

    Mutations are serialised: each applies to a copy, the copy is stored, and only then
    replaces the document the master reads. A failed store (or a fenced one) leaves the
    document unchanged and raises, so the caller acknowledges nothing.
    """

    def __init__(self, store: RegistryStore) -> None:
        self._store = store
        self._lock = asyncio.Lock()
        self.document = RegistryDocument.empty()

    async def recover(self) -> RegistryDocument:
        data = await self._store.load()
        if data:
            self.document = RegistryDocument.from_json(json.loads(data))
        return self.document

    async def apply(self, mutation: Mutation) -> None:
        async with self._lock:
            draft = RegistryDocument.from_json(self.document.to_json())
            mutation(draft)
            data = json.dumps(draft.to_json(), sort_keys=True, indent=1).encode()
            await self._store.store(data)
            self.document = draft

    # --- agents -------------------------------------------------------------------

    async def admit_agent(self, info: AgentInfo, principal: str | None = None) -> None:
        assert info.id is not None
        agent_id = info.id.value
        if (
            info in self.document.agents
            and self.agent_principal(agent_id) == principal
            and not any(u.id.value == agent_id for u in self.document.unreachable)
        ):
            # re-registration of an admitted agent, unchanged: nothing new to make durable
            # (after a failover every agent re-registers at once; skip a write per agent)
            return

        def change(doc: RegistryDocument) -> None:
            doc.agents = [a for a in doc.agents if a.id is None or a.id.value != agent_id]
            doc.agents.append(info)
            doc.unreachable = [u for u in doc.unreachable if u.id.value != agent_id]
            doc.agent_principals = [p for p in doc.agent_principals if p.id.value != agent_id]
            if principal is not None and info.id is not None:
                doc.agent_principals.append(AgentPrincipal(id=info.id, principal=principal))

        await self.apply(change)

    def agent_principal(self, agent_id: str) -> str | None:
        for entry in self.document.agent_principals:
            if entry.id.value == agent_id:
                return entry.principal
        return None

    async def mark_unreachable(self, agent_id: str, timestamp: float) -> None:
        def change(doc: RegistryDocument) -> None:
            doc.agents = [a for a in doc.agents if a.id is None or a.id.value != agent_id]
            doc.unreachable = [u for u in doc.unreachable if u.id.value != agent_id]
            doc.unreachable.append(
                UnreachableAgent(
                    id=AgentID(value=agent_id), timestamp=TimeInfo(nanoseconds=int(timestamp * 1e9))
                )
            )

        await self.apply(change)

    async def remove_agent(self, agent_id: str) -> None:
        def change(doc: RegistryDocument) -> None:
            doc.agents = [a for a in doc.agents if a.id is None or a.id.value != agent_id]
            doc.unreachable = [u for u in doc.unreachable if u.id.value != agent_id]
            if all(g.value != agent_id for g in doc.gone):
                doc.gone.append(AgentID(value=agent_id))

        await self.apply(change)

    def is_gone(self, agent_id: str) -> bool:
        return any(g.value == agent_id for g in self.document.gone)

    # --- frameworks ---------------------------------------------------------------

    async def add_framework(self, info: FrameworkInfo, registered_time: float) -> None:
        assert info.id is not None

        def change(doc: RegistryDocument) -> None:
            kept = [f for f in doc.frameworks if f.framework_info.id != info.id]
            before = [f for f in doc.frameworks if f.framework_info.id == info.id]
            registered = before[0].registered_time if before else registered_time
            kept.append(RegisteredFramework(framework_info=info, registered_time=registered))
            doc.frameworks = kept

        await self.apply(change)

    async def remove_framework(self, framework_id: str) -> None:
        def change(doc: RegistryDocument) -> None:
            doc.frameworks = [
                f
                for f in doc.frameworks
                if f.framework_info.id is None or f.framework_info.id.value != framework_id
            ]

        await self.apply(change)

    # --- maintenance --------------------------------------------------------------

    async def update_maintenance(
        self, schedule: MaintenanceSchedule, machines: list[MachineInfo]
    ) -> None:
        def change(doc: RegistryDocument) -> None:
            doc.schedules = [schedule] if schedule.windows else []
            doc.machines = machines

        await self.apply(change)
