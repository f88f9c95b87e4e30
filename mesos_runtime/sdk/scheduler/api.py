"""The scheduler's HTTP API, as the DC/OS SDK serves it: plans, pods, endpoints, the
target configuration, the framework id and health. JSON; an unknown plan, phase, step or
pod is a 404 with `{"message": ...}`; a plan answers 200 when COMPLETE, 202 otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from mesos_runtime.sdk.plan import Plan, PlanError, Status, Step

__all__ = ["make_app", "plan_json"]


class Scheduler(Protocol):
    """What the API reads and drives (the service scheduler, or the uninstaller)."""

    def plan_names(self) -> list[str]: ...
    def plan_view(self, name: str) -> Plan: ...
    async def plan_changed(self) -> None: ...
    def pod_names(self) -> list[str]: ...
    def pod_status(self) -> dict[str, Any]: ...
    async def restart_steps(self, steps: list[Step]) -> None: ...
    async def restart_pod(self, instance: str) -> list[str]: ...
    async def replace_pod(self, instance: str) -> list[str]: ...
    def endpoints(self) -> dict[str, dict[str, list[str]]]: ...
    def target_spec(self) -> dict[str, Any]: ...
    def framework_id_value(self) -> str | None: ...
    def health(self) -> bool: ...
    def step_timings(self) -> dict[str, dict[str, float]]: ...


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "name": plan.name,
        "status": plan.status.value,
        "strategy": plan.strategy.value,
        "errors": list(plan.errors),
        "phases": [
            {
                "name": phase.name,
                "id": f"{plan.name}/{phase.name}",
                "status": phase.status.value,
                "strategy": phase.strategy.value,
                "steps": [
                    {
                        "name": step.name,
                        "id": f"{plan.name}/{phase.name}/{step.name}",
                        "status": step.shown_status.value,
                        "message": step.message or "",
                    }
                    for step in phase.steps
                ],
            }
            for phase in plan.phases
        ],
    }


def _missing(message: str) -> web.Response:
    return web.json_response({"message": message}, status=404)


def make_app(scheduler: Scheduler) -> web.Application:
    routes = web.RouteTableDef()

    def plan_of(request: web.Request) -> Plan:
        return scheduler.plan_view(request.match_info["plan"])

    @routes.get("/v1/plans")
    async def plans(request: web.Request) -> web.Response:
        return web.json_response(scheduler.plan_names())

    @routes.get("/v1/plans/{plan}")
    async def plan(request: web.Request) -> web.Response:
        try:
            found = plan_of(request)
        except KeyError:
            return _missing(f"no plan {request.match_info['plan']!r}")
        code = 200 if found.status is Status.COMPLETE else 202
        return web.json_response(plan_json(found), status=code)

    def action(
        move: Callable[[Plan, str | None, str | None], list[Step] | None],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            try:
                found = plan_of(request)
            except KeyError:
                return _missing(f"no plan {request.match_info['plan']!r}")
            phase, step = request.query.get("phase"), request.query.get("step")
            try:
                if phase is not None:
                    found.phase(phase)
                if step is not None:
                    found.step(step, phase)
                restarted = move(found, phase, step)
            except PlanError as e:
                return _missing(str(e))
            if restarted:
                await scheduler.restart_steps(restarted)
            await scheduler.plan_changed()
            return web.json_response({"message": f"{request.match_info['action']} of {found.name}"})

        return handler

    def start(plan: Plan, phase: str | None, step: str | None) -> None:
        plan.resume(phase)

    def stop(plan: Plan, phase: str | None, step: str | None) -> None:
        plan.pause(phase)
        plan.restart(phase, step)  # reset only: what runs keeps running, as in the SDK

    def restart(plan: Plan, phase: str | None, step: str | None) -> list[Step]:
        """The steps run again: their tasks are killed and relaunched, in plan order."""
        steps = plan.restart(phase, step)
        plan.resume(phase)
        return steps

    moves: dict[str, Callable[[Plan, str | None, str | None], list[Step] | None]] = {
        "start": start,
        "continue": start,
        "stop": stop,
        "interrupt": lambda plan, phase, step: plan.pause(phase),
        "restart": restart,
        "forceComplete": lambda plan, phase, step: plan.force_complete(phase, step),
    }

    @routes.post("/v1/plans/{plan}/{action}")
    async def plan_action(request: web.Request) -> web.Response:
        move = moves.get(request.match_info["action"])
        if move is None:
            return _missing(f"no plan action {request.match_info['action']!r}")
        return await action(move)(request)

    @routes.get("/v1/pod")
    async def pods(request: web.Request) -> web.Response:
        return web.json_response(scheduler.pod_names())

    @routes.get("/v1/pod/status")
    async def pod_status(request: web.Request) -> web.Response:
        return web.json_response(scheduler.pod_status())

    def instance_of(name: str) -> dict[str, Any] | None:
        for pod in scheduler.pod_status()["pods"]:
            for instance in pod["instances"]:
                if instance["name"] == name:
                    return instance
        return None

    @routes.get("/v1/pod/{instance}/info")
    @routes.get("/v1/pod/{instance}/status")
    async def pod_info(request: web.Request) -> web.Response:
        found = instance_of(request.match_info["instance"])
        if found is None:
            return _missing(f"no pod instance {request.match_info['instance']!r}")
        return web.json_response(found)

    @routes.post("/v1/pod/{instance}/{action}")
    async def pod_action(request: web.Request) -> web.Response:
        name, verb = request.match_info["instance"], request.match_info["action"]
        if verb not in ("restart", "replace"):
            return _missing(f"no pod action {verb!r}")
        if instance_of(name) is None:
            return _missing(f"no pod instance {name!r}")
        move = scheduler.restart_pod if verb == "restart" else scheduler.replace_pod
        tasks = await move(name)
        return web.json_response({"pod": name, "tasks": tasks})

    @routes.get("/v1/endpoints")
    async def endpoints(request: web.Request) -> web.Response:
        return web.json_response(sorted(scheduler.endpoints()))

    @routes.get("/v1/endpoints/{name}")
    async def endpoint(request: web.Request) -> web.Response:
        found = scheduler.endpoints().get(request.match_info["name"])
        if found is None:
            return _missing(f"no endpoint {request.match_info['name']!r}")
        return web.json_response(found)

    @routes.get("/v1/configurations/target")
    async def target(request: web.Request) -> web.Response:
        return web.json_response(scheduler.target_spec())

    @routes.get("/v1/state/frameworkId")
    async def framework_id(request: web.Request) -> web.Response:
        return web.json_response({"frameworkId": scheduler.framework_id_value()})

    @routes.get("/v1/health")
    async def health(request: web.Request) -> web.Response:
        ok = scheduler.health()
        return web.json_response({"healthy": ok}, status=200 if ok else 417)

    @routes.get("/v1/debug/steps")
    async def timings(request: web.Request) -> web.Response:
        return web.json_response(scheduler.step_timings())

    app = web.Application()
    app.add_routes(routes)
    return app
