"""Does a task fit an offer? Match a `ResourceRequest` (cpus, mem, disk, named ports, roles,
a reservation, persistent volumes, placement constraints) against one offer.

A match is the exact resources to put in the TaskInfo (keeping the offer's reservations and
allocation role) and the ports chosen; a mismatch names why, with Marathon's reasons
(`InsufficientCpus`, `UnfulfilledConstraint`, ...), for queue views and logs.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mesos_runtime.wire.mesos import Offer
from mesos_runtime.wire.resources import Key, Resources

from .constraints import Constraint, Placement, unmet_constraint

__all__ = [
    "RESERVATION_LABEL",
    "NoMatch",
    "OfferMatch",
    "OfferMismatch",
    "PortRequest",
    "ResourceRequest",
    "VolumeRequest",
    "match_offer",
    "reservation_id_of",
]

# the reservation label by which a scheduler finds its own reservations again
RESERVATION_LABEL = "resource_id"


class NoMatch(enum.Enum):
    """Why an offer was not used (Marathon's names, shown in `/v2/queue`)."""

    UnfulfilledRole = "UnfulfilledRole"
    UnfulfilledConstraint = "UnfulfilledConstraint"
    NoCorrespondingReservationFound = "NoCorrespondingReservationFound"
    InsufficientCpus = "InsufficientCpus"
    InsufficientMemory = "InsufficientMemory"
    InsufficientDisk = "InsufficientDisk"
    InsufficientPorts = "InsufficientPorts"


_SCALAR_REASONS = {
    "cpus": NoMatch.InsufficientCpus,
    "mem": NoMatch.InsufficientMemory,
    "disk": NoMatch.InsufficientDisk,
}


@dataclass(frozen=True, slots=True)
class PortRequest:
    """One port: `number` 0 takes any free port of the offer, else exactly that one."""

    name: str | None = None
    number: int = 0


@dataclass(frozen=True, slots=True)
class VolumeRequest:
    """A persistent volume of `size` MB at `container_path`, known by `persistence_id`."""

    persistence_id: str
    container_path: str
    size: float
    mode: str = "RW"


@dataclass(frozen=True, slots=True)
class ResourceRequest:
    """What one task needs from an offer.

    `roles`: reservation roles whose resources may be used (`*` = unreserved; None = any
    the offer carries). `reservation_id`: take only resources reserved under that
    reservation (and its `volumes`); without it, resources reserved for another
    reservation id, and persistent volumes, are never taken.
    """

    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0
    ports: tuple[PortRequest, ...] = ()
    roles: tuple[str, ...] | None = None
    reservation_id: str | None = None
    volumes: tuple[VolumeRequest, ...] = ()
    constraints: tuple[Constraint, ...] = ()


@dataclass
class OfferMatch:
    resources: Resources  # allocated like the offer: put them in TaskInfo.resources
    ports: list[int] = field(default_factory=list)  # in the order of the request's ports

    def port_names(self, request: ResourceRequest) -> dict[str, int]:
        return {p.name: n for p, n in zip(request.ports, self.ports, strict=True) if p.name}


@dataclass
class OfferMismatch:
    reasons: list[NoMatch]
    constraint: Constraint | None = None

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        why = ", ".join(r.value for r in self.reasons)
        return f"{why} ({self.constraint})" if self.constraint else why


def reservation_id_of(key: Key) -> str | None:
    """The reservation id a (dynamically reserved) resource carries in its labels."""
    if not key.reservations:
        return None
    for label, value in key.reservations[-1].labels:
        if label == RESERVATION_LABEL:
            return value
    return None


def match_offer(
    request: ResourceRequest,
    offer: Offer,
    *,
    available: Resources | None = None,
    placed: Sequence[Placement] = (),
    instances: int = 1,
) -> OfferMatch | OfferMismatch:
    """Match `request` against `offer` (or what is left of it: `available`).

    `placed` are the app's (or pod's) other instances and `instances` how many it wants in
    all, for the constraints. Subtract a match's `resources` from `available` before
    matching the next task against the same offer.
    """
    if request.constraints:
        broken = unmet_constraint(request.constraints, Placement.of_offer(offer), placed, instances)
        if broken is not None:
            return OfferMismatch([NoMatch.UnfulfilledConstraint], broken)
    pool = Resources.from_wire(offer.resources) if available is None else available
    usable = pool.filter(_usable_by(request))
    if not usable:
        reason = (
            NoMatch.NoCorrespondingReservationFound
            if request.reservation_id
            else NoMatch.UnfulfilledRole
        )
        return OfferMismatch([reason])
    taken = Resources()
    reasons: list[NoMatch] = []
    plain = usable.filter(lambda k: k.disk is None)
    for name, amount in (("cpus", request.cpus), ("mem", request.mem), ("disk", request.disk)):
        if amount <= 0:
            continue
        got = _take_scalar(plain, name, amount)
        if got is None:
            reasons.append(_SCALAR_REASONS[name])
        else:
            taken = taken + got
    for volume in request.volumes:
        found = usable.filter(_volume_key(volume.persistence_id))
        if found.disk + 1e-9 < volume.size:
            reasons.append(NoMatch.NoCorrespondingReservationFound)
        else:
            taken = taken + found
    ports = _take_ports(plain, request.ports)
    if ports is None:
        reasons.append(NoMatch.InsufficientPorts)
    if reasons:
        return OfferMismatch(reasons)
    assert ports is not None
    resources, numbers = ports
    return OfferMatch(taken + resources, numbers)


def _usable_by(request: ResourceRequest) -> Callable[[Key], bool]:
    def usable(key: Key) -> bool:
        reserved_for = reservation_id_of(key)
        if request.reservation_id is not None:
            return reserved_for == request.reservation_id
        if reserved_for is not None or key.disk is not None:
            return False  # another reservation's resources, or someone's volume
        return request.roles is None or key.role in request.roles

    return usable


def _volume_key(persistence_id: str) -> Callable[[Key], bool]:
    return lambda k: k.disk is not None and k.disk.persistence_id == persistence_id


def _take_scalar(pool: Resources, name: str, amount: float) -> Resources | None:
    """`amount` of `name`, reserved resources first (Mesos offers them to be used)."""
    items = sorted(
        ((k, v) for k, v in pool if k.name == name and isinstance(v, float)),
        key=lambda kv: not kv[0].reservations,
    )
    left = round(float(amount), 3)
    out: dict[Key, float] = {}
    for key, have in items:
        if left <= 0:
            break
        use = round(float(min(have, left)), 3)
        out[key] = use
        left = round(left - use, 3)
    return Resources(dict(out)) if left <= 0 else None


def _take_ports(
    pool: Resources, wanted: Sequence[PortRequest]
) -> tuple[Resources, list[int]] | None:
    if not wanted:
        return Resources(), []
    ranges = [(k, v) for k, v in pool if k.name == "ports" and isinstance(v, tuple)]
    chosen: list[tuple[Key, int]] = []
    used: set[int] = set()
    for port in wanted:
        if port.number:
            owner = next((k for k, v in ranges if _in(v, port.number)), None)
            if owner is None or port.number in used:
                return None
            chosen.append((owner, port.number))
            used.add(port.number)
    for index, port in enumerate(wanted):
        if port.number:
            continue
        pick = _first_free(ranges, used)
        if pick is None:
            return None
        chosen.insert(index, pick)
        used.add(pick[1])
    resources = Resources()
    for key, number in chosen:
        resources = resources + Resources({key: ((number, number),)})
    return resources, [n for _, n in chosen]


def _in(intervals: tuple[tuple[int, int], ...], port: int) -> bool:
    return any(b <= port <= e for b, e in intervals)


def _first_free(
    ranges: list[tuple[Key, tuple[tuple[int, int], ...]]], used: set[int]
) -> tuple[Key, int] | None:
    for key, intervals in ranges:
        for begin, end in intervals:
            for port in range(begin, end + 1):
                if port not in used:
                    return key, port
    return None
