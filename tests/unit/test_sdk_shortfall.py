"""Why no offer places a pod instance, as its step's message says it: what the best offer
lacks, or the placement rule every agent breaks, and the note replaced or removed without
losing the rest of the message."""

from __future__ import annotations

from mesos_runtime.sdk.scheduler.shortfall import (
    FRESH_FOR,
    PodNeed,
    Shortfall,
    Shortfalls,
    shortfall_of,
    with_waiting,
)
from mesos_runtime.wire.resources import Resources

NEED = PodNeed(cpus=1.0, mem=512, disk=0, volumes=(("data", 4000.0),), ports=(9092, 0))


def test_the_best_offer_names_what_it_lacks_beside_what_the_pod_needs() -> None:
    small = shortfall_of(NEED, Resources.parse("cpus:4;mem:4096;disk:2048;ports:[9092-9093]"), "h2")
    tiny = shortfall_of(NEED, Resources.parse("cpus:0.5;mem:4096;disk:100;ports:[9092-9093]"), "h1")
    notes = Shortfalls()
    notes.note("kafka-0", "a1", tiny, now=0)
    notes.note("kafka-0", "a2", small, now=0)
    assert notes.message("kafka-0", now=1) == (
        "waiting for an offer: needs disk 4000 MB for volume data; "
        "the best offer (h2) has disk 2048 MB"
    )


def test_each_lacking_resource_and_a_taken_port_is_named() -> None:
    need = PodNeed(cpus=8, mem=2048, disk=100, volumes=(("data", 900.0),), ports=(9092,))
    short = shortfall_of(need, Resources.parse("cpus:1;mem:1024;disk:500;ports:[31000-31010]"), "h")
    assert [(x.need, x.have) for x in short.lacks] == [
        ("cpus 8", "cpus 1"),
        ("mem 2048 MB", "mem 1024 MB"),
        ("disk 1000 MB (100 MB for its tasks, the rest for volume data)", "disk 500 MB"),
        ("port 9092", "no port 9092"),
    ]


def test_resources_reserved_for_others_are_not_counted() -> None:
    offered = Resources.parse("cpus:4;mem:4096;disk:8000", default_role="other")
    short = shortfall_of(PodNeed(cpus=1, mem=64, disk=0), offered, "h")
    assert [x.need for x in short.lacks] == ["cpus 1", "mem 64 MB"]


def test_a_placement_rule_every_agent_breaks_names_the_rule_and_the_agents() -> None:
    notes = Shortfalls()
    for agent, host in (("a1", "h1"), ("a2", "h2")):
        notes.note("app-2", agent, Shortfall(host, rule="placement hostname:UNIQUE"), now=0)
    assert notes.message("app-2", now=0) == (
        "waiting for an offer: every agent offered is ruled out: "
        "h1, h2 by placement hostname:UNIQUE"
    )
    # an agent short of resources is nearer than one a rule rules out
    notes.note("app-2", "a3", Shortfall("h3", lacks=()), now=0)
    short = shortfall_of(PodNeed(cpus=2, mem=1, disk=0), Resources.parse("cpus:1;mem:8"), "h3")
    notes.note("app-2", "a3", short, now=0)
    assert notes.message("app-2", now=0) == (
        "waiting for an offer: needs cpus 2; the best offer (h3) has cpus 1 "
        "(ruled out: h1, h2 by placement hostname:UNIQUE)"
    )


def test_placing_the_instance_or_an_agent_going_quiet_forgets_its_shortfall() -> None:
    notes = Shortfalls()
    notes.note("app-0", "a1", Shortfall("h1", rule="placement hostname:UNIQUE"), now=0)
    assert notes.message("app-0", now=FRESH_FOR + 1) is None
    notes.note("app-0", "a1", Shortfall("h1", rule="placement hostname:UNIQUE"), now=0)
    notes.placed("app-0")
    assert notes.message("app-0", now=0) is None


def test_the_waiting_note_is_replaced_or_removed_keeping_the_rest_of_the_message() -> None:
    first = "waiting for an offer: needs cpus 2; the best offer (h) has cpus 1"
    assert with_waiting(None, first) == first
    assert with_waiting(first, None) is None
    replaced = with_waiting("replace: its agent is gone", first)
    assert replaced == f"replace: its agent is gone; {first}"
    peer = "waiting for peer app-1 to be placed: needs cpus 2"
    assert with_waiting(replaced, peer) == f"replace: its agent is gone; {peer}"
    assert with_waiting(replaced, None) == "replace: its agent is gone"
