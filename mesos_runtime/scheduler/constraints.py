"""Placement constraints in Marathon's syntax: `[["hostname", "UNIQUE"], ["rack", "GROUP_BY"]]`.

One evaluation for Marathon apps and the service SDK's placement rules (the Mesosphere SDK
takes the same syntax). A field is `hostname` (or `@hostname`), `@region`, `@zone` or an
agent attribute, compared as Mesos formats it (`1.5`, `[1-2,5-6]`, `{a,b}`); operators
`UNIQUE`, `CLUSTER`, `GROUP_BY`, `LIKE`, `UNLIKE`, `MAX_PER`, `IS`, with Marathon's meaning.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from mesos_runtime.wire.mesos import Attribute, Offer, ValueType

__all__ = [
    "Constraint",
    "ConstraintError",
    "ConstraintOperator",
    "Placement",
    "format_attribute",
    "parse_constraints",
    "parse_placement",
    "unmet_constraint",
]

_MAX_FIELD = 128
_MAX_VALUE = 1024


class ConstraintOperator(enum.Enum):
    UNIQUE = "UNIQUE"
    CLUSTER = "CLUSTER"
    GROUP_BY = "GROUP_BY"
    LIKE = "LIKE"
    UNLIKE = "UNLIKE"
    MAX_PER = "MAX_PER"
    IS = "IS"


class ConstraintError(ValueError):
    """A constraint that does not parse; `path` names it (`/constraints/1`)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True, slots=True)
class Constraint:
    field: str
    operator: ConstraintOperator
    value: str | None = None
    pattern: re.Pattern[str] | None = dataclasses.field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, item: Any, path: str) -> Constraint:
        if not isinstance(item, list | tuple) or not 2 <= len(item) <= 3:
            raise ConstraintError(
                path, "a constraint is [field, operator] or [field, operator, value]"
            )
        if not all(isinstance(x, str) for x in item):
            raise ConstraintError(path, "constraint field, operator and value must be strings")
        name, op = item[0], item[1]
        value = item[2] if len(item) == 3 else None
        if not name or len(name) > _MAX_FIELD:
            raise ConstraintError(path, f"the field name must have 1-{_MAX_FIELD} characters")
        try:
            operator = ConstraintOperator(op)
        except ValueError:
            names = ", ".join(o.value for o in ConstraintOperator)
            raise ConstraintError(
                path, f"unknown operator {op!r} (expected one of {names})"
            ) from None
        if value is not None and len(value) > _MAX_VALUE:
            raise ConstraintError(path, f"the value is longer than {_MAX_VALUE} characters")
        pattern = None
        if operator in (ConstraintOperator.LIKE, ConstraintOperator.UNLIKE):
            if not value:
                raise ConstraintError(path, f"{operator.value} requires a regular expression value")
            try:
                pattern = re.compile(value)
            except re.error as e:
                raise ConstraintError(
                    path, f"{value!r} is not a valid regular expression: {e}"
                ) from None
        elif operator is ConstraintOperator.MAX_PER:
            if not value or not value.isdigit() or int(value) < 1:
                raise ConstraintError(path, "MAX_PER requires a positive integer value")
        elif operator is ConstraintOperator.GROUP_BY:
            if value and not value.isdigit():
                raise ConstraintError(path, "GROUP_BY takes an optional integer value")
        elif operator is ConstraintOperator.IS:
            if not value:
                raise ConstraintError(path, "IS requires a value")
        elif operator is ConstraintOperator.UNIQUE and value:
            raise ConstraintError(path, "UNIQUE does not take a value")
        return cls(name, operator, value or None, pattern)

    def to_json(self) -> list[str]:
        out = [self.field, self.operator.value]
        if self.value is not None:
            out.append(self.value)
        return out

    def __str__(self) -> str:
        return json.dumps(self.to_json())


def parse_constraints(value: Any, path: str = "/constraints") -> list[Constraint]:
    """A JSON list of constraints (Marathon's `constraints` field) → Constraints."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConstraintError(path, "constraints must be a list of [field, operator, value?]")
    constraints = [Constraint.parse(item, f"{path}/{i}") for i, item in enumerate(value)]
    if len(set(constraints)) != len(constraints):
        raise ConstraintError(path, "constraints must be unique")
    return constraints


def parse_placement(text: str, path: str = "placement") -> list[Constraint]:
    """The SDK's `placement` string: JSON (`[["hostname", "UNIQUE"]]`) or the colon form
    (`hostname:UNIQUE,rack:GROUP_BY:3`) Marathon's CLI takes."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            raw = json.loads(text)
        except ValueError as e:
            raise ConstraintError(path, f"not valid JSON: {e}") from None
        return parse_constraints(raw, path)
    return parse_constraints([part.split(":", 2) for part in text.split(",")], path)


