"""What the REST API asks of Marathon: create, update, scale, restart and delete apps, kill
tasks, roll deployments back; each change is stored and rolled out as a deployment.

An app under way in a deployment is locked: another change answers 409 (`Conflict`)
unless forced, which cancels the deployments in the way.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from .appdef import App, AppDefaults, merge, read_app, scaling_only
from .deployments import Deployment, plan_deployment
from .instances import Instance, iso
from .scheduler import MarathonScheduler
from .validation import Invalid

__all__ = ["AppService", "Conflict", "NotFound"]


class NotFound(Exception):
    """404 with Marathon's message."""


class Conflict(Exception):
    """409: locked by deployments (listed), or an app that already exists."""

    def __init__(self, message: str, deployments: list[Deployment] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.deployments = deployments or []

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.deployments:
            out["deployments"] = [{"id": d.id} for d in self.deployments]
        return out


def _locked_message(deployments: list[Deployment]) -> str:
    return (
        "App is locked by one or more deployments. Override with the option '?force=true'. "
        f"View details at '/v2/deployments/{deployments[0].id}'."
    )


class AppService:
    def __init__(
        self,
        scheduler: MarathonScheduler,
        defaults: AppDefaults,
        *,
        local_port_min: int = 10000,
        local_port_max: int = 20000,
    ) -> None:
        self.scheduler = scheduler
        self.defaults = defaults
        self.local_port_min = local_port_min
        self.local_port_max = local_port_max
        self._last_version = 0.0

    @property
    def apps(self) -> dict[str, App]:
        return self.scheduler.apps

    def app(self, app_id: str) -> App:
        app = self.apps.get(app_id)
        if app is None:
            raise NotFound(f"App '{app_id}' does not exist")
        return app

    def new_version(self) -> str:
        """A timestamp version, strictly later than the last one handed out."""
        now = max(time.time(), self._last_version + 0.001)
        self._last_version = now
        return iso(now) or ""

    # --- changes -------------------------------------------------------------------------

    async def create(self, body: Any, *, force: bool = False) -> tuple[dict[str, Any], Deployment]:
        canonical = read_app(body, self.defaults)
        if canonical["id"] in self.apps:
            raise Conflict(f"An app with id [{canonical['id']}] already exists.")
        if any(a.startswith(canonical["id"] + "/") for a in self.apps):
            raise Conflict(f"A group with id [{canonical['id']}] already exists.")
        app = self._stamp(canonical, None, config_changed=True)
        deployment = await self.deploy({app["id"]: None}, {app["id"]: app}, force=force)
        return app, deployment

    async def update(
        self, app_id: str, body: Any, *, partial: bool = True, force: bool = False
    ) -> tuple[bool, Deployment]:
        """PUT/PATCH: (created, deployment). A body `{"version": V}` rolls back to V."""
        if not isinstance(body, dict):
            read_app(body, self.defaults, app_id=app_id)  # raises the type error
        existing = self.apps.get(app_id)
        if set(body) == {"version"} and existing is not None:
            old = await self.scheduler.repository.version(app_id, str(body["version"]))
            if old is None:
                raise NotFound(f"App '{app_id}' does not exist in version {body['version']}")
            source: Any = old
        elif existing is not None and partial:
            source = merge(existing.json, body)
        else:
            source = body
        canonical = read_app(source, self.defaults, app_id=app_id)
        if existing is None:
            app = self._stamp(canonical, None, config_changed=True)
            return True, await self.deploy({app_id: None}, {app_id: app}, force=force)
        changed = not scaling_only(existing.json, {**canonical, **_ported(canonical, existing)})
        app = self._stamp(canonical, existing, config_changed=changed)
        return False, await self.deploy({app_id: existing.json}, {app_id: app}, force=force)

    async def delete(self, app_id: str, *, force: bool = False) -> Deployment:
        app = self.app(app_id)
        return await self.deploy({app_id: app.json}, {app_id: None}, force=force)

    async def restart(self, app_id: str, *, force: bool = False) -> Deployment:
        existing = self.app(app_id)
        app = self._stamp(copy.deepcopy(existing.json), existing, config_changed=True)
        return await self.deploy({app_id: existing.json}, {app_id: app}, force=force, restart=True)

    async def kill_tasks(
        self, instances: list[Instance], *, scale: bool, force: bool = False
    ) -> Deployment | None:
        """Kill; with `scale` the apps shrink by what was killed (a deployment), else the
        killed instances are replaced."""
        if not scale:
            await self.scheduler.kill_instances(instances)
            return None
        by_app: dict[str, list[str]] = {}
        for instance in instances:
            by_app.setdefault(instance.app_id, []).append(instance.task_id)
        original: dict[str, dict[str, Any] | None] = {}
        target: dict[str, dict[str, Any] | None] = {}
        for app_id, task_ids in by_app.items():
            existing = self.app(app_id)
            scaled = copy.deepcopy(existing.json)
            scaled["instances"] = max(0, existing.instances - len(task_ids))
            original[app_id] = existing.json
            target[app_id] = self._stamp(scaled, existing, config_changed=False)
        return await self.deploy(original, target, force=force, kill_task_ids=by_app)

    async def rollback(self, deployment_id: str, *, force: bool) -> Deployment | None:
        deployment = self.scheduler.deployments.get(deployment_id)
        if deployment is None:
            raise NotFound(f"DeploymentPlan {deployment_id} does not exist")
        await self._cancel([deployment])
        if force:
            return None
        original: dict[str, dict[str, Any] | None] = {}
        target: dict[str, dict[str, Any] | None] = {}
        for app_id, before in deployment.original.items():
            current = self.apps.get(app_id)
            original[app_id] = current.json if current is not None else None
            if before is None:
                target[app_id] = None
            else:
                target[app_id] = self._stamp(copy.deepcopy(before), current, config_changed=True)
        return await self.deploy(original, target, force=True)

    # --- the common path -------------------------------------------------------------

    async def deploy(
        self,
        original: dict[str, dict[str, Any] | None],
        target: dict[str, dict[str, Any] | None],
        *,
        force: bool,
        restart: bool = False,
        kill_task_ids: dict[str, list[str]] | None = None,
    ) -> Deployment:
        locked = [d for d in self.scheduler.deployments.values() if set(d.target) & set(target)]
        if locked and not force:
            raise Conflict(_locked_message(locked), locked)
        await self._cancel(locked)
        repository = self.scheduler.repository
        for app_id, app in target.items():
            if app is None:
                self.apps.pop(app_id, None)
                await repository.delete_app(app_id)
                self.scheduler.delays.reset(app_id)
                self.scheduler.offer_stats.pop(app_id, None)
                continue
            before = original.get(app_id)
            if before is None or not scaling_only(before, app):
                self.scheduler.delays.reset(app_id)
                self.scheduler.offer_stats.pop(app_id, None)
            await repository.put_app(app)
            self.apps[app_id] = App.from_json(app)
        deployment = plan_deployment(
            self.new_version(), original, target, restart=restart, kill_task_ids=kill_task_ids
        )
        self.scheduler.deployments[deployment.id] = deployment
        await repository.put_deployment(deployment)
        self.scheduler.publish_deployment_info(deployment)
        self.scheduler.wake()
        return deployment

    async def _cancel(self, deployments: list[Deployment]) -> None:
        for deployment in deployments:
            await self.scheduler.finish_deployment(deployment, success=False)

    def _stamp(
        self, canonical: dict[str, Any], existing: App | None, *, config_changed: bool
    ) -> dict[str, Any]:
        """Give a new definition its version, versionInfo and service ports."""
        version = self.new_version()
        canonical["version"] = version
        last_config = version if config_changed or existing is None else existing.config_version
        canonical["versionInfo"] = {"lastScalingAt": version, "lastConfigChangeAt": last_config}
        self._assign_service_ports(canonical, existing)
        return canonical

    def _assign_service_ports(self, app: dict[str, Any], existing: App | None) -> None:
        used = {p for a in self.apps.values() if a.id != app["id"] for p in _declared_ports(a.json)}
        previous = _declared_ports(existing.json) if existing is not None else []
        for index, port in enumerate(_port_slots(app)):
            if port.get(_key(app)):
                continue
            if index < len(previous) and previous[index] and previous[index] not in used:
                port[_key(app)] = previous[index]
            else:
                port[_key(app)] = self._free_port(used)
            used.add(port[_key(app)])

    def _free_port(self, used: set[int]) -> int:
        for candidate in range(self.local_port_min, self.local_port_max):
            if candidate not in used:
                return candidate
        raise Invalid(
            422,
            "Object is not valid",
            [{"path": "/portDefinitions", "errors": ["no service port left to assign"]}],
        )


def _key(app: dict[str, Any]) -> str:
    return "servicePort" if _mappings(app) is not None else "port"


def _mappings(app: dict[str, Any]) -> list[dict[str, Any]] | None:
    container = app.get("container") or {}
    mappings = container.get("portMappings")
    if mappings is None:
        mappings = (container.get("docker") or {}).get("portMappings")
    return mappings


def _port_slots(app: dict[str, Any]) -> list[dict[str, Any]]:
    mappings = _mappings(app)
    return mappings if mappings is not None else list(app.get("portDefinitions", []))


def _declared_ports(app: dict[str, Any]) -> list[int]:
    key = _key(app)
    return [int(p.get(key, 0)) for p in _port_slots(app)]


def _ported(new: dict[str, Any], existing: App) -> dict[str, Any]:
    """The new definition with the existing service ports where it asks for any (0), so
    that a scale-only body is not mistaken for a port change."""
    out: dict[str, Any] = {}
    slots = _port_slots(new)
    previous = _declared_ports(existing.json)
    if len(slots) == len(previous) and all(
        p.get(_key(new), 0) in (0, q) for p, q in zip(slots, previous, strict=True)
    ):
        filled = [dict(p, **{_key(new): q}) for p, q in zip(slots, previous, strict=True)]
        if _mappings(new) is None:
            out["portDefinitions"] = filled
        else:
            container = copy.deepcopy(new["container"])
            if "portMappings" in container:
                container["portMappings"] = filled
            else:
                container["docker"]["portMappings"] = filled
            out["container"] = container
    return out
