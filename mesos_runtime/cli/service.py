"""`infinity <service> plan|pod|endpoints ...`: one installed service, through its own
scheduler's HTTP API (found as its framework's `webui_url` in `/master/state`).
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from . import kafka, spark
from .catalog import JsonOption
from .endpoints import resolve_master
from .output import fail, out, print_json, table
from .plans import plan_view
from .service_api import SchedulerApi, find_scheduler

__all__ = ["app"]

app = typer.Typer(
    help="Commands for one installed service: infinity <service> plan|pod|endpoints ...",
    no_args_is_help=True,
)
plan_app = typer.Typer(
    help="The service's plans (deploy, update, recovery, ...).", no_args_is_help=True
)
pod_app = typer.Typer(help="The service's pods.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
app.add_typer(pod_app, name="pod")
app.add_typer(kafka.topic_app, name="topic")  # a Kafka service's own
app.add_typer(kafka.broker_app, name="broker")
app.command(  # a Spark service's own
    "submit", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)(spark.submit)

PhaseOption = Annotated[str | None, typer.Option("--phase", help="Only this phase.")]
StepOption = Annotated[str | None, typer.Option("--step", help="Only this step.")]


def scheduler(ctx: typer.Context) -> SchedulerApi:
    """The service named on the command line (`infinity <service> ...`), reachable."""
    root = ctx.find_root()
    name = root.obj if isinstance(root.obj, str) else None
    if not name:
        fail("usage: infinity <service> plan|pod|endpoints ...")
    url = find_scheduler(resolve_master(os.environ.get("INFINITY_MASTER")), name)
    if url is None:
        fail(
            f"no scheduler of a service {name!r} is registered with the master "
            "(`infinity list` shows the installed services; a scheduler just installed "
            "or restarted takes a few seconds)"
        )
    return SchedulerApi(name, url)


# --- plans ---------------------------------------------------------------------------------


@plan_app.command("list")
def plan_list(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """The service's plans and their states."""
    api = scheduler(ctx)
    names = list(api.get("/v1/plans") or [])
    plans = [{**api.plan(n), "name": n} for n in names]
    if json_output:
        print_json(plans)
        return
    out.print(
        table(
            None,
            ["PLAN", "STRATEGY", "STATUS"],
            [(p.get("name"), p.get("strategy"), p.get("status")) for p in plans],
        )
    )


@plan_app.command("status")
def plan_status(
    ctx: typer.Context,
    plan: Annotated[str, typer.Argument(help="The plan.")] = "deploy",
    json_output: JsonOption = False,
) -> None:
    """One plan as a tree: plan, phases, steps, with strategies and states."""
    doc = scheduler(ctx).plan(plan)
    if "status" not in doc:
        fail(f"{plan}: {doc.get('message') or 'no such plan'}")
    if json_output:
        print_json(doc)
        return
    out.print(plan_view(doc))


def _plan_call(  # noqa: PLR0917 - the call, what it did, and where
    ctx: typer.Context, plan: str, verb: str, done: str, phase: str | None, step: str | None
) -> None:
    """POST the API's `verb` (the SDK's words: interrupt, continue, ...); say what was `done`
    in the operator's words: `kafka: paused phase broker of plan deploy`."""
    api = scheduler(ctx)
    api.post(f"/v1/plans/{plan}/{verb}", {"phase": phase or "", "step": step or ""})
    where = [f"{kind} {name}" for kind, name in (("step", step), ("phase", phase)) if name]
    out.print(f"{api.service}: {done} {' of '.join([*where, f'plan {plan}'])}", markup=False)


@plan_app.command("pause")
def plan_pause(
    ctx: typer.Context,
    plan: Annotated[str, typer.Argument(help="The plan.")] = "deploy",
    phase: PhaseOption = None,
) -> None:
    """Stop starting new steps (running ones finish)."""
    _plan_call(ctx, plan, "interrupt", "paused", phase, None)


