"""Resource arithmetic in the Mesos model: scalars, ranges and sets, keyed by reservation,
allocation role and disk identity.

`Resources` is an immutable value: `+`, `-` and `contains` never produce a negative
quantity or count anything twice. Scalars are kept to three decimals as Mesos' fixed-point
`Value::Scalar` does, so `0.1 + 0.2 - 0.3` is exactly empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .bounds import MAX_INT, MAX_SCALAR
from .errors import WireError
from .mesos import (
    AllocationInfo,
    DiskInfo,
    Label,
    Labels,
    Persistence,
    Range,
    Ranges,
    ReservationInfo,
    ReservationType,
    Resource,
    Scalar,
    ValueSet,
    ValueType,
    Volume,
    VolumeMode,
)

Interval = tuple[int, int]
Value = float | tuple[Interval, ...] | frozenset[str]


@dataclass(frozen=True, slots=True)
class Reservation:
    """One level of a (possibly refined) reservation; the last one is the current role."""

    type: str  # "STATIC" | "DYNAMIC"
    role: str
    principal: str | None = None
    # (key, value) pairs: frameworks tell their reservations apart by these, as in Mesos
    labels: tuple[tuple[str, str | None], ...] = ()

    def to_wire(self) -> ReservationInfo:
        return ReservationInfo(
            type=ReservationType(self.type),
            role=self.role,
            principal=self.principal,
            labels=Labels(labels=[Label(key=k, value=v) for k, v in self.labels])
            if self.labels
            else None,
        )


@dataclass(frozen=True, slots=True)
class Disk:
    """Identity of a persistent volume carved from disk (`CREATE`/`DESTROY`)."""

    persistence_id: str
    container_path: str
    principal: str | None = None
    mode: str = "RW"


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    reservations: tuple[Reservation, ...] = ()
    allocation_role: str | None = None
    disk: Disk | None = None

    @property
    def role(self) -> str:
        """The role the resource is reserved to, or "*" when unreserved."""
        return self.reservations[-1].role if self.reservations else "*"


# --- ranges -----------------------------------------------------------------------------


def _normalize(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    merged: list[list[int]] = []
    for begin, end in sorted(intervals):
        if merged and begin <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([begin, end])
    return tuple((b, e) for b, e in merged)


def _ranges_subtract(
    have: tuple[Interval, ...], take: tuple[Interval, ...]
) -> tuple[Interval, ...]:
    out: list[Interval] = []
    for begin, end in have:
        pieces = [(begin, end)]
        for tb, te in take:
            if te < begin or tb > end:
                continue
            nxt: list[Interval] = []
            for pb, pe in pieces:
                if te < pb or tb > pe:
                    nxt.append((pb, pe))
                    continue
                if pb < tb:
                    nxt.append((pb, tb - 1))
                if te < pe:
                    nxt.append((te + 1, pe))
            pieces = nxt
        out.extend(pieces)
    return tuple(out)


def _ranges_contain(have: tuple[Interval, ...], want: tuple[Interval, ...]) -> bool:
    return all(any(hb <= wb and we <= he for hb, he in have) for wb, we in want)


def _ranges_count(ranges: tuple[Interval, ...]) -> int:
    return sum(e - b + 1 for b, e in ranges)


# --- the value type -------------------------------------------------------------------


class Resources:
    """An immutable bag of resources keyed by name, reservation, allocation and disk."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[Key, Value] | None = None) -> None:
        self._items: dict[Key, Value] = items or {}

    # construction

    @classmethod
    def scalars(cls, role: str = "*", **amounts: float) -> Resources:
        """`Resources.scalars(cpus=1, mem=128)`: unreserved (or statically reserved) scalars."""
        res = (Reservation("STATIC", role),) if role != "*" else ()
        return cls({Key(n, res): round(float(v), 3) for n, v in amounts.items() if v > 0})

    @classmethod
    def from_wire(cls, resources: Iterable[Resource]) -> Resources:
        """Validate and sum wire resources; raises WireError naming the bad resource."""
        items: dict[Key, Value] = {}
        kinds: dict[str, ValueType] = {}
        for index, r in enumerate(resources):
            where = f"resource '{r.name}' (#{index})"
            if not r.name:
                raise WireError(f"resource #{index} has an empty name")
            if kinds.setdefault(r.name, r.type) is not r.type:
                raise WireError(f"{where}: mixes types {kinds[r.name].value} and {r.type.value}")
            key = Key(r.name, _reservations_of(r, where), _allocation_of(r), _disk_of(r))
            value = _value_of(r, where)
            _merge_into(items, key, value)
        return cls(items)

    @classmethod
    def parse(cls, text: str, default_role: str = "*") -> Resources:
        """Parse Mesos' `--resources` syntax: `cpus:2;mem:1024;ports:[31000-32000];disk(r):5`.

        A JSON list of resources is accepted too, as Mesos does.
        """
        text = text.strip()
        if text.startswith("["):
            import json

            try:
                raw = json.loads(text)
            except ValueError as e:
                raise WireError(f"resources: invalid JSON: {e}") from None
            if not isinstance(raw, list):
                raise WireError("resources: expected a JSON list")
            return cls.from_wire(
                Resource.from_json(r, f"resources[{i}]") for i, r in enumerate(raw)
            )
        items: dict[Key, Value] = {}
        for part in filter(None, (p.strip() for p in text.split(";"))):
            match = _RESOURCE_TEXT.fullmatch(part)
            if not match:
                raise WireError(f"resources: cannot parse {part!r} (expected name(role):value)")
            name, role, value = (
                match.group("name"),
                match.group("role") or default_role,
                match.group("value").strip(),
            )
            reservations = (Reservation("STATIC", role),) if role != "*" else ()
            parsed: Value
            if value.startswith("["):
                parsed = _parse_ranges(value, part)
            elif value.startswith("{"):
                parsed = frozenset(i.strip() for i in value[1:-1].split(",") if i.strip())
            else:
                try:
                    parsed = round(float(value), 3)
                except ValueError:
                    raise WireError(f"resources: {part!r} is not a number, range or set") from None
                if not 0 <= parsed <= MAX_SCALAR:  # also refuses inf and nan
                    raise WireError(f"resources: {part!r} is not a finite, non-negative number")
            _merge_into(items, Key(name, reservations), parsed)
        return cls(items)

    # access

    def __iter__(self) -> Iterator[tuple[Key, Value]]:
        return iter(self._items.items())

    def __bool__(self) -> bool:
        return bool(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resources) and self._items == other._items

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"Resources({self})"

    def __str__(self) -> str:
        parts = []
        for key, value in sorted(self._items.items(), key=lambda kv: (kv[0].name, repr(kv[0]))):
            label = key.name if key.role == "*" else f"{key.name}({key.role})"
            if isinstance(value, float):
                shown = f"{value:g}"
            elif isinstance(value, tuple):
                shown = "[" + ", ".join(f"{b}-{e}" for b, e in value) + "]"
            else:
                shown = "{" + ",".join(sorted(value)) + "}"
            parts.append(f"{label}:{shown}")
        return ";".join(parts)

    def scalar(self, name: str) -> float:
        total = 0.0
        for key, value in self._items.items():
            if key.name == name and isinstance(value, float):
                total += value
        return round(total, 3)

    @property
    def cpus(self) -> float:
        return self.scalar("cpus")

    @property
    def mem(self) -> float:
        return self.scalar("mem")

    @property
    def disk(self) -> float:
        return self.scalar("disk")

    def ranges(self, name: str) -> tuple[Interval, ...]:
        return _normalize(
            iv
            for k, v in self._items.items()
            if k.name == name and isinstance(v, tuple)
            for iv in v
        )

    def ports(self) -> tuple[Interval, ...]:
        return self.ranges("ports")

    def quantities(self) -> dict[str, float]:
        """Scalar totals per name, plus range/set sizes: what DRF shares are computed from."""
        out: dict[str, float] = {}
        for key, value in self._items.items():
            if isinstance(value, float):
                amount = value
            elif isinstance(value, tuple):
                amount = float(_ranges_count(value))
            else:
                amount = float(len(value))
            out[key.name] = round(out.get(key.name, 0.0) + amount, 3)
        return out

    # arithmetic

    def __add__(self, other: Resources) -> Resources:
        items = dict(self._items)
        for key, value in other._items.items():
            _merge_into(items, key, value)
        return Resources(items)

    def __sub__(self, other: Resources) -> Resources:
        """Remove what `other` holds; quantities never go below zero."""
        items = dict(self._items)
        for key, take in other._items.items():
            have = items.get(key)
            if have is None:
                continue
            left: Value
            if isinstance(have, float):
                left = round(have - take, 3)  # type: ignore[operator]
                if left <= 0:
                    del items[key]
                    continue
            elif isinstance(have, tuple):
                left = _ranges_subtract(have, take)  # type: ignore[arg-type]
                if not left:
                    del items[key]
                    continue
            else:
                left = have - take  # type: ignore[operator]
                if not left:
                    del items[key]
                    continue
            items[key] = left
        return Resources(items)

    def contains(self, other: Resources) -> bool:
        for key, want in other._items.items():
            have = self._items.get(key)
            if have is None:
                return False
            if isinstance(have, float):
                if not isinstance(want, float) or want > have + 1e-9:
                    return False
            elif isinstance(have, tuple):
                if not isinstance(want, tuple) or not _ranges_contain(have, want):
                    return False
            elif not isinstance(want, frozenset) or not want <= have:
                return False
        return True

    # views and transformations

    def filter(self, keep: Callable[[Key], bool]) -> Resources:
        return Resources({k: v for k, v in self._items.items() if keep(k)})

    def _map_keys(self, change: Callable[[Key], Key]) -> Resources:
        items: dict[Key, Value] = {}
        for key, value in self._items.items():
            _merge_into(items, change(key), value)
        return Resources(items)

    def unreserved(self) -> Resources:
        return self.filter(lambda k: not k.reservations)

    def reserved(self, role: str | None = None) -> Resources:
        if role is None:
            return self.filter(lambda k: bool(k.reservations))
        return self.filter(lambda k: bool(k.reservations) and k.role == role)

    def allocatable_to(self, role: str) -> Resources:
        """Unreserved resources plus those reserved to `role` or one of its ancestors."""
        return self.filter(lambda k: not k.reservations or _is_ancestor_or_self(k.role, role))

    def allocate(self, role: str) -> Resources:
        return self._map_keys(lambda k: Key(k.name, k.reservations, role, k.disk))

    def unallocated(self) -> Resources:
        return self._map_keys(lambda k: Key(k.name, k.reservations, None, k.disk))

    def allocation_roles(self) -> set[str]:
        return {k.allocation_role for k in self._items if k.allocation_role is not None}

    def push_reservation(self, reservation: Reservation) -> Resources:
        return self._map_keys(
            lambda k: Key(k.name, (*k.reservations, reservation), k.allocation_role, k.disk)
        )

    def pop_reservation(self) -> Resources:
        return self._map_keys(lambda k: Key(k.name, k.reservations[:-1], k.allocation_role, k.disk))

    def without_volumes(self) -> Resources:
        """The same resources with persistent volumes turned back into plain disk."""
        return self._map_keys(lambda k: Key(k.name, k.reservations, k.allocation_role, None))

    def to_wire(self) -> list[Resource]:
        out = []
        for key, value in sorted(self._items.items(), key=lambda kv: (kv[0].name, repr(kv[0]))):
            r = Resource(name=key.name, type=ValueType.SCALAR, role=key.role)
            if isinstance(value, float):
                r.scalar = Scalar(value=value)
            elif isinstance(value, tuple):
                r.type = ValueType.RANGES
                r.ranges = Ranges(range=[Range(begin=b, end=e) for b, e in value])
            else:
                r.type = ValueType.SET
                r.set = ValueSet(item=sorted(value))
            if key.reservations:
                r.reservations = [res.to_wire() for res in key.reservations]
            if key.allocation_role is not None:
                r.allocation_info = AllocationInfo(role=key.allocation_role)
            if key.disk is not None:
                r.disk = DiskInfo(
                    persistence=Persistence(
                        id=key.disk.persistence_id, principal=key.disk.principal
                    ),
                    volume=Volume(
                        container_path=key.disk.container_path, mode=VolumeMode(key.disk.mode)
                    ),
                )
            out.append(r)
        return out


