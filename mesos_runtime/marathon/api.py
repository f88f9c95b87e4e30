"""Marathon's REST API v2 over aiohttp: a thin translation of requests into `AppService`
calls and views, with Marathon's status codes and error shapes (400/422 with details, 404,
409 with the deployments in the way, 503 while there is no leader).

Callers authenticate first where credentials are configured (`security.py`); requests
reaching an instance that does not lead are then proxied to the leader (`proxy.py`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from mesos_runtime.scheduler.store import NotLeader, StoreError

from . import metrics, pathid
from .deployments import Deployment
from .events import EventBus, stream_events
from .instances import Instance
from .scheduler import MarathonScheduler
from .security import ApiSecurity, authentication
from .service import AppService, Conflict, NotFound
from .validation import Invalid
from .views import app_json, group_json, label_selector, queue_json, task_json

__all__ = ["Leading", "MarathonContext", "make_app"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Leading(Protocol):
    """What this instance has while it leads."""

    scheduler: MarathonScheduler
    service: AppService


class MarathonContext(Protocol):
    """What the HTTP layer needs from the daemon."""

    events: EventBus
    info: dict[str, Any]
    identifier: str

    @property
    def leading(self) -> Leading | None: ...

    async def leader_address(self) -> str | None: ...

    async def abdicate(self) -> None: ...

    async def proxy(self, request: web.Request, leader: str) -> web.StreamResponse: ...


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body, separators=(",", ":")),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )


def _message(status: int, message: str) -> web.Response:
    return _json({"message": message}, status)


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        raise Invalid(400, "Invalid JSON", [{"path": "/", "errors": ["error.expected.jsobject"]}])
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise Invalid(
            400, "Invalid JSON", [{"path": "/", "errors": [f"error.invalid.json: {e}"]}]
        ) from None


def _flag(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in ("true", "1", ""):
        return True
    if lowered in ("false", "0"):
        return False
    raise Invalid(400, f"Query parameter '{name}' must be true or false", [])


def _embed(request: web.Request, prefixes: tuple[str, ...]) -> set[str]:
    out = set()
    for value in request.query.getall("embed", []):
        for prefix in prefixes:
            if value.startswith(prefix):
                out.add(value[len(prefix) :])
    return out


def _deployment_result(deployment: Deployment) -> dict[str, Any]:
    return {"deploymentId": deployment.id, "version": deployment.version}


def _app_id(raw: str) -> str:
    try:
        return pathid.normalize(raw)
    except pathid.PathIdError as e:
        raise Invalid(422, "Object is not valid", [{"path": "/id", "errors": [str(e)]}]) from None


_APP_ROUTE = re.compile(
    r"^(?P<id>.+?)(?:/(?P<kind>tasks|versions|restart)(?:/(?P<sub>[^/]+))?)?/?$"
)


def make_app(ctx: MarathonContext, security: ApiSecurity) -> web.Application:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Invalid as e:
            return _json(e.to_json(), e.status)
        except NotFound as e:
            return _message(404, str(e))
        except Conflict as e:
            return _json(e.to_json(), 409)
        except NotLeader:
            return _message(503, "This instance lost leadership; retry against the new leader")
        except StoreError as e:
            log.error("state store error: %s", e)
            return _message(503, f"State store unavailable: {e}")

    @web.middleware
    async def leader_only(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        local = path in ("/ping", "/metrics", "/metrics/prometheus") or (
            path == "/v2/leader" and request.method == "GET"
        )
        if local or not path.startswith("/v2") or ctx.leading is not None:
            return await handler(request)
        leader = await ctx.leader_address()
        if leader is None:
            return _message(503, "Could not determine the current leader")
        if leader == ctx.identifier:
            return _message(503, "This instance was just elected and is loading its state")
        return await ctx.proxy(request, leader)

    def leading() -> Leading:
        state = ctx.leading
        if state is None:
            raise NotLeader("not leading")
        return state

    # --- misc ----------------------------------------------------------------------

    async def ping(_: web.Request) -> web.Response:
        return web.Response(text="pong", content_type="text/plain")

    async def get_metrics(_: web.Request) -> web.Response:
        return _json(metrics.snapshot(ctx))

    async def get_prometheus(_: web.Request) -> web.Response:
        return web.Response(
            text=metrics.prometheus(metrics.snapshot(ctx)), content_type="text/plain"
        )

    async def get_info(_: web.Request) -> web.Response:
        state = ctx.leading
        info = dict(ctx.info)
        info["elected"] = state is not None
        info["leader"] = await ctx.leader_address()
        if state is not None and state.scheduler.framework_id:
            info["frameworkId"] = state.scheduler.framework_id
        return _json(info)

    async def get_leader(_: web.Request) -> web.Response:
        leader = await ctx.leader_address()
        if leader is None:
            return _message(404, "There is no leader")
        return _json({"leader": leader})

    async def delete_leader(_: web.Request) -> web.Response:
        leading()
        await ctx.abdicate()
        return _message(200, "Leadership abdicated")

    async def events(request: web.Request) -> web.StreamResponse:
        accept = request.headers.get("Accept", "")
        if "text/event-stream" not in accept and "*/*" not in accept and accept:
            return _message(406, "GET /v2/events needs 'Accept: text/event-stream'")
        leading()
        return await stream_events(request, ctx.events, request.query.getall("event_type", []))

    # --- apps ----------------------------------------------------------------------

    async def list_apps(request: web.Request) -> web.Response:
        state = leading()
        embed = _embed(request, ("apps.", "app.")) or {"counts", "deployments"}
        apps = sorted(state.scheduler.apps.values(), key=lambda a: a.id)
        cmd = request.query.get("cmd")
        if cmd:
            apps = [a for a in apps if a.cmd and cmd in a.cmd]
        wanted_id = request.query.get("id")
        if wanted_id:
            apps = [a for a in apps if wanted_id in a.id]
        label = request.query.get("label")
        if label:
            try:
                selector = label_selector(label)
            except ValueError as e:
                return _message(400, str(e))
            apps = [a for a in apps if selector(a.labels)]
        return _json({"apps": [app_json(state.scheduler, a, embed) for a in apps]})

    async def create_app(request: web.Request) -> web.Response:
        state = leading()
        body = await _body(request)
        app, _deployment = await state.service.create(body, force=_flag(request, "force"))
        ctx.events.publish(
            "api_post_event", clientIp=request.remote or "", uri=request.path, appDefinition=app
        )
        shown = app_json(state.scheduler, state.service.app(app["id"]), {"counts", "deployments"})
        return web.Response(
            text=json.dumps(shown, separators=(",", ":")),
            status=201,
            content_type="application/json",
            headers={"Location": f"/v2/apps{app['id']}"},
        )

    async def update_apps(request: web.Request) -> web.Response:
        """PUT/PATCH /v2/apps: several apps in one deployment each (created if absent)."""
        state = leading()
        body = await _body(request)
        if not isinstance(body, list):
            raise Invalid(
                400, "Invalid JSON", [{"path": "/", "errors": ["error.expected.jsarray"]}]
            )
        force = _flag(request, "force")
        partial = request.method == "PATCH" or _flag(request, "partialUpdate", True)
        last: Deployment | None = None
        for i, item in enumerate(body):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise Invalid(
                    422, "Object is not valid", [{"path": f"({i})/id", "errors": ["is required"]}]
                )
            app_id = _app_id(item["id"])
            if request.method == "PATCH" and app_id not in state.scheduler.apps:
                raise NotFound(f"App '{app_id}' does not exist")
            _created, last = await state.service.update(app_id, item, partial=partial, force=force)
        if last is None:
            return _message(200, "Nothing to deploy")
        return _json(_deployment_result(last))

    async def app_route(request: web.Request) -> web.StreamResponse:
        match = _APP_ROUTE.match(request.match_info["rest"])
        if not match:
            raise NotFound(f"App '/{request.match_info['rest']}' does not exist")
        app_id = _app_id(match.group("id"))
        kind, sub, method = match.group("kind"), match.group("sub"), request.method
        if kind is None:
            return await _one_app(request, app_id, method)
        if kind == "restart" and method == "POST" and sub is None:
            deployment = await leading().service.restart(app_id, force=_flag(request, "force"))
            return _json(_deployment_result(deployment))
        if kind == "versions" and method == "GET":
            return await _versions(app_id, sub)
        if kind == "tasks":
            return await _app_tasks(request, app_id, sub, method)
        raise web.HTTPMethodNotAllowed(method, ["GET", "PUT", "PATCH", "DELETE", "POST"])

    async def _one_app(request: web.Request, app_id: str, method: str) -> web.Response:
        state = leading()
        force = _flag(request, "force")
        if method == "GET":
            embed = _embed(request, ("app.", "apps.")) or {
                "counts",
                "deployments",
                "tasks",
                "lastTaskFailure",
            }
            return _json({"app": app_json(state.scheduler, state.service.app(app_id), embed)})
        if method in ("PUT", "PATCH"):
            body = await _body(request)
            if method == "PATCH" and app_id not in state.scheduler.apps:
                raise NotFound(f"App '{app_id}' does not exist")
            partial = method == "PATCH" or _flag(request, "partialUpdate", True)
            created, deployment = await state.service.update(
                app_id, body, partial=partial, force=force
            )
            ctx.events.publish(
                "api_post_event",
                clientIp=request.remote or "",
                uri=request.path,
                appDefinition=state.service.app(app_id).json,
            )
            result = _deployment_result(deployment)
            if created:
                return web.Response(
                    text=json.dumps(result),
                    status=201,
                    content_type="application/json",
                    headers={"Location": f"/v2/apps{app_id}"},
                )
            return _json(result)
        if method == "DELETE":
            deployment = await state.service.delete(app_id, force=force)
            return _json(_deployment_result(deployment))
        raise web.HTTPMethodNotAllowed(method, ["GET", "PUT", "PATCH", "DELETE"])

    async def _versions(app_id: str, version: str | None) -> web.Response:
        state = leading()
        repository = state.scheduler.repository
        if version is None:
            versions = await repository.versions(app_id)
            if not versions and app_id not in state.scheduler.apps:
                raise NotFound(f"App '{app_id}' does not exist")
            return _json({"versions": versions})
        app = await repository.version(app_id, version)
        if app is None:
            raise NotFound(f"App '{app_id}' does not exist in version {version}")
        return _json(app)

    async def _app_tasks(
        request: web.Request, app_id: str, task_id: str | None, method: str
    ) -> web.Response:
        state = leading()
        state.service.app(app_id)
        instances = [i for i in state.scheduler.instances_of(app_id) if not i.gone]
        if method == "GET" and task_id is None:
            if "text/plain" in request.headers.get("Accept", ""):
                return web.Response(text=_tasks_text(instances), content_type="text/plain")
            return _json({"tasks": [task_json(state.scheduler, i) for i in instances]})
        if method != "DELETE":
            raise web.HTTPMethodNotAllowed(method, ["GET", "DELETE"])
        scale = _flag(request, "scale")
        if _flag(request, "wipe"):
            raise Invalid(
                422,
                "Object is not valid",
                [
                    {
                        "path": "/wipe",
                        "errors": [
                            "wipe is for apps with persistent volumes, which apps here do not have"
                        ],
                    }
                ],
            )
        if task_id is not None:
            chosen = [i for i in instances if task_id in (i.task_id, i.instance_id)]
            if not chosen:
                raise NotFound(f"Task '{task_id}' does not exist")
        else:
            host = request.query.get("host")
            chosen = [i for i in instances if host is None or i.host == host]
        shown = [task_json(state.scheduler, i) for i in chosen]
        deployment = await state.service.kill_tasks(
            chosen, scale=scale, force=_flag(request, "force")
        )
        if deployment is not None:
            return _json(_deployment_result(deployment))
        if task_id is not None:
            return _json({"task": shown[0]})
        return _json({"tasks": shown})

    # --- tasks ---------------------------------------------------------------------

    async def list_tasks(request: web.Request) -> web.Response:
        state = leading()
        statuses = set(request.query.getall("status", []) + request.query.getall("status[]", []))
        instances = [i for i in state.scheduler.instances.values() if not i.gone]
        if statuses:
            instances = [
                i
                for i in instances
                if ("running" in statuses and i.running)
                or ("staging" in statuses and not i.running)
            ]
        if "text/plain" in request.headers.get("Accept", ""):
            return web.Response(text=_tasks_text(instances), content_type="text/plain")
        return _json({"tasks": [task_json(state.scheduler, i) for i in instances]})

    async def delete_tasks(request: web.Request) -> web.Response:
        state = leading()
        body = await _body(request)
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise Invalid(
                400, "Invalid JSON", [{"path": "/ids", "errors": ["error.expected.jsarray"]}]
            )
        for task_id in ids:
            if pathid.app_id_of_task(task_id) is None:
                return _message(400, f"Invalid task id '{task_id}'")
        chosen = [state.scheduler.instances[i] for i in ids if i in state.scheduler.instances]
        shown = [task_json(state.scheduler, i) for i in chosen]
        deployment = await state.service.kill_tasks(
            chosen, scale=_flag(request, "scale"), force=_flag(request, "force")
        )
        if deployment is not None:
            return _json(_deployment_result(deployment))
        return _json({"tasks": shown})

    # --- deployments, queue --------------------------------------------------------------

    async def list_deployments(_: web.Request) -> web.Response:
        scheduler = leading().scheduler
        return _json(
            [
                d.to_json(scheduler.readiness_results(d))
                for d in sorted(scheduler.deployments.values(), key=lambda d: d.version)
            ]
        )

    async def delete_deployment(request: web.Request) -> web.Response:
        state = leading()
        force = _flag(request, "force")
        rollback = await state.service.rollback(request.match_info["id"], force=force)
        if rollback is None:
            return web.Response(status=202)
        return _json(_deployment_result(rollback))

    async def get_queue(request: web.Request) -> web.Response:
        embed = "lastUnusedOffers" in request.query.getall("embed", [])
        return _json(queue_json(leading().scheduler, embed_offers=embed))

    async def delete_delay(request: web.Request) -> web.Response:
        state = leading()
        app_id = _app_id(request.match_info["rest"].removesuffix("/delay"))
        state.service.app(app_id)
        if not state.scheduler.delays.reset(app_id):
            raise NotFound(f"Application {app_id} not found in tasks queue.")
        state.scheduler.wake()
        return web.Response(status=204)

    # --- groups --------------------------------------------------------------------

    async def get_group(request: web.Request) -> web.Response:
        state = leading()
        group_id = _group_id(request)
        embed = {
            e.removeprefix("group.apps.").removeprefix("group.")
            for e in request.query.getall("embed", [])
        }
        embed = {"counts", "deployments"} | embed
        version = max((a.version for a in state.scheduler.apps.values()), default="")
        tree = group_json(state.scheduler, group_id, embed, version)
        if tree is None:
            raise NotFound(f"Group '{group_id}' does not exist")
        return _json(tree)

    async def change_group(request: web.Request) -> web.Response:
        """POST/PUT a group `{id?, apps: [...]}`: its apps created or updated."""
        state = leading()
        body = await _body(request)
        if not isinstance(body, dict):
            raise Invalid(
                400, "Invalid JSON", [{"path": "/", "errors": ["error.expected.jsobject"]}]
            )
        group_id = _group_id(request)
        if request.method == "POST" and isinstance(body.get("id"), str):
            group_id = pathid.normalize(body["id"], group_id)
        apps = body.get("apps") or []
        if not isinstance(apps, list) or body.get("groups"):
            raise Invalid(
                422,
                "Object is not valid",
                [
                    {
                        "path": "/groups",
                        "errors": [
                            "only a group's 'apps' can be given (app ids name nested groups)"
                        ],
                    }
                ],
            )
        last = None
        for i, item in enumerate(apps):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise Invalid(
                    422,
                    "Object is not valid",
                    [{"path": f"/apps({i})/id", "errors": ["is required"]}],
                )
            app_id = pathid.normalize(item["id"], group_id)
            if request.method == "POST" and app_id in state.scheduler.apps:
                raise Conflict(f"An app with id [{app_id}] already exists.")
            _c, last = await state.service.update(
                app_id, {**item, "id": app_id}, partial=True, force=_flag(request, "force")
            )
        if last is None:
            return _message(200, "Nothing to deploy")
        status = 201 if request.method == "POST" else 200
        return _json(_deployment_result(last), status)

    async def delete_group(request: web.Request) -> web.Response:
        state = leading()
        group_id = _group_id(request)
        prefix = "" if group_id == "/" else group_id
        apps = {
            a.id: a.json for a in state.scheduler.apps.values() if a.id.startswith(prefix + "/")
        }
        if not apps:
            raise NotFound(f"Group '{group_id}' does not exist")
        deployment = await state.service.deploy(
            dict(apps), dict.fromkeys(apps), force=_flag(request, "force")
        )
        return _json(_deployment_result(deployment))

    def _group_id(request: web.Request) -> str:
        raw = request.match_info.get("rest", "")
        return pathid.normalize(raw) if raw.strip("/") else "/"

    app = web.Application(
        middlewares=[authentication(security), errors, leader_only],
        client_max_size=4 * 1024 * 1024,
    )
    r = app.router
    r.add_get("/ping", ping)
    r.add_get("/metrics", get_metrics)
    r.add_get("/metrics/prometheus", get_prometheus)
    r.add_get("/v2/info", get_info)
    r.add_get("/v2/leader", get_leader)
    r.add_delete("/v2/leader", delete_leader)
    r.add_get("/v2/events", events)
    r.add_get("/v2/apps", list_apps)
    r.add_post("/v2/apps", create_app)
    r.add_put("/v2/apps", update_apps)
    r.add_patch("/v2/apps", update_apps)
    r.add_route("*", "/v2/apps/{rest:.+}", app_route)
    r.add_get("/v2/tasks", list_tasks)
    r.add_post("/v2/tasks/delete", delete_tasks)
    r.add_get("/v2/deployments", list_deployments)
    r.add_delete("/v2/deployments/{id}", delete_deployment)
    r.add_get("/v2/queue", get_queue)
    r.add_delete("/v2/queue/{rest:.+/delay}", delete_delay)
    r.add_get("/v2/groups", get_group)
    r.add_get("/v2/groups/{rest:.+}", get_group)
    r.add_post("/v2/groups", change_group)
    r.add_put("/v2/groups", change_group)
    r.add_put("/v2/groups/{rest:.+}", change_group)
    r.add_post("/v2/groups/{rest:.+}", change_group)
    r.add_delete("/v2/groups/{rest:.+}", delete_group)
    return app


def _tasks_text(instances: list[Instance]) -> str:
    lines = []
    for i in instances:
        endpoints = "\t".join(f"{i.host}:{p}" for p in i.ports)
        service = i.service_ports[0] if i.service_ports else 0
        lines.append(f"{pathid.task_prefix(i.app_id)}\t{service}\t{endpoints}")
    return "\n".join(lines) + ("\n" if lines else "")
