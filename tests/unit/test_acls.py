"""Mesos' ACL semantics (local authorizer): the first rule that matches decides, NONE and
ANY as Mesos reads them, unauthenticated requests matching only ANY, `permissive` for what
no rule speaks about; and ACL files refused naming what is wrong."""

from __future__ import annotations

import pytest

from mesos_runtime.security.acls import AclError, load_acls, parse_acls

ACLS = {
    "permissive": False,
    "register_frameworks": [
        {"principals": {"values": ["kafka"]}, "roles": {"values": ["kafka", "kafka-dev"]}},
        {"principals": {"values": ["spark"]}, "roles": {"type": "NONE"}},
        {"principals": {"type": "ANY"}, "roles": {"values": ["public"]}},
        {"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}},
    ],
    "run_tasks": [{"principals": {"type": "NONE"}, "users": {"values": ["root"]}}],
}


@pytest.mark.parametrize(
    ("principal", "role", "allowed"),
    [
        ("kafka", "kafka", True),
        ("kafka", "kafka-dev", True),
        ("kafka", "spark", False),  # the kafka rule does not cover it; no later rule does
        ("spark", "spark", False),  # NONE: spark may register in no role
        ("spark", "public", False),  # the NONE rule matched first
        ("anyone", "public", True),
        (None, "public", True),  # unauthenticated: ANY subject matches only ANY rules
        (None, "kafka", False),
        ("ops", "anything", True),
        ("ops", None, True),  # ANY object: only an ANY rule allows it
        ("kafka", None, False),
    ],
)
def test_the_first_matching_rule_decides(principal, role, allowed) -> None:
    assert parse_acls(ACLS).allowed("register_frameworks", principal, role) is allowed


def test_permissive_decides_what_no_rule_speaks_about() -> None:
    strict, lenient = parse_acls(ACLS), parse_acls({**ACLS, "permissive": True})
    assert not strict.allowed("teardown_frameworks", "ops", "kafka")
    assert lenient.allowed("teardown_frameworks", "ops", "kafka")
    # a NONE subject rule speaks about every principal: nobody may run tasks as root
    assert not lenient.allowed("run_tasks", "kafka", "root")
    assert lenient.allowed("run_tasks", "kafka", "nobody")
    assert parse_acls({}).is_open and not lenient.is_open


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"register_framework": []}, "unknown ACL 'register_framework'"),
        ({"run_tasks": {}}, "'run_tasks' must be a list"),
        ({"run_tasks": [{"principals": {"values": ["a"]}, "roles": {}}]}, "unknown field"),
        ({"run_tasks": [{"users": {"type": "SOME-OF"}}]}, "type must be ANY, NONE or SOME"),
        ({"run_tasks": [{"users": {"type": "ANY", "values": ["x"]}}]}, "type SOME only"),
        ({"permissive": "no"}, "'permissive' must be true or false"),
    ],
)
def test_bad_acls_are_refused_naming_the_part(doc, message) -> None:
    with pytest.raises(AclError, match=message):
        parse_acls(doc)


def test_acls_come_inline_or_from_a_file(tmp_path) -> None:
    path = tmp_path / "acls.json"
    path.write_text('{"permissive": false}')
    assert not load_acls(str(path)).permissive
    assert not load_acls('{"permissive": false}').permissive
    with pytest.raises(AclError, match="not valid JSON"):
        load_acls("{nope")
    with pytest.raises(AclError, match="cannot read"):
        load_acls(str(tmp_path / "missing.json"))
