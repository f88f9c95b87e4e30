"""Marathon-style placement constraints: parsing with errors that name the constraint, and
each operator's meaning over hostnames and agent attributes."""

from __future__ import annotations

import pytest

from mesos_runtime.scheduler.constraints import (
    ConstraintError,
    Placement,
    format_attribute,
    parse_constraints,
    parse_placement,
    unmet_constraint,
)
from mesos_runtime.wire.mesos import Attribute, Range, Ranges, Scalar, Text, ValueSet, ValueType


def host(name: str, **attributes: str) -> Placement:
    return Placement(name, attributes)


def fits(constraints: list, candidate: Placement, placed: list[Placement], instances: int = 3):
    return unmet_constraint(parse_constraints(constraints), candidate, placed, instances) is None


def test_unique_hostname_refuses_a_host_already_used() -> None:
    placed = [host("a")]
    assert not fits([["hostname", "UNIQUE"]], host("a"), placed)
    assert fits([["hostname", "UNIQUE"]], host("b"), placed)
    assert fits([["@hostname", "UNIQUE"]], host("b"), placed)


def test_cluster_without_value_follows_the_first_instance() -> None:
    assert fits([["rack", "CLUSTER"]], host("a", rack="r1"), [])
    assert not fits([["rack", "CLUSTER"]], host("b", rack="r2"), [host("a", rack="r1")])
    assert fits([["rack", "CLUSTER", "r2"]], host("b", rack="r2"), [host("a", rack="r1")])


def test_like_and_unlike_match_the_whole_value_and_only_unlike_takes_agents_without_it() -> None:
    assert fits([["rack", "LIKE", "r[1-3]"]], host("a", rack="r2"), [])
    assert not fits([["rack", "LIKE", "r[1-3]"]], host("a", rack="r22"), [])
    assert not fits([["rack", "LIKE", "r.*"]], host("a"), [])
    assert fits([["rack", "UNLIKE", "r[7-9]"]], host("a"), [])
    assert not fits([["rack", "UNLIKE", "r[7-9]"]], host("a", rack="r8"), [])


def test_max_per_limits_each_value() -> None:
    placed = [host("a", rack="r1"), host("b", rack="r1")]
    assert not fits([["rack", "MAX_PER", "2"]], host("c", rack="r1"), placed)
    assert fits([["rack", "MAX_PER", "2"]], host("c", rack="r2"), placed)


def test_group_by_fills_each_of_the_given_number_of_groups_to_its_share() -> None:
    constraint = [["rack", "GROUP_BY", "2"]]
    placed = [host("a", rack="r1"), host("b", rack="r1")]
    # 4 instances over 2 racks: r1 has its share of 2, the rest go to a second rack
    assert not fits(constraint, host("c", rack="r1"), placed, 4)
    assert fits(constraint, host("c", rack="r2"), placed, 4)
    placed.append(host("c", rack="r2"))
    assert not fits(constraint, host("d", rack="r3"), placed, 4)  # two groups are enough
    assert fits(constraint, host("d", rack="r2"), placed, 4)


def test_is_compares_scalars_as_mesos_formats_them() -> None:
    assert fits([["level", "IS", "0.80"]], host("a", level="0.8"), [])
    assert not fits([["level", "IS", "0.9"]], host("a", level="0.8"), [])


def test_attribute_values_are_formatted_like_mesos() -> None:
    scalar = Attribute(name="s", type=ValueType.SCALAR, scalar=Scalar(value=1.50))
    ranges = Attribute(
        name="r",
        type=ValueType.RANGES,
        ranges=Ranges(range=[Range(begin=5, end=6), Range(begin=1, end=2)]),
    )
    items = Attribute(name="i", type=ValueType.SET, set=ValueSet(item=["b", "a"]))
    text = Attribute(name="t", type=ValueType.TEXT, text=Text(value="rack-1"))
    assert [format_attribute(a) for a in (scalar, ranges, items, text)] == [
        "1.5",
        "[1-2,5-6]",
        "{a,b}",
        "rack-1",
    ]


@pytest.mark.parametrize(
    ("constraints", "path", "words"),
    [
        ([["hostname"]], "/constraints/0", "[field, operator]"),
        ([["hostname", "UNIQUE"], ["rack", "SOMETIMES"]], "/constraints/1", "unknown operator"),
        ([["rack", "LIKE"]], "/constraints/0", "regular expression"),
        ([["rack", "LIKE", "("]], "/constraints/0", "not a valid regular expression"),
        ([["rack", "MAX_PER", "two"]], "/constraints/0", "positive integer"),
        ([["hostname", "UNIQUE", "x"]], "/constraints/0", "does not take a value"),
        ("hostname:UNIQUE", "/constraints", "must be a list"),
    ],
)
def test_bad_constraints_are_refused_naming_the_constraint(constraints, path, words) -> None:
    with pytest.raises(ConstraintError) as error:
        parse_constraints(constraints)
    assert error.value.path == path
    assert words in error.value.message


def test_sdk_placement_strings_take_json_and_the_colon_form() -> None:
    assert [c.to_json() for c in parse_placement('[["hostname", "UNIQUE"]]')] == [
        ["hostname", "UNIQUE"]
    ]
    assert [c.to_json() for c in parse_placement("hostname:UNIQUE,rack:GROUP_BY:3")] == [
        ["hostname", "UNIQUE"],
        ["rack", "GROUP_BY", "3"],
    ]