@plan_app.command("resume")
def plan_resume(
    ctx: typer.Context,
    plan: Annotated[str, typer.Argument(help="The plan.")] = "deploy",
    phase: PhaseOption = None,
) -> None:
    """Go on with a paused plan."""
    _plan_call(ctx, plan, "continue", "resumed", phase, None)


@plan_app.command("restart")
def plan_restart(
    ctx: typer.Context,
    plan: Annotated[str, typer.Argument(help="The plan.")] = "deploy",
    phase: PhaseOption = None,
    step: StepOption = None,
) -> None:
    """Run a plan (or one phase or step) again from the start."""
    _plan_call(ctx, plan, "restart", "restarted", phase, step)


@plan_app.command("force-complete")
def plan_force_complete(
    ctx: typer.Context,
    plan: Annotated[str, typer.Argument(help="The plan.")] = "deploy",
    phase: PhaseOption = None,
    step: StepOption = None,
) -> None:
    """Mark a plan (or phase or step) COMPLETE without running it."""
    _plan_call(ctx, plan, "forceComplete", "force-completed", phase, step)


# --- pods ----------------------------------------------------------------------------------


@pod_app.command("list")
def pod_list(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """The service's pod instances."""
    pods = list(scheduler(ctx).get("/v1/pod") or [])
    if json_output:
        print_json(pods)
        return
    for pod in pods:
        out.print(pod, markup=False)


def _task_rows(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = []
    for pod in doc.get("pods", []):
        for instance in pod.get("instances", []):
            for task in instance.get("tasks", []):
                rows.append(
                    (
                        instance.get("name"),
                        task.get("name"),
                        task.get("status"),
                        task.get("hostname"),
                        task.get("id"),
                    )
                )
    return rows


@pod_app.command("status")
def pod_status(
    ctx: typer.Context,
    instance: Annotated[str | None, typer.Argument(help="One pod instance, e.g. kafka-0.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Every pod instance's tasks: state, host, task id (or one instance's details)."""
    api = scheduler(ctx)
    doc = api.get(f"/v1/pod/{instance}/info" if instance else "/v1/pod/status")
    if json_output or instance:
        print_json(doc)
        return
    out.print(table(None, ["POD", "TASK", "STATUS", "HOST", "ID"], _task_rows(doc)))


def _pod_call(ctx: typer.Context, instance: str, verb: str) -> None:
    api = scheduler(ctx)
    doc = api.post(f"/v1/pod/{instance}/{verb}") or {}
    tasks = ", ".join(doc.get("tasks", [])) if isinstance(doc, dict) else ""
    out.print(f"{api.service}: {verb} {instance}{f' ({tasks})' if tasks else ''}", markup=False)


@pod_app.command("restart")
def pod_restart(
    ctx: typer.Context, instance: Annotated[str, typer.Argument(help="e.g. kafka-0")]
) -> None:
    """Restart a pod in place, on its reservation (its volumes kept)."""
    _pod_call(ctx, instance, "restart")


@pod_app.command("replace")
def pod_replace(
    ctx: typer.Context, instance: Annotated[str, typer.Argument(help="e.g. kafka-0")]
) -> None:
    """Move a pod elsewhere: kill it, release its reservation and volumes, relaunch."""
    _pod_call(ctx, instance, "replace")


# --- endpoints -----------------------------------------------------------------------------


@app.command("endpoints")
def endpoints(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="One endpoint, e.g. broker.")] = None,
    json_output: JsonOption = False,
) -> None:
    """The service's endpoints, or one endpoint's addresses (e.g. Kafka's bootstrap servers)."""
    api = scheduler(ctx)
    if name is None:
        names = list(api.get("/v1/endpoints") or [])
        if json_output:
            print_json(names)
        else:
            for n in names:
                out.print(n, markup=False)
        return
    doc = api.get(f"/v1/endpoints/{name}")
    if json_output:
        print_json(doc)
        return
    out.print(",".join(doc.get("address", [])), markup=False)
