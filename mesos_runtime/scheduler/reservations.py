"""The life of a reservation: RESERVE → CREATE volume → LAUNCH, its resizing (UNRESERVE
the old amounts → RESERVE the new, volumes kept) and its undoing DESTROY → UNRESERVE.

A reservation is dynamic, in the framework's role, and labelled `resource_id=<id>` so the
scheduler recognises its resources when they are offered again (after the task ends, or a
failover); persistent volumes carry ids derived from it. All functions are pure: they turn
an offer and a request into operations for one ACCEPT.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesos_runtime.wire.mesos import Offer, Operation
from mesos_runtime.wire.resources import Disk, Key, Reservation, Resources

from . import calls
from .offers import (
    RESERVATION_LABEL,
    OfferMatch,
    OfferMismatch,
    ResourceRequest,
    VolumeRequest,
    match_offer,
    reservation_id_of,
)
from .state import ReservationRecord

__all__ = [
    "ReservePlan",
    "plan_reservation",
    "plan_resize",
    "reserved_for",
    "unreserve_operations",
    "unreserved_for_resize",
    "volume_request",
]


@dataclass
class ReservePlan:
    """The operations that reserve (and create volumes) and what the task then launches with."""

    operations: list[Operation]
    resources: Resources  # the reserved resources and volumes, for TaskInfo.resources
    ports: list[int]
    record: ReservationRecord


def volume_request(
    reservation_id: str, container_path: str, size: float, mode: str = "RW"
) -> VolumeRequest:
    """A volume whose persistence id is derived from the reservation's."""
    return VolumeRequest(f"{reservation_id}#{container_path}", container_path, size, mode)


def plan_reservation(
    request: ResourceRequest,
    offer: Offer,
    reservation_id: str,
    *,
    role: str,
    principal: str | None = None,
    available: Resources | None = None,
) -> ReservePlan | OfferMismatch:
    """RESERVE `request` (its scalars, ports and the disk of its volumes) out of the
    offer's unreserved resources, then CREATE its volumes."""
    volume_disk = sum(v.size for v in request.volumes)
    plain = ResourceRequest(
        cpus=request.cpus,
        mem=request.mem,
        disk=request.disk + volume_disk,
        ports=request.ports,
        roles=("*",),
        constraints=request.constraints,
    )
    matched = match_offer(plain, offer, available=available)
    if isinstance(matched, OfferMismatch):
        return matched
    assert isinstance(matched, OfferMatch)
    reserved = _reserve(matched.resources, reservation_id, role, principal)
    volumes = Resources()
    rest = reserved
    for volume in request.volumes:
        disk = _carve_disk(rest, volume.size)
        rest = rest - disk
        volumes = volumes + _as_volume(disk, volume, principal)
    operations = [calls.reserve_operation(reserved.to_wire())]
    if request.volumes:
        operations.append(calls.create_operation(volumes.to_wire()))
    record = _record(offer, reservation_id, role, reserved, volumes)
    return ReservePlan(operations, rest + volumes, matched.ports, record)


def plan_resize(
    request: ResourceRequest,
    offer: Offer,
    reservation_id: str,
    *,
    role: str,
    principal: str | None = None,
    available: Resources | None = None,
) -> ReservePlan | OfferMismatch:
    """Give the reservation the scalars and ports of `request` instead of what it holds:
    UNRESERVE its resources (not its volumes, which keep their data), then RESERVE the new
    amounts from those and the offer's unreserved resources, under the same id. A
    mismatch (the agent has no room) changes nothing. `ReservePlan.resources` is the new
    reservation with its volumes, to launch with."""
    pool = Resources.from_wire(offer.resources) if available is None else available
    held = _held(pool, reservation_id)
    plain = held.filter(lambda k: k.disk is None)
    volumes = held - plain
    wanted = ResourceRequest(
        cpus=request.cpus, mem=request.mem, disk=request.disk, ports=request.ports, roles=("*",)
    )
    matched = match_offer(wanted, offer, available=unreserved_for_resize(pool, reservation_id))
    if isinstance(matched, OfferMismatch):
        return matched
    assert isinstance(matched, OfferMatch)
    reserved = _reserve(matched.resources, reservation_id, role, principal)
    operations = []
    if plain:
        operations.append(calls.unreserve_operation(plain.to_wire()))
    operations.append(calls.reserve_operation(reserved.to_wire()))
    record = _record(offer, reservation_id, role, reserved, volumes)
    return ReservePlan(operations, reserved + volumes, matched.ports, record)


def unreserved_for_resize(pool: Resources, reservation_id: str) -> Resources:
    """The pool as a resize sees it: the reservation's resources back to unreserved, its
    volumes set aside (they are kept, not offered again)."""
    held = _held(pool, reservation_id)
    return (pool - held) + held.filter(lambda k: k.disk is None).pop_reservation()


def reserved_for(offer: Offer, reservation_id: str) -> Resources:
    """Everything the offer holds under `reservation_id` (volumes included)."""
    return _held(Resources.from_wire(offer.resources), reservation_id)


def _held(pool: Resources, reservation_id: str) -> Resources:
    return pool.filter(lambda k: reservation_id_of(k) == reservation_id)


def _reserve(
    resources: Resources, reservation_id: str, role: str, principal: str | None
) -> Resources:
    """`resources` dynamically reserved for `role`, labelled with the reservation's id."""
    label = ((RESERVATION_LABEL, reservation_id),)
    return resources.push_reservation(Reservation("DYNAMIC", role, principal, label))


def _record(
    offer: Offer, reservation_id: str, role: str, reserved: Resources, volumes: Resources
) -> ReservationRecord:
    return ReservationRecord(
        id=reservation_id,
        agent_id=offer.agent_id,
        role=role,
        resources=reserved.unallocated().to_wire(),
        volumes=volumes.unallocated().to_wire(),
        hostname=offer.hostname,
    )


def unreserve_operations(offer: Offer, reservation_id: str) -> list[Operation]:
    """DESTROY the reservation's volumes, then UNRESERVE all of it (empty: not offered)."""
    held = reserved_for(offer, reservation_id)
    if not held:
        return []
    volumes = held.filter(lambda k: k.disk is not None)
    operations = []
    if volumes:
        operations.append(calls.destroy_operation(volumes.to_wire()))
    operations.append(calls.unreserve_operation(held.without_volumes().to_wire()))
    return operations


def _carve_disk(reserved: Resources, size: float) -> Resources:
    out: dict[Key, float] = {}
    left = round(float(size), 3)
    for key, value in reserved:
        if key.name != "disk" or key.disk is not None or not isinstance(value, float):
            continue
        use = round(float(min(value, left)), 3)
        if use > 0:
            out[key] = use
            left = round(left - use, 3)
        if left <= 0:
            break
    return Resources(dict(out))


def _as_volume(disk: Resources, volume: VolumeRequest, principal: str | None) -> Resources:
    identity = Disk(volume.persistence_id, volume.container_path, principal, volume.mode)
    items = {Key(k.name, k.reservations, k.allocation_role, identity): v for k, v in disk}
    return Resources(items)