# --- helpers ------------------------------------------------------------------------------

_RESOURCE_TEXT = re.compile(
    r"(?P<name>[A-Za-z0-9_.\-]+)(?:\((?P<role>[^)]*)\))?\s*:\s*(?P<value>.+)"
)


def _is_ancestor_or_self(ancestor: str, role: str) -> bool:
    return ancestor == role or role.startswith(ancestor + "/")


def _parse_ranges(text: str, where: str) -> tuple[Interval, ...]:
    if not text.endswith("]"):
        raise WireError(f"resources: {where!r} has an unterminated range list")
    intervals = []
    for piece in filter(None, (p.strip() for p in text[1:-1].split(","))):
        bounds = piece.split("-")
        try:
            begin, end = (int(bounds[0]), int(bounds[-1]))
        except ValueError:
            raise WireError(f"resources: {where!r}: bad range {piece!r}") from None
        if len(bounds) > 2 or begin > end or begin < 0 or end > MAX_INT:
            raise WireError(f"resources: {where!r}: bad range {piece!r}")
        intervals.append((begin, end))
    return _normalize(intervals)


def _reservations_of(r: Resource, where: str) -> tuple[Reservation, ...]:
    if r.reservations:
        out = []
        for info in r.reservations:
            if not info.role or info.role == "*":
                raise WireError(f"{where}: a reservation needs a role other than '*'")
            kind = info.type.value if info.type else "DYNAMIC"
            labels = tuple((x.key, x.value) for x in info.labels.labels) if info.labels else ()
            out.append(Reservation(kind, info.role, info.principal, labels))
        return tuple(out)
    if r.role and r.role != "*":
        # pre-refinement format: `reservation` present means a dynamic reservation
        if r.reservation is not None:
            info = r.reservation
            labels = tuple((x.key, x.value) for x in info.labels.labels) if info.labels else ()
            return (Reservation("DYNAMIC", r.role, info.principal, labels),)
        return (Reservation("STATIC", r.role),)
    return ()


