"""Placement rules: every Marathon form parses to the same constraints; bad rules are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesos_runtime.sdk.placement import (
    Constraint,
    Operator,
    PlacementError,
    format_placement,
    parse_placement,
)

EXPECTED = [
    Constraint(field="hostname", operator=Operator.UNIQUE),
    Constraint(field="rack", operator=Operator.MAX_PER, value="2"),
]


@pytest.mark.parametrize(
    "form",
    [
        [["hostname", "UNIQUE"], ["rack", "MAX_PER", "2"]],
        '[["hostname", "UNIQUE"], ["rack", "MAX_PER", "2"]]',
        "hostname:UNIQUE,rack:MAX_PER:2",
        " hostname:unique , rack:MAX_PER:2 ",
    ],
)
def test_every_marathon_form_gives_the_same_constraints(form: object) -> None:
    assert parse_placement(form) == EXPECTED


def test_no_placement_is_no_constraint() -> None:
    assert parse_placement(None) == [] and parse_placement("") == [] and parse_placement("[]") == []


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ("hostname", "a rule is [field, OPERATOR]"),
        ("hostname:UNIQUE:x", "UNIQUE takes no value"),
        ("rack:LIKE", "LIKE needs a value"),
        ("rack:LIKE:[", "is not a regular expression"),
        ("rack:GROUP_BY:0", "GROUP_BY needs a positive integer"),
        ("host name:UNIQUE", "is not a field name"),
        ('[["hostname", "UNIQUE"', "not a JSON list of rules"),
        ("[[1, 2]]", "every part of a rule is a string"),
    ],
)
def test_bad_rules_are_refused_naming_the_rule(form: str, message: str) -> None:
    with pytest.raises(PlacementError, match=r"^pods\.x\.placement") as raised:
        parse_placement(form, "pods.x.placement")
    assert message in str(raised.value)


_fields = st.from_regex(r"[a-z][a-z0-9_.-]{0,10}", fullmatch=True)
_constraints = st.one_of(
    st.builds(Constraint, field=_fields, operator=st.just(Operator.UNIQUE)),
    st.builds(
        Constraint,
        field=_fields,
        operator=st.sampled_from([Operator.MAX_PER, Operator.GROUP_BY]),
        value=st.integers(1, 99).map(str),
    ),
    st.builds(
        Constraint,
        field=_fields,
        operator=st.sampled_from([Operator.CLUSTER, Operator.IS, Operator.LIKE]),
        value=st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True),
    ),
)


@given(st.lists(_constraints, max_size=5))
def test_the_stored_form_parses_back_to_the_same_constraints(constraints: list[Constraint]) -> None:
    assert parse_placement(format_placement(constraints)) == constraints