# --- values as Mesos formats them ----------------------------------------------------------


def _format_scalar(value: float) -> str:
    try:
        rounded = Decimal(repr(value)).quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)
    except InvalidOperation:
        return repr(value)
    text = format(rounded.normalize(), "f")
    return text


def format_attribute(attribute: Attribute) -> str:
    if attribute.type is ValueType.SCALAR and attribute.scalar is not None:
        return _format_scalar(attribute.scalar.value)
    if attribute.type is ValueType.RANGES and attribute.ranges is not None:
        ranges = sorted(attribute.ranges.range, key=lambda r: r.begin)
        return "[" + ",".join(f"{r.begin}-{r.end}" for r in ranges) + "]"
    if attribute.type is ValueType.SET and attribute.set is not None:
        return "{" + ",".join(sorted(attribute.set.item)) + "}"
    if attribute.text is not None:
        return attribute.text.value
    return ""


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an instance runs, or where an offer would put one: hostname and attributes."""

    hostname: str
    attributes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    region: str | None = None
    zone: str | None = None

    @classmethod
    def of(cls, hostname: str, attributes: Iterable[Attribute] = ()) -> Placement:
        return cls(hostname, {a.name: format_attribute(a) for a in attributes})

    @classmethod
    def of_offer(cls, offer: Offer) -> Placement:
        return cls.of(offer.hostname, offer.attributes)

    def value(self, field_name: str) -> str | None:
        if field_name in ("hostname", "@hostname"):
            return self.hostname
        if field_name == "@region":
            return self.region
        if field_name == "@zone":
            return self.zone
        return self.attributes.get(field_name)


def _is_value(constraint: Constraint) -> str:
    value = constraint.value or ""
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", value):
        return _format_scalar(float(value))
    return value


def meets(
    constraint: Constraint,
    candidate: Placement,
    placed: Sequence[Placement],
    instances: int,
) -> bool:
    """Does placing one more instance at `candidate` keep `constraint`, with the app's other
    instances at `placed` and `instances` wanted in all?"""
    offered = candidate.value(constraint.field)
    if offered is None:
        # only UNLIKE accepts an agent without the field, as in Marathon
        return constraint.operator is ConstraintOperator.UNLIKE
    op = constraint.operator
    values = [p.value(constraint.field) for p in placed]
    if op is ConstraintOperator.UNIQUE:
        return offered not in values
    if op is ConstraintOperator.CLUSTER:
        if constraint.value:
            return offered == constraint.value
        return not values or values[0] == offered
    if op is ConstraintOperator.LIKE:
        assert constraint.pattern is not None
        return constraint.pattern.fullmatch(offered) is not None
    if op is ConstraintOperator.UNLIKE:
        assert constraint.pattern is not None
        return constraint.pattern.fullmatch(offered) is None
    if op is ConstraintOperator.MAX_PER:
        return values.count(offered) < int(constraint.value or "1")
    if op is ConstraintOperator.IS:
        return offered == _is_value(constraint)
    return _group_by(constraint, offered, values, instances)


def _group_by(
    constraint: Constraint, offered: str, values: list[str | None], instances: int
) -> bool:
    """Spread evenly over at least `value` groups (over those seen, without a value)."""
    groups = max(int(constraint.value or "0"), 0)
    counts = Counter(v for v in values if v is not None)
    if groups == 0:
        # no count given: keep the groups seen so far balanced (the offer's may be new)
        if offered not in counts:
            return True
        return counts[offered] <= min(counts.values())
    per_group, remainder = divmod(max(instances, 1), groups)
    extra_used = sum(max(0, c - per_group) for c in counts.values())
    if offered in counts:
        count = counts[offered]
        return count < per_group or (count == per_group and remainder - extra_used > 0)
    return len(counts) < groups


def unmet_constraint(
    constraints: Iterable[Constraint],
    candidate: Placement,
    placed: Sequence[Placement],
    instances: int,
) -> Constraint | None:
    """The first constraint that placing at `candidate` would break, or None."""
    for constraint in constraints:
        if not meets(constraint, candidate, placed, instances):
            return constraint
    return None
