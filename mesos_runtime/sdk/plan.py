"""Plans as a pure state machine: a plan of phases of steps, each step moving PENDING →
PREPARED → STARTING → STARTED → COMPLETE (or back to PENDING to retry, or ERROR), phases
and plans ordered by `serial`/`parallel` strategies, and the operator's pause, resume,
restart and force-complete. The service scheduler drives it; it does no I/O itself.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Collection, Iterable, Iterator

from mesos_runtime.wire.record import Record, record, repeated, required

from .spec import Strategy

__all__ = ["Phase", "Plan", "PlanError", "Status", "Step", "aggregate_status", "render_tree"]


class PlanError(ValueError):
    """An operation the plan cannot do: unknown phase or step, or a move its state forbids."""


class Status(enum.Enum):
    ERROR = "ERROR"  # cannot go on without the operator (e.g. an invalid config change)
    WAITING = "WAITING"  # shown for paused elements; never stored in a step
    PENDING = "PENDING"  # waiting for offers
    PREPARED = "PREPARED"  # resources matched (and old tasks killed, on an update)
    STARTING = "STARTING"  # launch sent, no running task yet
    STARTED = "STARTED"  # running, readiness not yet passed
    COMPLETE = "COMPLETE"
    IN_PROGRESS = "IN_PROGRESS"  # shown for phases and plans; never stored in a step


_ACTIVE = frozenset({Status.PREPARED, Status.STARTING, Status.STARTED, Status.IN_PROGRESS})


def aggregate_status(
    children: Iterable[Status], interrupted: bool = False, errors: Collection[str] = ()
) -> Status:
    """A phase's or plan's status from its children's (the order of the rules matters)."""
    statuses = list(children)
    if errors or Status.ERROR in statuses:
        return Status.ERROR
    if all(s is Status.COMPLETE for s in statuses):
        return Status.COMPLETE
    if interrupted:
        return Status.WAITING
    if all(s is Status.PENDING for s in statuses):
        return Status.PENDING
    if Status.WAITING in statuses and not _ACTIVE.intersection(statuses):
        return Status.WAITING
    return Status.IN_PROGRESS


@record
class Step(Record):
    """Work on one pod instance: launch (or relaunch) some of its tasks."""

    name: str = required()  # kafka-0:[broker]
    pod: str = required()
    index: int = required()
    tasks: list[str] = repeated()
    status: Status = Status.PENDING
    interrupted: bool = False
    message: str | None = None  # why it is back to PENDING, or in ERROR

    @property
    def asset(self) -> str:
        """The pod instance it works on; two plans never work on one asset at once."""
        return f"{self.pod}-{self.index}"

    @property
    def shown_status(self) -> Status:
        if self.interrupted and self.status is Status.PENDING:
            return Status.WAITING
        return self.status

    def _move(self, allowed: Collection[Status], to: Status, message: str | None = None) -> None:
        if self.status not in allowed:
            raise PlanError(f"step {self.name}: cannot go from {self.status.value} to {to.value}")
        self.status = to
        self.message = message

    # the scheduler's moves
    def prepare(self) -> None:
        """Resources matched for it (and, on an update, its old tasks killed)."""
        self._move({Status.PENDING}, Status.PREPARED)

    def launch(self) -> None:
        """The launch operations were sent."""
        self._move({Status.PREPARED}, Status.STARTING)

    def running(self) -> None:
        """Its tasks run; readiness (or, for FINISH/ONCE tasks, their end) is awaited."""
        self._move({Status.STARTING}, Status.STARTED)

    def complete(self) -> None:
        """Readiness passed (or the tasks finished as their goal wanted)."""
        self._move({Status.STARTING, Status.STARTED}, Status.COMPLETE)

    def retry(self, reason: str) -> None:
        """A transient failure: start over (the scheduler relaunches on the same reservation)."""
        self._move({Status.PREPARED, Status.STARTING, Status.STARTED}, Status.PENDING, reason)

    def fail(self, reason: str) -> None:
        """A failure that needs the operator."""
        self._move(set(Status) - {Status.COMPLETE}, Status.ERROR, reason)

    # the operator's moves
    def restart(self) -> None:
        self.status, self.message = Status.PENDING, None

    def force_complete(self) -> None:
        self.status, self.message = Status.COMPLETE, None


