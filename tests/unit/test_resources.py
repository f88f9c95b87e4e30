"""Resource arithmetic: parsing, reservations, and properties that it never goes negative
nor counts anything twice."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesos_runtime.wire import Resources, WireError
from mesos_runtime.wire.mesos import Resource
from mesos_runtime.wire.resources import Reservation


def test_parse_mesos_resources_flag() -> None:
    r = Resources.parse("cpus:2;mem:1024;disk(kafka):100;ports:[31000-31009, 32000-32000];gpus:0")
    assert r.cpus == 2 and r.mem == 1024 and r.disk == 100
    assert r.ports() == ((31000, 31009), (32000, 32000))
    assert r.reserved("kafka").disk == 100
    assert r.unreserved().disk == 0
    assert "gpus" not in r.quantities()


@pytest.mark.parametrize("text", ["cpus:two", "cpus:-1", "ports:[5-1]", "ports:[1-2", "=3"])
def test_bad_resources_are_refused_with_the_part(text: str) -> None:
    with pytest.raises(WireError, match="resources"):
        Resources.parse(text)


def test_fixed_point_scalars_leave_nothing_behind() -> None:
    total = Resources.scalars(cpus=0.3)
    used = Resources.scalars(cpus=0.1) + Resources.scalars(cpus=0.2)
    assert not (total - used)
    assert total.contains(used)


def test_ranges_subtract_and_contain() -> None:
    ports = Resources.parse("ports:[31000-31999]")
    one = Resources.parse("ports:[31500-31500]")
    left = ports - one
    assert left.ports() == ((31000, 31499), (31501, 31999))
    assert not left.contains(one)
    assert (left + one) == ports


def test_wire_round_trip_keeps_reservations_and_allocation() -> None:
    r = Resources.parse("cpus:1;mem(web):64").push_reservation(
        Reservation("DYNAMIC", "web/x", "ops")
    )
    allocated = r.allocate("web/x")
    wire = [w.to_json() for w in allocated.to_wire()]
    back = Resources.from_wire(Resource.from_json(w) for w in wire)
    assert back == allocated
    assert back.unallocated() == r
    assert all(w["allocation_info"] == {"role": "web/x"} for w in wire)


def test_pre_refinement_role_format_is_understood() -> None:
    static = Resource.from_json(
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "role": "a"}
    )
    dynamic = Resource.from_json(
        {
            "name": "cpus",
            "type": "SCALAR",
            "scalar": {"value": 1},
            "role": "a",
            "reservation": {"principal": "p"},
        }
    )
    assert next(iter(Resources.from_wire([static])))[0].reservations == (
        Reservation("STATIC", "a"),
    )
    assert next(iter(Resources.from_wire([dynamic])))[0].reservations == (
        Reservation("DYNAMIC", "a", "p"),
    )


def test_allocatable_to_includes_ancestor_reservations() -> None:
    r = Resources.parse("cpus:1;cpus(eng):2;cpus(eng/web):3;cpus(ops):4")
    assert r.allocatable_to("eng/web").cpus == 6
    assert r.allocatable_to("eng").cpus == 3
    assert r.allocatable_to("other").cpus == 1


def test_invalid_wire_resources_are_refused() -> None:
    overlapping = Resource.from_json(
        {
            "name": "ports",
            "type": "RANGES",
            "ranges": {"range": [{"begin": 1, "end": 5}, {"begin": 4, "end": 9}]},
        }
    )
    with pytest.raises(WireError, match="overlap"):
        Resources.from_wire([overlapping])
    negative = Resource.from_json({"name": "cpus", "type": "SCALAR", "scalar": {"value": -1}})
    with pytest.raises(WireError, match="non-negative"):
        Resources.from_wire([negative])


# --- properties ----------------------------------------------------------------------------

roles = st.sampled_from(["*", "a", "b"])
scalar_parts = st.builds(
    lambda name, role, v: f"{name}({role}):{v}" if role != "*" else f"{name}:{v}",
    st.sampled_from(["cpus", "mem", "disk"]),
    roles,
    st.integers(0, 2000).map(lambda n: n / 100),
)
range_parts = st.builds(
    lambda b, n, role: f"ports({role}):[{b}-{b + n}]" if role != "*" else f"ports:[{b}-{b + n}]",
    st.integers(1000, 1100),
    st.integers(0, 20),
    roles,
)
resources = st.lists(st.one_of(scalar_parts, range_parts), max_size=8).map(
    lambda parts: Resources.parse(";".join(parts))
)


@given(resources, resources)
def test_sum_contains_both_parts(a: Resources, b: Resources) -> None:
    assert (a + b).contains(a) and (a + b).contains(b)
    assert ((a + b) - b) + b == a + b


@given(resources, resources)
def test_add_then_subtract_gives_back_scalars(a: Resources, b: Resources) -> None:
    scalars_a = a.filter(lambda k: k.name != "ports")
    scalars_b = b.filter(lambda k: k.name != "ports")
    assert (scalars_a + scalars_b) - scalars_b == scalars_a


@given(resources, resources)
def test_subtraction_never_goes_negative_and_is_contained(a: Resources, b: Resources) -> None:
    left = a - b
    assert a.contains(left)
    for _key, value in left:
        if isinstance(value, float):
            assert value > 0
        elif isinstance(value, tuple):
            assert all(lo <= hi for lo, hi in value)


@given(resources, resources)
def test_nothing_is_counted_twice(a: Resources, b: Resources) -> None:
    # splitting a into (a - b) and what b took from it never adds up to more than a
    taken = a - (a - b)
    assert a.contains(taken)
    assert (a - b) + taken == a
    for name, amount in ((a - b) + taken).quantities().items():
        assert amount == pytest.approx(a.quantities()[name])


@given(resources)
def test_allocation_does_not_change_quantities(a: Resources) -> None:
    assert a.allocate("x").quantities() == a.quantities()
    assert a.allocate("x").unallocated() == a
