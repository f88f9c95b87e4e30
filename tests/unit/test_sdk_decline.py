"""How long the service scheduler refuses an offer it did not use (`decline_seconds`)."""

from __future__ import annotations

from mesos_runtime.sdk.scheduler.service import (
    LONG_DECLINE,
    SHORT_DECLINE,
    UNKNOWN_ORPHAN_DECLINE,
    decline_seconds,
)


def test_a_step_wanting_offers_refuses_briefly() -> None:
    assert decline_seconds("S1", True, set()) == SHORT_DECLINE
    assert decline_seconds("S1", True, {"S2"}) == SHORT_DECLINE


def test_while_only_orphans_wait_other_agents_are_filtered_long() -> None:
    # the orphan's agent is away: the other agents are not offered again every minute
    assert decline_seconds("S1", False, {"S2"}) == LONG_DECLINE
    assert LONG_DECLINE >= 24 * 3600


def test_the_agent_holding_an_orphan_is_refused_briefly() -> None:
    assert decline_seconds("S2", False, {"S2"}) == SHORT_DECLINE


def test_an_orphan_of_unknown_agent_keeps_every_agent_offering() -> None:
    assert decline_seconds("S1", False, {None, "S2"}) == UNKNOWN_ORPHAN_DECLINE
