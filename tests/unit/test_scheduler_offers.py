"""Fitting tasks to offers: scalars, named ports, roles, reservations, volumes and
constraints, and the RESERVE → CREATE plan with its DESTROY → UNRESERVE undoing."""

from __future__ import annotations

from mesos_runtime.scheduler.constraints import Placement, parse_constraints
from mesos_runtime.scheduler.offers import (
    NoMatch,
    OfferMatch,
    OfferMismatch,
    PortRequest,
    ResourceRequest,
    match_offer,
)
from mesos_runtime.scheduler.reservations import (
    ReservePlan,
    plan_reservation,
    unreserve_operations,
    volume_request,
)
from mesos_runtime.wire.mesos import (
    AgentID,
    AllocationInfo,
    Attribute,
    FrameworkID,
    Offer,
    OfferID,
    OperationType,
    Text,
    ValueType,
)
from mesos_runtime.wire.resources import Resources


def offer(resources: Resources, hostname: str = "h1", **attributes: str) -> Offer:
    return Offer(
        id=OfferID(value="o1"),
        framework_id=FrameworkID(value="f1"),
        agent_id=AgentID(value="a1"),
        hostname=hostname,
        resources=resources.allocate("web").to_wire(),
        attributes=[
            Attribute(name=k, type=ValueType.TEXT, text=Text(value=v))
            for k, v in attributes.items()
        ],
        allocation_info=AllocationInfo(role="web"),
    )


BASIC = Resources.parse("cpus:2;mem:1024;disk:1000;ports:[31000-31002]")


def test_a_request_that_fits_takes_exactly_what_it_asks_with_the_offers_role() -> None:
    request = ResourceRequest(
        cpus=0.5, mem=128, ports=(PortRequest("http"), PortRequest("admin", 31002))
    )
    matched = match_offer(request, offer(BASIC))
    assert isinstance(matched, OfferMatch)
    assert matched.resources.cpus == 0.5 and matched.resources.mem == 128
    assert matched.ports == [31000, 31002]
    assert matched.port_names(request) == {"http": 31000, "admin": 31002}
    assert matched.resources.allocation_roles() == {"web"}


def test_what_is_left_of_an_offer_is_matched_task_after_task() -> None:
    request = ResourceRequest(cpus=1, mem=256, ports=(PortRequest(),))
    left = Resources.from_wire(offer(BASIC).resources)
    ports = []
    for _ in range(2):
        matched = match_offer(request, offer(BASIC), available=left)
        assert isinstance(matched, OfferMatch)
        left = left - matched.resources
        ports += matched.ports
    assert ports == [31000, 31001]
    third = match_offer(request, offer(BASIC), available=left)
    assert isinstance(third, OfferMismatch)
    assert third.reasons == [NoMatch.InsufficientCpus]


def test_a_mismatch_names_every_shortage() -> None:
    request = ResourceRequest(cpus=4, mem=4096, ports=(PortRequest(None, 80),))
    matched = match_offer(request, offer(BASIC))
    assert isinstance(matched, OfferMismatch) and not matched
    assert matched.reasons == [
        NoMatch.InsufficientCpus,
        NoMatch.InsufficientMemory,
        NoMatch.InsufficientPorts,
    ]


def test_constraints_are_checked_against_the_offers_host_and_attributes() -> None:
    request = ResourceRequest(
        cpus=0.1, constraints=tuple(parse_constraints([["rack", "IS", "r1"]]))
    )
    assert isinstance(match_offer(request, offer(BASIC, rack="r1")), OfferMatch)
    refused = match_offer(request, offer(BASIC, rack="r2"))
    assert isinstance(refused, OfferMismatch)
    assert refused.reasons == [NoMatch.UnfulfilledConstraint]
    unique = ResourceRequest(
        cpus=0.1, constraints=tuple(parse_constraints([["hostname", "UNIQUE"]]))
    )
    assert isinstance(match_offer(unique, offer(BASIC), placed=[Placement("h1")]), OfferMismatch)


def test_roles_limit_which_reservations_may_be_used() -> None:
    static = Resources.parse("cpus(web):1;mem(web):512") + Resources.parse("cpus:1;mem:512")
    only_reserved = ResourceRequest(cpus=1.5, roles=("web",))
    assert isinstance(match_offer(only_reserved, offer(static)), OfferMismatch)
    either = ResourceRequest(cpus=1.5, mem=100)
    matched = match_offer(either, offer(static))
    assert isinstance(matched, OfferMatch)
    # reserved resources are used first
    assert matched.resources.reserved("web").cpus == 1.0


def test_reserve_then_create_plans_one_accept_and_the_task_launches_on_what_it_reserved() -> None:
    request = ResourceRequest(cpus=1, mem=256, volumes=(volume_request("db-0", "data", 100),))
    plan = plan_reservation(request, offer(BASIC), "db-0", role="web", principal="ops")
    assert isinstance(plan, ReservePlan)
    assert [o.type for o in plan.operations] == [OperationType.RESERVE, OperationType.CREATE]
    assert plan.resources.reserved("web").cpus == 1.0
    (volume,) = [k for k, _ in plan.resources if k.disk is not None]
    assert volume.disk is not None and volume.disk.persistence_id == "db-0#data"
    assert plan.record.id == "db-0" and plan.record.agent_id.value == "a1"

    # offered again after the ACCEPT: the same request matches only under its reservation
    reoffered = offer(
        Resources.from_wire(offer(BASIC).resources).unallocated()
        - Resources.parse("cpus:1;mem:256;disk:100")
        + plan.resources.unallocated()
    )
    again = match_offer(
        ResourceRequest(cpus=1, mem=256, reservation_id="db-0", volumes=request.volumes),
        reoffered,
    )
    assert isinstance(again, OfferMatch)
    assert again.resources == plan.resources
    # another pod never takes them
    other = match_offer(ResourceRequest(cpus=1.5), reoffered)
    assert isinstance(other, OfferMismatch)

    undo = unreserve_operations(reoffered, "db-0")
    assert [o.type for o in undo] == [OperationType.DESTROY, OperationType.UNRESERVE]
    assert unreserve_operations(reoffered, "db-1") == []
