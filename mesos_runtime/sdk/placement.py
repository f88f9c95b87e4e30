"""Placement rules as Marathon writes them: `[["hostname", "UNIQUE"], ["rack", "MAX_PER", "2"]]`,
that list as a JSON string (the SDK's form), or the short `hostname:UNIQUE,rack:MAX_PER:2`.
Only the syntax is checked here; matching offers against the rules is the scheduler's job.
"""

from __future__ import annotations

import enum
import json
import re
from typing import Any

from mesos_runtime.wire.record import Record, record, required

__all__ = ["Constraint", "Operator", "PlacementError", "format_placement", "parse_placement"]


class PlacementError(ValueError):
    """A placement rule that does not parse; the message names the rule and what is wrong."""


class Operator(enum.Enum):
    UNIQUE = "UNIQUE"
    CLUSTER = "CLUSTER"
    GROUP_BY = "GROUP_BY"
    LIKE = "LIKE"
    UNLIKE = "UNLIKE"
    MAX_PER = "MAX_PER"
    IS = "IS"


# operator -> (value required, value must be a positive integer)
_VALUE_RULES: dict[Operator, tuple[bool | None, bool]] = {
    Operator.UNIQUE: (False, False),
    Operator.CLUSTER: (None, False),  # without a value: all on the first one chosen
    Operator.GROUP_BY: (None, True),
    Operator.LIKE: (True, False),
    Operator.UNLIKE: (True, False),
    Operator.MAX_PER: (True, True),
    Operator.IS: (True, False),
}

_FIELD = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")


@record(frozen=True)
class Constraint(Record):
    """One rule: an agent field (`hostname` or an attribute name), an operator, a value."""

    field: str = required()
    operator: Operator = required()
    value: str | None = None

    def to_marathon(self) -> list[str]:
        return [self.field, self.operator.value] + ([self.value] if self.value is not None else [])


def parse_placement(value: Any, where: str = "placement") -> list[Constraint]:
    """Normalise any accepted form into constraints, or raise PlacementError."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError as e:
                raise PlacementError(f"{where}: not a JSON list of rules ({e})") from None
        else:
            value = [part.strip().split(":", 2) for part in text.split(",") if part.strip()]
    if not isinstance(value, list):
        raise PlacementError(f"{where}: expected a list of rules, got {type(value).__name__}")
    return [_constraint(rule, f"{where}[{i}]") for i, rule in enumerate(value)]


def _constraint(rule: Any, where: str) -> Constraint:
    if not isinstance(rule, list) or not 2 <= len(rule) <= 3:
        raise PlacementError(f"{where}: a rule is [field, OPERATOR] or [field, OPERATOR, value]")
    if not all(isinstance(part, str) for part in rule):
        raise PlacementError(f"{where}: every part of a rule is a string")
    field, op_name = rule[0], rule[1].upper()
    value = rule[2] if len(rule) == 3 else None
    if not _FIELD.match(field):
        raise PlacementError(f"{where}: {field!r} is not a field name (hostname or an attribute)")
    try:
        operator = Operator(op_name)
    except ValueError:
        known = ", ".join(o.value for o in Operator)
        raise PlacementError(f"{where}: unknown operator {rule[1]!r} (one of {known})") from None
    needs_value, integer = _VALUE_RULES[operator]
    if needs_value is True and value is None:
        raise PlacementError(f"{where}: {operator.value} needs a value")
    if needs_value is False and value is not None:
        raise PlacementError(f"{where}: {operator.value} takes no value")
    if value is not None and integer and not (value.isdigit() and int(value) > 0):
        raise PlacementError(f"{where}: {operator.value} needs a positive integer, not {value!r}")
    if value is not None and operator in (Operator.LIKE, Operator.UNLIKE):
        try:
            re.compile(value)
        except re.error as e:
            raise PlacementError(f"{where}: {value!r} is not a regular expression ({e})") from None
    return Constraint(field=field, operator=operator, value=value)


def format_placement(constraints: list[Constraint]) -> str:
    """The Marathon JSON form, as the SDK stores it."""
    return json.dumps([c.to_marathon() for c in constraints])
