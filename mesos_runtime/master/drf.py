"""Dominant Resource Fairness bookkeeping: quantity vectors, dominant shares and an order
of clients by share that is updated one client at a time (never re-sorted per agent).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from mesos_runtime.wire.resources import Resources

# The resources DRF compares; ports and other ranges/sets never decide a share (as in Mesos).
SHARE_NAMES = ("cpus", "mem", "disk", "gpus")
_INDEX = {name: i for i, name in enumerate(SHARE_NAMES)}

Vector = list[float]
T = TypeVar("T")


def zero() -> Vector:
    return [0.0, 0.0, 0.0, 0.0]


def vector(resources: Resources) -> Vector:
    """The scalar quantities DRF looks at, whatever their reservation or allocation."""
    out = [0.0, 0.0, 0.0, 0.0]
    for key, value in resources:
        i = _INDEX.get(key.name)
        if i is not None and isinstance(value, float):
            out[i] += value
    return out


def vectors_by_role(resources: Resources) -> dict[str | None, Vector]:
    """Quantities split by allocation role (None for unallocated resources)."""
    out: dict[str | None, Vector] = {}
    for key, value in resources:
        i = _INDEX.get(key.name)
        if i is not None and isinstance(value, float):
            vec = out.get(key.allocation_role)
            if vec is None:
                vec = out[key.allocation_role] = [0.0, 0.0, 0.0, 0.0]
            vec[i] += value
    return out


def add_into(target: Vector, delta: Vector, sign: float = 1.0) -> None:
    # Three decimals as Resources keeps them, and never below zero, so shares cannot drift.
    for i in range(4):
        target[i] = max(0.0, round(target[i] + sign * delta[i], 3))


def is_zero(vec: Vector) -> bool:
    return not any(vec)


def add_fast(target: Vector, delta: Vector) -> None:
    """Adding never goes negative, and drift is rounded away by the next subtraction."""
    target[0] += delta[0]
    target[1] += delta[1]
    target[2] += delta[2]
    target[3] += delta[3]


def inverse(total: Vector) -> Vector:
    """1/total per resource (0 where the cluster has none), so a share is four products."""
    return [1.0 / t if t > 0.0 else 0.0 for t in total]


def share(allocated: Vector, inv: Vector) -> float:
    """Unweighted dominant share given `inverse(total)`."""
    return max(
        allocated[0] * inv[0], allocated[1] * inv[1], allocated[2] * inv[2], allocated[3] * inv[3]
    )


def dominant_share(allocated: Vector, total: Vector, weight: float = 1.0) -> float:
    return share(allocated, inverse(total)) / weight


class ShareOrder(Generic[T]):
    """Clients ordered by (share, name): lowest dominant share first, ties by name.

    Each entry carries its client object so iterating needs no lookups. Repositioning one
    client is a bisect plus a list move, so a cycle only pays for the clients whose
    allocation changed.
    """

    __slots__ = ("_keys", "entries")

    def __init__(self) -> None:
        # The live sorted list; callers must not change the order while iterating it.
        self.entries: list[tuple[float, str, T]] = []
        # name -> (share, name): (share, name) pairs are unique, so a bisect with one
        # lands on that client's entry without ever comparing client objects.
        self._keys: dict[str, tuple[float, str]] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._keys

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[str]:
        return (name for _, name, _ in self.entries)

    def share(self, name: str) -> float:
        return self._keys[name][0]

    def set(self, name: str, share: float, client: T) -> None:
        """Insert or reposition `name` (its client object never changes while present)."""
        keys = self._keys
        old = keys.get(name)
        if old is not None:
            if old[0] == share:
                return
            del self.entries[bisect_left(self.entries, old)]
        insort(self.entries, (share, name, client))
        keys[name] = (share, name)

    def discard(self, name: str) -> None:
        old = self._keys.pop(name, None)
        if old is not None:
            del self.entries[bisect_left(self.entries, old)]

    def rebuild(self, share_of: Callable[[T], float]) -> None:
        """Recompute every share (the cluster total changed) and sort once."""
        self.entries = sorted((share_of(client), name, client) for _, name, client in self.entries)
        self._keys = {name: (share, name) for share, name, _ in self.entries}
