"""The registry's logic on its document and the standalone FileStore: every change is
stored before it takes effect, a store that refuses leaves the document unchanged, and a
new Registry over the same store recovers what was written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mesos_runtime.master.maintenance import MachineID, MachineMode, MaintenanceSchedule
from mesos_runtime.master.registry import FileStore, MachineInfo, Registry, RegistryFenced
from mesos_runtime.wire.mesos import AgentID, AgentInfo, FrameworkID, FrameworkInfo


class FencedStore:
    """A store whose writes are refused, as a ZooKeeper store's are after losing
    leadership (a stand-in: the real fencing is tested with ZooKeeper)."""

    def __init__(self, data: bytes | None = None) -> None:
        self.data = data

    async def load(self) -> bytes | None:
        return self.data

    async def store(self, data: bytes) -> None:
        raise RegistryFenced("not the leader")


def agent(agent_id: str) -> AgentInfo:
    return AgentInfo(hostname="h", port=5051, id=AgentID(value=agent_id))


def framework(framework_id: str, failover: float = 10.0) -> FrameworkInfo:
    return FrameworkInfo(
        user="u", name="n", id=FrameworkID(value=framework_id), failover_timeout=failover
    )


async def test_file_store_round_trips_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    assert await store.load() is None
    await store.store(b'{"version": 1}')
    await store.store(b'{"version": 1, "x": 2}')
    assert await store.load() == b'{"version": 1, "x": 2}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.json"]


async def test_changes_are_recovered_by_a_new_registry(tmp_path: Path) -> None:
    registry = Registry(FileStore(tmp_path))
    await registry.recover()
    await registry.admit_agent(agent("a1"))
    await registry.admit_agent(agent("a2"))
    await registry.mark_unreachable("a2", 1000.0)
    await registry.add_framework(framework("f1"), 5.0)
    await registry.add_framework(framework("f1", failover=60.0), 99.0)
    schedule = MaintenanceSchedule.from_json(
        {
            "windows": [
                {
                    "machine_ids": [{"hostname": "h"}],
                    "unavailability": {"start": {"nanoseconds": 1}},
                }
            ]
        }
    )
    await registry.update_maintenance(
        schedule, [MachineInfo(id=MachineID(hostname="h"), mode=MachineMode.DRAINING)]
    )

    doc = await Registry(FileStore(tmp_path)).recover()
    assert [a.id.value for a in doc.agents] == ["a1"]
    assert [(u.id.value, u.timestamp.nanoseconds) for u in doc.unreachable] == [
        ("a2", 1000 * 10**9)
    ]
    (entry,) = doc.frameworks
    assert entry.framework_info.failover_timeout == 60.0
    assert entry.registered_time == 5.0  # re-subscription keeps the first registration
    assert doc.schedules == [schedule]
    assert doc.machines[0].mode is MachineMode.DRAINING


async def test_readmitting_an_unreachable_agent_clears_it(tmp_path: Path) -> None:
    registry = Registry(FileStore(tmp_path))
    await registry.mark_unreachable("a1", 1.0)
    await registry.admit_agent(agent("a1"))
    assert registry.document.unreachable == []
    assert [a.id.value for a in registry.document.agents] == ["a1"]


async def test_removed_agent_is_gone_for_good(tmp_path: Path) -> None:
    registry = Registry(FileStore(tmp_path))
    await registry.admit_agent(agent("a1"))
    await registry.remove_agent("a1")
    assert registry.document.agents == []
    assert registry.is_gone("a1")
    on_disk = json.loads((tmp_path / "registry.json").read_text())
    assert on_disk["gone"] == [{"value": "a1"}]


async def test_a_refused_write_changes_nothing() -> None:
    registry = Registry(FencedStore())
    await registry.recover()
    with pytest.raises(RegistryFenced):
        await registry.admit_agent(agent("a1"))
    with pytest.raises(RegistryFenced):
        await registry.add_framework(framework("f1"), 1.0)
    assert registry.document.agents == []
    assert registry.document.frameworks == []


async def test_removing_a_framework_forgets_it(tmp_path: Path) -> None:
    registry = Registry(FileStore(tmp_path))
    await registry.add_framework(framework("f1"), 1.0)
    await registry.add_framework(framework("f2"), 1.0)
    await registry.remove_framework("f1")
    assert [f.framework_info.id.value for f in registry.document.frameworks] == ["f2"]