@record
class Phase(Record):
    name: str = required()
    strategy: Strategy = Strategy.SERIAL
    steps: list[Step] = repeated()
    interrupted: bool = False

    @property
    def status(self) -> Status:
        return aggregate_status((s.shown_status for s in self.steps), self.interrupted)

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise PlanError(f"phase {self.name} has no step {name!r}")

    def candidates(self, busy: Collection[str] = ()) -> list[Step]:
        """The steps its strategy lets run now."""
        if self.interrupted:
            return []
        open_steps = [s for s in self.steps if s.status is not Status.COMPLETE]
        if self.strategy is Strategy.SERIAL:
            open_steps = open_steps[:1]
        return [
            s
            for s in open_steps
            if s.status is not Status.ERROR and not s.interrupted and s.asset not in busy
        ]


@record
class Plan(Record):
    name: str = required()
    strategy: Strategy = Strategy.SERIAL
    phases: list[Phase] = repeated()
    interrupted: bool = False
    errors: list[str] = dataclasses.field(default_factory=list)

    @property
    def status(self) -> Status:
        return aggregate_status((p.status for p in self.phases), self.interrupted, self.errors)

    def steps(self) -> Iterator[Step]:
        for phase in self.phases:
            yield from phase.steps

    def phase(self, name: str) -> Phase:
        for phase in self.phases:
            if phase.name == name:
                return phase
        raise PlanError(f"plan {self.name} has no phase {name!r}")

    def step(self, name: str, phase: str | None = None) -> Step:
        """A step by name, in `phase` or in the only phase that has one so named."""
        if phase is not None:
            return self.phase(phase).step(name)
        found = [s for p in self.phases for s in p.steps if s.name == name]
        if not found:
            raise PlanError(f"plan {self.name} has no step {name!r}")
        if len(found) > 1:
            raise PlanError(f"plan {self.name}: step {name!r} is in several phases; name one")
        return found[0]

    def candidates(self, busy: Collection[str] = ()) -> list[Step]:
        """The steps to work on now: their strategies allow it, nothing paused, no error on
        the way, and their pod instance is not `busy` in another plan."""
        if self.interrupted or self.errors:
            return []
        result: list[Step] = []
        for phase in self.phases:
            status = phase.status
            if status is Status.COMPLETE:
                continue
            if status is not Status.ERROR:
                result.extend(phase.candidates(busy))
            if self.strategy is Strategy.SERIAL:
                break  # a serial plan waits on its first unfinished phase, even on an error
        return result

    # the operator's moves: the whole plan, one phase, or one step
    def _select(self, phase: str | None, step: str | None) -> list[Step]:
        if step is not None:
            return [self.step(step, phase)]
        if phase is not None:
            return list(self.phase(phase).steps)
        return list(self.steps())

    def pause(self, phase: str | None = None) -> None:
        """Start nothing new (running steps finish)."""
        if phase is None:
            self.interrupted = True
        else:
            self.phase(phase).interrupted = True

    def resume(self, phase: str | None = None) -> None:
        if phase is None:
            self.interrupted = False
            for p in self.phases:
                p.interrupted = False
        else:
            self.phase(phase).interrupted = False
            self.interrupted = False

    def restart(self, phase: str | None = None, step: str | None = None) -> list[Step]:
        """Back to PENDING: the steps run again (the scheduler relaunches their tasks)."""
        steps = self._select(phase, step)
        for s in steps:
            s.restart()
        if phase is None and step is None:
            self.errors = []
        return steps

    def force_complete(self, phase: str | None = None, step: str | None = None) -> None:
        """Mark COMPLETE without running (a step whose agent is gone for good)."""
        for s in self._select(phase, step):
            s.force_complete()


def render_tree(plan: Plan) -> str:
    """The plan as operators of SDK services read it, one element per line:

    deploy (serial) IN_PROGRESS
    └─ broker (serial) IN_PROGRESS
       ├─ kafka-0:[broker] COMPLETE
       └─ kafka-1:[broker] STARTING
    """
    lines = [f"{plan.name} ({plan.strategy.value}) {plan.status.value}"]
    lines.extend(f"   {error}" for error in plan.errors)
    for i, phase in enumerate(plan.phases):
        last_phase = i == len(plan.phases) - 1
        lines.append(
            f"{'└─' if last_phase else '├─'} {phase.name} ({phase.strategy.value}) "
            f"{phase.status.value}"
        )
        indent = "   " if last_phase else "│  "
        for j, step in enumerate(phase.steps):
            branch = "└─" if j == len(phase.steps) - 1 else "├─"
            note = f" ({step.message})" if step.message else ""
            lines.append(f"{indent}{branch} {step.name} {step.shown_status.value}{note}")
    return "\n".join(lines)
