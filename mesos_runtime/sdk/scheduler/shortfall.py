"""Why no offer places a pod instance, said on its step: each offer that cannot place it
leaves a `Shortfall` (a placement rule the agent breaks, or what the pod needs beside
what the offer has), and the best recent one per agent makes the step's message
(`waiting for an offer: needs disk 4000 MB for volume data; the best offer (h3) has disk
2048 MB`), as the SDK's plan status says, instead of a log line per offer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mesos_runtime.sdk.spec import PodSpec
from mesos_runtime.wire.resources import Resources

__all__ = [
    "WAITING",
    "Lack",
    "PodNeed",
    "Shortfall",
    "Shortfalls",
    "shortfall_of",
    "with_waiting",
]

WAITING = "waiting for an offer: "
# the part of a step's message these notes own (after any other message, e.g. "replace: …")
_OURS = re.compile(r"(^|; )waiting for (an offer: |peer )")
_HOSTS_SHOWN = 4
# an agent whose offers stopped coming (gone, or its offers filtered) is forgotten after
# this long (seconds); wanting agents' offers come back every few seconds
FRESH_FOR = 30.0


@dataclass(frozen=True)
class PodNeed:
    """What placing a pod instance reserves: its tasks' scalars, its volumes, its ports."""

    cpus: float
    mem: float
    disk: float  # the tasks' own disk, beside volumes
    volumes: tuple[tuple[str, float], ...] = ()  # (name, MB)
    ports: tuple[int, ...] = ()  # 0: any port

    @classmethod
    def of(cls, pod: PodSpec) -> PodNeed:
        return cls(
            cpus=round(sum(t.cpus for t in pod.tasks), 3),
            mem=round(sum(t.memory for t in pod.tasks), 3),
            disk=round(sum(t.disk for t in pod.tasks), 3),
            volumes=tuple(
                (v.name, float(v.size))
                for v in [*pod.volumes, *(v for t in pod.tasks for v in t.volumes)]
            ),
            ports=tuple(p.port for t in pod.tasks for p in t.ports),
        )


@dataclass(frozen=True)
class Lack:
    """One resource the offer has too little of: what is needed, what it has."""

    need: str  # "disk 4000 MB for volume data"
    have: str  # "disk 2048 MB"
    closeness: float  # have / need, 0..1: how near the offer comes


@dataclass(frozen=True)
class Shortfall:
    """Why one agent's offer cannot place the instance: a rule, or what it lacks."""

    hostname: str
    rule: str | None = None  # "placement hostname:UNIQUE"
    lacks: tuple[Lack, ...] = ()

    def rank(self) -> tuple[bool, int, float]:
        """Lower is nearer to serving: rules out never beats short of something."""
        return (self.rule is not None, len(self.lacks), -sum(x.closeness for x in self.lacks))


def _mb(value: float) -> str:
    return f"{value:g} MB"


def _disk_need(need: PodNeed) -> str:
    total = need.disk + sum(size for _, size in need.volumes)
    if not need.volumes:
        return f"disk {_mb(total)}"
    names = ", ".join(name for name, _ in need.volumes)
    volumes = f"volume{'s' if len(need.volumes) > 1 else ''} {names}"
    if not need.disk:
        return f"disk {_mb(total)} for {volumes}"
    return f"disk {_mb(total)} ({_mb(need.disk)} for its tasks, the rest for {volumes})"


def shortfall_of(need: PodNeed, available: Resources, hostname: str) -> Shortfall:
    """What the unreserved part of `available` (what is left of an offer) lacks for `need`."""
    pool = available.filter(lambda k: not k.reservations and k.disk is None)
    lacks = []
    for name, amount, shown in (
        ("cpus", need.cpus, f"cpus {need.cpus:g}"),
        ("mem", need.mem, f"mem {_mb(need.mem)}"),
        ("disk", need.disk + sum(s for _, s in need.volumes), _disk_need(need)),
    ):
        have = pool.scalar(name)
        if amount > 0 and have + 1e-6 < amount:
            value = f"{have:g}" if name == "cpus" else _mb(have)
            lacks.append(Lack(shown, f"{name} {value}", have / amount))
    free = pool.ports()
    fixed = [p for p in need.ports if p]
    taken = [p for p in fixed if not any(b <= p <= e for b, e in free)]
    count = sum(e - b + 1 for b, e in free)
    if taken:
        numbers = ", ".join(str(p) for p in taken)
        plural = "s" if len(taken) > 1 else ""
        lacks.append(Lack(f"port{plural} {numbers}", f"no port{plural} {numbers}", 0.0))
    elif count < len(need.ports):
        lacks.append(Lack(f"{len(need.ports)} ports", f"{count} ports", count / len(need.ports)))
    return Shortfall(hostname, lacks=tuple(lacks))


def _hosts(names: list[str]) -> str:
    shown = ", ".join(names[:_HOSTS_SHOWN])
    more = len(names) - _HOSTS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


class Shortfalls:
    """The latest shortfall of each agent's offers, per pod instance not yet placed."""

    def __init__(self) -> None:
        # instance -> agent id -> (when, shortfall)
        self._seen: dict[str, dict[str, tuple[float, Shortfall]]] = {}

    def note(self, instance: str, agent_id: str, shortfall: Shortfall, now: float) -> None:
        self._seen.setdefault(instance, {})[agent_id] = (now, shortfall)

    def placed(self, instance: str) -> None:
        self._seen.pop(instance, None)

    def message(self, instance: str, now: float) -> str | None:
        """Why the instance waits, from the best recent offer of each agent, or None."""
        seen = self._seen.get(instance, {})
        for agent in [a for a, (when, _) in seen.items() if now - when > FRESH_FOR]:
            del seen[agent]
        fresh = sorted((s for _, s in seen.values()), key=lambda s: (s.rank(), s.hostname))
        if not fresh:
            return None
        best = fresh[0]
        ruled: dict[str, list[str]] = {}
        for s in fresh:
            if s.rule is not None:
                ruled.setdefault(s.rule, []).append(s.hostname)
        rules = "; ".join(f"{_hosts(hosts)} by {rule}" for rule, hosts in ruled.items())
        if best.rule is not None:
            return f"{WAITING}every agent offered is ruled out: {rules}"
        text = (
            f"{WAITING}needs {', '.join(x.need for x in best.lacks)}; the best offer "
            f"({best.hostname}) has {', '.join(x.have for x in best.lacks)}"
        )
        return f"{text} (ruled out: {rules})" if rules else text


def with_waiting(message: str | None, waiting: str | None) -> str | None:
    """A step's message with its waiting note replaced by `waiting` (None: removed); what
    else it says (why it is replaced, relaunched, …) is kept before it."""
    base = message or ""
    found = _OURS.search(base)
    if found is not None:
        base = base[: found.start()]
    if waiting is None:
        return base or None
    return f"{base}; {waiting}" if base else waiting
