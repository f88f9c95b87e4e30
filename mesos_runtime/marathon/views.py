"""The JSON Marathon answers with: apps with their counts, tasks and deployments, the group
tree, the launch queue, label selectors for `?label=`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .appdef import App
from .instances import Instance
from .scheduler import MarathonScheduler

__all__ = ["app_json", "group_json", "label_selector", "queue_json", "task_json"]


def task_json(scheduler: MarathonScheduler, instance: Instance) -> dict[str, Any]:
    app = scheduler.apps.get(instance.app_id)
    role = app.role if app is not None else scheduler.role
    return instance.to_json(role=role, with_health=bool(app and app.health_checks))


def app_json(scheduler: MarathonScheduler, app: App, embed: set[str]) -> dict[str, Any]:
    """An app with what `embed` asks (`tasks`, `counts`, `deployments`, `lastTaskFailure`,
    `readiness`, `taskStats`; the `app.`/`apps.` prefix stripped)."""
    out = dict(app.json)
    instances = [i for i in scheduler.instances_of(app.id) if not i.gone]
    if "failures" in embed:
        embed = embed | {"tasks", "counts", "deployments", "lastTaskFailure"}
    if "counts" in embed or "tasks" in embed:
        checks = bool(app.health_checks)
        out["tasksStaged"] = sum(1 for i in instances if not i.running and not i.unreachable)
        out["tasksRunning"] = sum(1 for i in instances if i.running)
        out["tasksHealthy"] = sum(1 for i in instances if checks and i.healthy(True))
        out["tasksUnhealthy"] = sum(
            1 for i in instances if checks and i.running and i.health.alive is False
        )
    if "deployments" in embed or "tasks" in embed:
        out["deployments"] = [{"id": d.id} for d in scheduler.deployments_of(app.id)]
    if "tasks" in embed:
        out["tasks"] = [task_json(scheduler, i) for i in instances]
    if "lastTaskFailure" in embed and app.id in scheduler.last_failures:
        out["lastTaskFailure"] = scheduler.last_failures[app.id]
    if "readiness" in embed:
        out["readinessCheckResults"] = [
            r
            for d in scheduler.deployments_of(app.id)
            for r in scheduler.readiness_results(d).get(app.id, [])
        ]
    if "taskStats" in embed:
        out["taskStats"] = _task_stats(app, instances)
    return out


def _task_stats(app: App, instances: list[Instance]) -> dict[str, Any]:
    def stats(group: list[Instance]) -> dict[str, Any]:
        checks = bool(app.health_checks)
        return {
            "stats": {
                "counts": {
                    "staged": sum(1 for i in group if not i.running),
                    "running": sum(1 for i in group if i.running),
                    "healthy": sum(1 for i in group if checks and i.healthy(True)),
                    "unhealthy": sum(1 for i in group if checks and i.health.alive is False),
                }
            }
        }

    latest = [i for i in instances if i.config_version == app.config_version]
    outdated = [i for i in instances if i.config_version != app.config_version]
    out: dict[str, Any] = {"totalSummary": stats(instances)}
    if latest:
        out["withLatestConfig"] = stats(latest)
    if outdated:
        out["withOutdatedConfig"] = stats(outdated)
    return out


def group_json(
    scheduler: MarathonScheduler, group_id: str, embed: set[str], version: str
) -> dict[str, Any] | None:
    """The group tree under `group_id` built from the app ids (None: no such group)."""
    prefix = "" if group_id == "/" else group_id
    apps = [a for a in scheduler.apps.values() if a.id.startswith(prefix + "/")]
    if group_id != "/" and not apps:
        return None
    direct = [a for a in apps if a.id.rsplit("/", 1)[0] == prefix]
    children = sorted(
        {prefix + "/" + a.id[len(prefix) + 1 :].split("/", 1)[0] for a in apps if a not in direct}
    )
    return {
        "id": group_id,
        "apps": [app_json(scheduler, a, embed) for a in sorted(direct, key=lambda a: a.id)],
        "groups": [g for c in children if (g := group_json(scheduler, c, embed, version))],
        "pods": [],
        "dependencies": [],
        "version": version,
    }


def queue_json(scheduler: MarathonScheduler, *, embed_offers: bool) -> dict[str, Any]:
    items = []
    for app in sorted(scheduler.apps.values(), key=lambda a: a.id):
        count = scheduler.launches_wanted(app)
        if count <= 0:
            continue
        left = scheduler.delays.remaining(app.id)
        stats = scheduler.offer_stats.get(app.id)
        item: dict[str, Any] = {
            "app": app.json,
            "count": count,
            "delay": {"timeLeftSeconds": int(left + 0.999), "overdue": left <= 0},
            "since": app.version,
            "processedOffersSummary": stats.summary()
            if stats
            else {
                "processedOffersCount": 0,
                "unusedOffersCount": 0,
            },
        }
        if embed_offers:
            item["lastUnusedOffers"] = []
        items.append(item)
    return {"queue": items}


# --- ?label= selectors --------------------------------------------------------------------

_SELECTOR = re.compile(
    r"^\s*(?P<key>(?:[^\s=!,()\\]|\\.)+)\s*"
    r"(?:(?P<op>==|!=)\s*(?P<value>(?:[^,()\\]|\\.)*?)"
    r"|\s+(?P<set>in|notin)\s*\((?P<items>(?:[^()\\]|\\.)*)\))?\s*$"
)


def _split(query: str) -> list[str]:
    parts, depth, current, escaped = [], 0, "", False
    for char in query:
        if escaped:
            current += "\\" + char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "(":
            depth += 1
            current += char
        elif char == ")":
            depth -= 1
            current += char
        elif char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text.strip())


def label_selector(query: str) -> Callable[[dict[str, str]], bool]:
    """Marathon's `label` query (`env==prod, tier!=web, zone in (a,b), canary`) as a
    predicate over an app's labels; raises ValueError for a selector it cannot read."""
    tests: list[Callable[[dict[str, str]], bool]] = []
    for part in _split(query):
        match = _SELECTOR.match(part)
        if not match:
            raise ValueError(f"Invalid label selector: {part.strip()!r}")
        key = _unescape(match.group("key"))
        if match.group("op"):
            tests.append(_compare(key, match.group("op"), _unescape(match.group("value"))))
        elif match.group("set"):
            items = {_unescape(i) for i in _split(match.group("items"))}
            tests.append(_member(key, match.group("set") == "in", items))
        else:
            tests.append(_exists(key))
    return lambda labels: all(test(labels) for test in tests)


def _exists(key: str) -> Callable[[dict[str, str]], bool]:
    return lambda labels: key in labels


def _compare(key: str, op: str, value: str) -> Callable[[dict[str, str]], bool]:
    if op == "==":
        return lambda labels: labels.get(key) == value
    return lambda labels: key in labels and labels[key] != value


def _member(key: str, inside: bool, items: set[str]) -> Callable[[dict[str, str]], bool]:
    if inside:
        return lambda labels: labels.get(key) in items
    return lambda labels: key in labels and labels[key] not in items
