"""Mesos' ACLs (`--acls`) and its local authorizer, with Mesos' semantics.

    {"permissive": false,
     "register_frameworks": [{"principals": {"values": ["kafka"]}, "roles": {"values": ["kafka"]}}],
     "run_tasks": [{"principals": {"type": "ANY"}, "users": {"values": ["nobody"]}}]}

Each kind of action has a list of rules, each naming a subject entity (`principals`) and an
object entity (`roles`, `users`, `framework_principals`, `machines`, `agents`, `paths`,
`flags`); an entity is `{"values": [...]}`, `{"type": "ANY"}` or `{"type": "NONE"}`. The
first rule whose entities match the request decides: allowed unless an entity of that rule
is NONE (or does not cover the request); when no rule matches, `permissive` (default true)
decides. An unauthenticated request's subject is ANY (it matches only ANY rules), and so is
an object the request does not name.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ACTIONS", "AclError", "Authorizer", "load_acls"]

# action -> the object entity its rules name (the subject is always `principals`)
ACTIONS: dict[str, str] = {
    "register_frameworks": "roles",
    "run_tasks": "users",
    "teardown_frameworks": "framework_principals",
    "view_frameworks": "users",
    "view_tasks": "users",
    "view_executors": "users",
    "access_sandboxes": "users",
    "view_flags": "flags",
    "view_roles": "roles",
    "get_endpoints": "paths",
    "register_agents": "agents",
    "update_maintenance_schedules": "machines",
    "get_maintenance_schedules": "machines",
    "start_maintenances": "machines",
    "stop_maintenances": "machines",
    "get_maintenance_statuses": "machines",
    "mark_agents_gone": "agents",
    "drain_agents": "agents",
    "deactivate_agents": "agents",
    "reactivate_agents": "agents",
}


class AclError(ValueError):
    """ACLs that cannot be used: the message names the offending part."""


class Kind(enum.Enum):
    SOME = "SOME"
    ANY = "ANY"
    NONE = "NONE"


@dataclass(frozen=True, slots=True)
class Entity:
    kind: Kind
    values: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, raw: Any, where: str) -> Entity:
        if not isinstance(raw, dict):
            raise AclError(f"{where} must be an object with 'values' or 'type'")
        unknown = set(raw) - {"values", "type"}
        if unknown:
            raise AclError(f"{where} has unknown field(s) {sorted(unknown)}")
        kind = raw.get("type", "SOME")
        if kind not in Kind.__members__:
            raise AclError(f"{where}: type must be ANY, NONE or SOME, not {kind!r}")
        values = raw.get("values", [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise AclError(f"{where}: 'values' must be a list of strings")
        if kind != "SOME" and values:
            raise AclError(f"{where}: 'values' go with type SOME only")
        return cls(Kind[kind], frozenset(values))


ANY = Entity(Kind.ANY)


def _request(value: str | None) -> Entity:
    return ANY if value is None else Entity(Kind.SOME, frozenset([value]))


def _matches(request: Entity, acl: Entity) -> bool:
    """Whether rule entity `acl` speaks about `request` (Mesos' LocalAuthorizer::matches)."""
    if request.kind is Kind.NONE:
        return acl.kind is Kind.NONE
    if request.kind is Kind.ANY:
        return acl.kind is Kind.ANY
    if acl.kind in (Kind.ANY, Kind.NONE):
        return True
    return request.values <= acl.values


def _allows(request: Entity, acl: Entity) -> bool:
    """Whether rule entity `acl` grants `request` (Mesos' LocalAuthorizer::allows)."""
    if request.kind in (Kind.NONE, Kind.ANY):
        return acl.kind is Kind.ANY
    if acl.kind is Kind.ANY:
        return True
    return acl.kind is Kind.SOME and request.values <= acl.values


@dataclass(frozen=True, slots=True)
class Rule:
    subject: Entity
    object: Entity


class Authorizer:
    """Answers whether a principal may take an action on an object."""

    def __init__(self, rules: dict[str, list[Rule]] | None = None, permissive: bool = True):
        self.rules = rules or {}
        self.permissive = permissive

    @property
    def is_open(self) -> bool:
        """No rule at all and permissive: everything is allowed (Mesos without --acls)."""
        return self.permissive and not any(self.rules.values())

    def allowed(self, action: str, principal: str | None, obj: str | None = None) -> bool:
        if action not in ACTIONS:
            raise KeyError(f"unknown ACL action {action!r}")
        subject, target = _request(principal), _request(obj)
        for rule in self.rules.get(action, ()):
            if _matches(subject, rule.subject) and _matches(target, rule.object):
                return _allows(subject, rule.subject) and _allows(target, rule.object)
        return self.permissive


def parse_acls(doc: Any, where: str = "--acls") -> Authorizer:
    if not isinstance(doc, dict):
        raise AclError(f"{where} must be a JSON object")
    permissive = doc.get("permissive", True)
    if not isinstance(permissive, bool):
        raise AclError(f"{where}: 'permissive' must be true or false")
    rules: dict[str, list[Rule]] = {}
    for action, entries in doc.items():
        if action == "permissive":
            continue
        if action not in ACTIONS:
            raise AclError(f"{where}: unknown ACL '{action}' (known: {', '.join(sorted(ACTIONS))})")
        if not isinstance(entries, list):
            raise AclError(f"{where}: '{action}' must be a list of rules")
        parsed = []
        for i, entry in enumerate(entries):
            here = f"{where}: {action}[{i}]"
            if not isinstance(entry, dict):
                raise AclError(f"{here} must be an object")
            object_key = ACTIONS[action]
            unknown = set(entry) - {"principals", object_key}
            if unknown:
                raise AclError(
                    f"{here} has unknown field(s) {sorted(unknown)} "
                    f"(expected 'principals' and '{object_key}')"
                )
            subject = Entity.parse(entry.get("principals", {"type": "ANY"}), f"{here}.principals")
            target = Entity.parse(entry.get(object_key, {"type": "ANY"}), f"{here}.{object_key}")
            parsed.append(Rule(subject, target))
        rules[action] = parsed
    return Authorizer(rules, permissive)


def load_acls(source: str | None) -> Authorizer:
    """`--acls`: JSON, or a path to it; None (no flag) allows everything."""
    if source is None or not source.strip():
        return Authorizer()
    text = source
    if not source.lstrip().startswith("{"):
        try:
            text = Path(source).read_text()
        except OSError as e:
            raise AclError(f"--acls: cannot read {source}: {e.strerror}") from None
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise AclError(f"--acls is not valid JSON: {e}") from None
    return parse_acls(doc)
