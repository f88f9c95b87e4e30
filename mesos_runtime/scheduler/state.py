"""What a service scheduler keeps across restarts, typed, on a `StateStore`.

The framework id (so a restarted scheduler re-subscribes as itself), one `TaskRecord` per
launched task (so it can adopt its running tasks), one `ReservationRecord` per reservation
(so it can find, reuse or undo it) and any other JSON the scheduler wants under `data/`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mesos_runtime.wire.mesos import (
    AgentID,
    Attribute,
    FrameworkID,
    Resource,
    TaskInfo,
    TaskStatus,
)
from mesos_runtime.wire.record import Record, WireError, record, repeated, required

from .store import StateStore, StoreError, check_namespace

__all__ = ["ReservationRecord", "SchedulerState", "TaskRecord"]

_FRAMEWORK = "framework"
_TASKS = "tasks"
_RESERVATIONS = "reservations"
_DATA = "data"


@record
class TaskRecord(Record):
    """A launched task as the scheduler knows it: what it launched, where, and how it is."""

    task: TaskInfo = required()
    hostname: str | None = None
    attributes: list[Attribute] = repeated()
    staged_at: float | None = None
    started_at: float | None = None
    status: TaskStatus | None = None  # the latest status update

    @property
    def task_id(self) -> str:
        return self.task.task_id.value

    @property
    def agent_id(self) -> str:
        return self.task.agent_id.value


@record
class ReservationRecord(Record):
    """Resources (and volumes) reserved on one agent under one reservation id."""

    id: str = required()
    agent_id: AgentID = required()
    role: str = required()
    resources: list[Resource] = repeated()
    volumes: list[Resource] = repeated()
    hostname: str | None = None


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _decode(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as e:
        raise StoreError(f"{where} does not hold JSON: {e}") from None


class SchedulerState:
    """Typed access to a scheduler's store."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    # framework id

    async def framework_id(self) -> FrameworkID | None:
        raw = await self.store.get(_FRAMEWORK, "id")
        return None if raw is None else FrameworkID(value=raw.decode())

    async def set_framework_id(self, framework_id: FrameworkID) -> None:
        await self.store.put(_FRAMEWORK, "id", framework_id.value.encode())

    # tasks

    async def tasks(self) -> dict[str, TaskRecord]:
        return {r.task_id: r for r in await self._records(_TASKS, TaskRecord)}

    async def put_task(self, task: TaskRecord) -> None:
        await self.store.put(_TASKS, task.task_id, _encode(task.to_json()))

    async def remove_task(self, task_id: str) -> None:
        await self.store.delete(_TASKS, task_id)

    # reservations

    async def reservations(self) -> dict[str, ReservationRecord]:
        return {r.id: r for r in await self._records(_RESERVATIONS, ReservationRecord)}

    async def put_reservation(self, reservation: ReservationRecord) -> None:
        await self.store.put(_RESERVATIONS, reservation.id, _encode(reservation.to_json()))

    async def remove_reservation(self, reservation_id: str) -> None:
        await self.store.delete(_RESERVATIONS, reservation_id)

    # anything else, as JSON under data/<namespace>

    async def get_json(self, namespace: str, name: str) -> Any:
        raw = await self.store.get(self._data(namespace), name)
        return None if raw is None else _decode(raw, f"{namespace}/{name}")

    async def put_json(self, namespace: str, name: str, value: Any) -> None:
        await self.store.put(self._data(namespace), name, _encode(value))

    async def delete_json(self, namespace: str, name: str) -> None:
        await self.store.delete(self._data(namespace), name)

    async def names(self, namespace: str) -> list[str]:
        return await self.store.names(self._data(namespace))

    async def all_json(self, namespace: str) -> dict[str, Any]:
        """Every value under `namespace`, by name (read concurrently)."""
        names = await self.names(namespace)
        values = await asyncio.gather(*(self.get_json(namespace, n) for n in names))
        return {n: v for n, v in zip(names, values, strict=True) if v is not None}

    @staticmethod
    def _data(namespace: str) -> str:
        return f"{_DATA}/{check_namespace(namespace)}"

    async def _records(self, namespace: str, kind: type[Any]) -> list[Any]:
        names = await self.store.names(namespace)
        raws = await asyncio.gather(*(self.store.get(namespace, n) for n in names))
        out = []
        for name, raw in zip(names, raws, strict=True):
            if raw is None:
                continue  # removed while we listed
            try:
                out.append(kind.from_json(_decode(raw, f"{namespace}/{name}")))
            except WireError as e:
                raise StoreError(f"{namespace}/{name} is not a {kind.__name__}: {e}") from None
        return out
