"""Persistent volumes on the agent, as Mesos' `filesystem/posix` isolator keeps them.

A task whose disk resource carries `disk.persistence.id` and `disk.volume.container_path`
gets the directory `<work_dir>/volumes/roles/<role>/<persistence_id>` (created on first
use, kept across task and agent restarts) linked into its sandbox at `container_path`.
When the master checkpoints a set of resources without a volume (after DESTROY) its
directory is removed, as Mesos' `Slave::checkpointResources` does.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mesos_runtime.wire.mesos import Resource
from mesos_runtime.wire.resources import Resources

from .paths import UnsafePath, component

__all__ = ["PersistentVolume", "VolumeError", "link_volumes", "remove_destroyed", "volumes_of"]

log = logging.getLogger(__name__)


class VolumeError(ValueError):
    """A volume that cannot be given to a task (its path would escape the sandbox)."""


@dataclass(frozen=True, slots=True)
class PersistentVolume:
    role: str
    persistence_id: str
    container_path: str

    def host_path(self, work_dir: Path) -> Path:
        """`<work_dir>/volumes/roles/<role>/<id>`; a hierarchical role nests directories."""
        try:
            parts = [component("role", p) for p in self.role.split("/")]
            pid = component("persistence id", self.persistence_id)
        except UnsafePath as e:
            raise VolumeError(str(e)) from None
        return work_dir.joinpath("volumes", "roles", *parts, pid)


def volumes_of(resources: Iterable[Resource]) -> list[PersistentVolume]:
    """The persistent volumes among `resources`."""
    out = []
    for key, _value in Resources.from_wire(resources):
        if key.disk is not None and key.disk.persistence_id:
            out.append(PersistentVolume(key.role, key.disk.persistence_id, key.disk.container_path))
    return out


def _inside(sandbox: Path, container_path: str) -> Path:
    pure = PurePosixPath(container_path)
    if pure.is_absolute() or ".." in pure.parts or container_path in ("", "."):
        raise VolumeError(
            f"volume container path {container_path!r} must be relative to the sandbox "
            "and stay inside it"
        )
    return sandbox.joinpath(*pure.parts)


def link_volumes(work_dir: Path, sandbox: Path, resources: Iterable[Resource]) -> list[Path]:
    """Create each volume's directory (first use) and symlink it into `sandbox`."""
    linked = []
    for volume in volumes_of(resources):
        target = _inside(sandbox, volume.container_path)
        host = volume.host_path(work_dir)
        host.mkdir(parents=True, exist_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        # resolve after creating the parents: a symlinked parent must not lead outside
        if not target.parent.resolve().is_relative_to(sandbox.resolve()):
            raise VolumeError(f"volume container path {volume.container_path!r} leaves the sandbox")
        if target.is_symlink() or target.exists():
            if target.is_symlink() and Path(os.readlink(target)) == host:
                linked.append(target)
                continue
            raise VolumeError(f"volume container path {volume.container_path!r} already exists")
        target.symlink_to(host, target_is_directory=True)
        linked.append(target)
    return linked


def remove_destroyed(
    work_dir: Path, before: Iterable[Resource], after: Iterable[Resource]
) -> list[Path]:
    """Remove the directories of volumes checkpointed `before` but not `after` (DESTROY)."""
    kept = {(v.role, v.persistence_id) for v in volumes_of(after)}
    removed = []
    for volume in volumes_of(before):
        if (volume.role, volume.persistence_id) in kept:
            continue
        try:
            host = volume.host_path(work_dir)
        except VolumeError as e:
            log.warning("not removing volume: %s", e)
            continue
        if host.exists():
            shutil.rmtree(host, ignore_errors=True)
            log.info("removed destroyed persistent volume %s", host)
            removed.append(host)
    return removed