def _allocation_of(r: Resource) -> str | None:
    return r.allocation_info.role if r.allocation_info and r.allocation_info.role else None


def _disk_of(r: Resource) -> Disk | None:
    if r.disk is None or r.disk.persistence is None:
        return None
    volume = r.disk.volume
    return Disk(
        persistence_id=r.disk.persistence.id,
        container_path=volume.container_path if volume else r.disk.persistence.id,
        principal=r.disk.persistence.principal,
        mode=volume.mode.value if volume and volume.mode else "RW",
    )


def _value_of(r: Resource, where: str) -> Value:
    if r.type is ValueType.SCALAR:
        if r.scalar is None:
            raise WireError(f"{where}: SCALAR resource without 'scalar'")
        value = round(r.scalar.value, 3)
        if not 0 <= value <= MAX_SCALAR:  # also refuses NaN
            raise WireError(
                f"{where}: scalar must be a finite, non-negative number (at most {MAX_SCALAR:g})"
            )
        return value
    if r.type is ValueType.RANGES:
        if r.ranges is None:
            raise WireError(f"{where}: RANGES resource without 'ranges'")
        intervals = [(x.begin, x.end) for x in r.ranges.range]
        if any(b > e or b < 0 for b, e in intervals):
            raise WireError(f"{where}: a range has begin > end or is negative")
        ordered = sorted(intervals)
        if any(ordered[i][1] >= ordered[i + 1][0] for i in range(len(ordered) - 1)):
            raise WireError(f"{where}: ranges overlap")
        return _normalize(intervals)
    if r.type is ValueType.SET:
        if r.set is None:
            raise WireError(f"{where}: SET resource without 'set'")
        if len(set(r.set.item)) != len(r.set.item):
            raise WireError(f"{where}: set has duplicate items")
        return frozenset(r.set.item)
    raise WireError(f"{where}: unsupported resource type {r.type.value}")


def _merge_into(items: dict[Key, Value], key: Key, value: Value) -> None:
    have = items.get(key)
    if have is None:
        if value:
            items[key] = value
        return
    if isinstance(have, float) and isinstance(value, float):
        items[key] = round(have + value, 3)
    elif isinstance(have, tuple) and isinstance(value, tuple):
        items[key] = _normalize(have + value)
    elif isinstance(have, frozenset) and isinstance(value, frozenset):
        items[key] = have | value
    else:
        raise WireError(f"resource '{key.name}' mixes value types")
