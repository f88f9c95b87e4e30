"""The standalone state store and election: atomic files, any key name, fenced writes,
one instance per state directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesos_runtime.scheduler.election import ElectionError
from mesos_runtime.scheduler.ha import open_ha
from mesos_runtime.scheduler.state import SchedulerState
from mesos_runtime.scheduler.store import MAX_VALUE_SIZE, FileStateStore, NotLeader, StoreError
from mesos_runtime.wire.mesos import FrameworkID


async def test_values_round_trip_under_any_name_and_survive_a_new_store(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    names = ["/prod/web", "..", ".hidden", "a b%c", "plain"]
    for i, name in enumerate(names):
        await store.put("apps", name, f"v{i}".encode())
    again = FileStateStore(tmp_path)
    assert await again.names("apps") == sorted(names)
    assert [await again.get("apps", n) for n in names] == [f"v{i}".encode() for i in range(5)]
    await again.delete("apps", "/prod/web")
    await again.delete("apps", "never-there")
    assert await again.get("apps", "/prod/web") is None
    # every file sits directly in the namespace's directory, no temporary left behind
    assert sorted(p.name for p in (tmp_path / "apps").iterdir()) == sorted(
        p.name for p in (tmp_path / "apps").iterdir() if not p.name.startswith(".tmp")
    )
    assert all(p.parent == tmp_path / "apps" for p in (tmp_path / "apps").rglob("*"))


async def test_bad_namespaces_and_oversized_values_are_refused_and_change_nothing(
    tmp_path: Path,
) -> None:
    store = FileStateStore(tmp_path)
    await store.put("apps", "x", b"old")
    with pytest.raises(StoreError, match="exceeds"):
        await store.put("apps", "x", b"x" * (MAX_VALUE_SIZE + 1))
    for namespace in ("../etc", "Apps", "a//b", ""):
        with pytest.raises(StoreError, match="namespace"):
            await store.put(namespace, "x", b"1")
    assert await store.get("apps", "x") == b"old"


async def test_a_store_refuses_writes_once_its_instance_does_not_lead(tmp_path: Path) -> None:
    leading = True
    store = FileStateStore(tmp_path, fence=lambda: leading)
    await store.put("tasks", "t1", b"1")
    leading = False
    with pytest.raises(NotLeader):
        await store.put("tasks", "t1", b"2")
    with pytest.raises(NotLeader):
        await store.delete("tasks", "t1")
    assert await store.get("tasks", "t1") == b"1"


async def test_a_second_standalone_instance_on_one_directory_is_refused(tmp_path: Path) -> None:
    first = await open_ha(str(tmp_path), "one:8080")
    try:
        assert first.election.is_leader
        with pytest.raises(ElectionError, match="another instance holds"):
            await open_ha(str(tmp_path), "two:8080")
        state = SchedulerState(first.store)
        await state.set_framework_id(FrameworkID(value="fw-1"))
        await state.put_json("apps", "/a", {"id": "/a"})
    finally:
        await first.close()
    second = await open_ha(str(tmp_path), "two:8080")
    try:
        state = SchedulerState(second.store)
        assert await state.framework_id() == FrameworkID(value="fw-1")
        assert await state.all_json("apps") == {"/a": {"id": "/a"}}
    finally:
        await second.close()
