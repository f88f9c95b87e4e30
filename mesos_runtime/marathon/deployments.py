"""Deployments: how a change of app definitions is rolled out, step by step.

A deployment holds the definitions before (`original`, for rollback) and after (`target`)
and ordered steps of actions (`StartApplication`, `ScaleApplication`,
`RestartApplication`, `StopApplication`), apps that others depend on first. The scheduler
drives the current step's actions; this module only plans them and writes their JSON.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from .appdef import scaling_only

__all__ = ["Action", "Deployment", "plan_deployment"]

START = "StartApplication"
SCALE = "ScaleApplication"
RESTART = "RestartApplication"
STOP = "StopApplication"


@dataclass
class Action:
    action: str
    app: str
    kill_task_ids: list[str] = field(default_factory=list)  # for scale-downs of given tasks

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "app": self.app}


@dataclass
class Deployment:
    id: str
    version: str
    original: dict[str, dict[str, Any] | None]
    target: dict[str, dict[str, Any] | None]
    steps: list[list[Action]]
    current_step: int = 0  # index of the step under way

    @property
    def affected_apps(self) -> list[str]:
        return sorted(self.target)

    @property
    def current_actions(self) -> list[Action]:
        return self.steps[self.current_step] if self.current_step < len(self.steps) else []

    def action_for(self, app_id: str) -> Action | None:
        return next((a for a in self.current_actions if a.app == app_id), None)

    def to_json(self, readiness: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
        """One entry of `GET /v2/deployments`."""
        readiness = readiness or {}
        return {
            "id": self.id,
            "version": self.version,
            "affectedApps": self.affected_apps,
            "affectedPods": [],
            "steps": [{"actions": [a.to_json() for a in step]} for step in self.steps],
            "currentActions": [
                {**a.to_json(), "readinessCheckResults": readiness.get(a.app, [])}
                for a in self.current_actions
            ],
            "currentStep": min(self.current_step + 1, len(self.steps)),
            "totalSteps": len(self.steps),
        }

    def plan_json(self) -> dict[str, Any]:
        """The plan as `deployment_*` events carry it."""
        return {
            "id": self.id,
            "version": self.version,
            "steps": [{"actions": [a.to_json() for a in step]} for step in self.steps],
            "original": {"apps": [a for a in self.original.values() if a]},
            "target": {"apps": [a for a in self.target.values() if a]},
        }

    def to_store(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "original": self.original,
            "target": self.target,
            "steps": [
                [{"action": a.action, "app": a.app, "kill": a.kill_task_ids} for a in step]
                for step in self.steps
            ],
            "currentStep": self.current_step,
        }

    @classmethod
    def from_store(cls, data: dict[str, Any]) -> Deployment:
        return cls(
            id=data["id"],
            version=data["version"],
            original=data["original"],
            target=data["target"],
            steps=[
                [Action(a["action"], a["app"], list(a.get("kill", []))) for a in step]
                for step in data["steps"]
            ],
            current_step=int(data.get("currentStep", 0)),
        )


def plan_deployment(
    version: str,
    original: dict[str, dict[str, Any] | None],
    target: dict[str, dict[str, Any] | None],
    *,
    restart: bool = False,
    kill_task_ids: dict[str, list[str]] | None = None,
) -> Deployment:
    """Steps from `original` to `target` (per app id, None = absent)."""
    kill_task_ids = kill_task_ids or {}
    starts, scales, restarts, stops = [], [], [], []
    for app_id in sorted(target):
        before, after = original.get(app_id), target[app_id]
        if after is None:
            if before is not None:
                stops.append(Action(STOP, app_id))
        elif before is None:
            starts.append(Action(START, app_id))
            scales.append(Action(SCALE, app_id))
        elif restart or not scaling_only(before, after):
            restarts.append(Action(RESTART, app_id))
        else:
            scales.append(Action(SCALE, app_id, kill_task_ids.get(app_id, [])))
    steps: list[list[Action]] = []
    if stops:
        steps.append(stops)
    if starts:
        steps.append(starts)
    steps += _by_dependencies(scales + restarts, target)
    return Deployment(str(uuid.uuid4()), version, dict(original), dict(target), steps)


def _by_dependencies(
    actions: list[Action], target: dict[str, dict[str, Any] | None]
) -> list[list[Action]]:
    """Actions in steps such that an app's dependencies come in earlier steps."""
    if not actions:
        return []
    depends = {
        a.app: set((target.get(a.app) or {}).get("dependencies", [])) & {b.app for b in actions}
        for a in actions
    }
    steps: list[list[Action]] = []
    done: set[str] = set()
    left = list(actions)
    while left:
        ready = [a for a in left if depends[a.app] <= done]
        if not ready:  # a cycle: Marathon refuses those; here the rest go together
            ready = left
        steps.append(ready)
        done |= {a.app for a in ready}
        left = [a for a in left if a not in ready]
    return steps
