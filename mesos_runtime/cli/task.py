"""`infinity task list|log|run`: tasks as the master reports them, their sandboxes through
the agents' files API, and one-off command tasks run by a one-shot framework.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from mesos_runtime.scheduler.leader import MasterAddressError

from .endpoints import master_state, master_url, resolve_master, unreachable
from .options import MasterOption
from .output import CliError, err, fail, out, print_json, table
from .sandbox import TERMINAL, SandboxFile, agent_of, all_tasks, find_task, sandbox_directory

if TYPE_CHECKING:
    from mesos_runtime.wire.mesos import TaskStatus

    from .taskrun import TaskRequest, TaskResult

app = typer.Typer(help="List tasks, read their logs, run one-off commands.")


def _positive_seconds(value: float) -> float:
    if not 0 < value < math.inf:
        raise typer.BadParameter(f"{value:g} is not a positive number of seconds")
    return value


@app.command("list")
def list_tasks(
    master: MasterOption = None,
    include_completed: Annotated[
        bool, typer.Option("--all", help="Include completed tasks.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Tasks of every framework, from the master's /master/state."""
    doc = master_state(resolve_master(master))
    hosts = {a.get("id"): a.get("hostname") for a in doc.get("slaves", [])}
    tasks = all_tasks(doc, include_completed)
    rows = [
        {
            "id": t.id,
            "name": t.task.get("name"),
            "state": t.state,
            "framework_id": t.framework.get("id"),
            "framework": t.framework.get("name"),
            "agent_id": t.agent_id,
            "host": hosts.get(t.agent_id),
        }
        for t in tasks
    ]
    if json_output:
        print_json(rows)
        return
    if not rows:
        out.print("no tasks" + ("" if include_completed else " (completed ones: --all)"))
        return
    out.print(
        table(
            None,
            ["ID", "NAME", "STATE", "FRAMEWORK", "HOST"],
            [(r["id"], r["name"], r["state"], r["framework"], r["host"]) for r in rows],
        )
    )


@app.command()
def kill(
    task: Annotated[str, typer.Argument(help="Task id (or a unique part of it, or its name).")],
    master: MasterOption = None,
    teardown: Annotated[
        bool,
        typer.Option(
            "--teardown", help="Tear the task's framework down even when it runs other tasks."
        ),
    ] = False,
    scale: Annotated[
        bool, typer.Option("--scale", help="Marathon tasks: scale the app down, not replace it.")
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(callback=_positive_seconds, help="Seconds to wait for the task to end."),
    ] = 30.0,
) -> None:
    """Kill a task: through Marathon for its tasks, else by tearing down its framework
    (what a one-task framework such as `task run` is; others need --teardown)."""
    from .taskkill import execute, plan_kill, wait_ended

    address = resolve_master(master)
    plan = plan_kill(master_state(address), task, address, teardown=teardown)
    execute(plan, scale=scale)
    how = (
        "through Marathon"
        if plan.via == "marathon"
        else f"by tearing down framework {plan.task.framework.get('id')}"
        + (f" and its {plan.siblings} other task(s)" if plan.siblings else "")
    )
    err.print(f"Killing task {plan.task.id} {how}")
    state = wait_ended(address, plan.task.id, timeout)
    if state is None:
        fail(f"task {plan.task.id} has not ended within {timeout:g}s")
    out.print(f"{plan.task.id} {state}")


@app.command()
def log(  # noqa: PLR0917 - typer maps each option to a parameter
    task: Annotated[str, typer.Argument(help="Task id (or a unique part of it, or its name).")],
    master: MasterOption = None,
    stderr: Annotated[bool, typer.Option("--stderr", help="Read stderr, not stdout.")] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the task ends.")
    ] = False,
    lines: Annotated[
        int | None, typer.Option("--lines", "-n", min=0, help="Only the last N lines.")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON document: the task, file and text.")
    ] = False,
) -> None:
    """A task's stdout (or stderr) from its sandbox on the agent."""
    if json_output and follow:
        fail("--json prints the log once; it cannot be combined with --follow")
    address = resolve_master(master)
    doc = master_state(address)
    ref = find_task(doc, task)
    agent = agent_of(doc, ref.agent_id)
    directory = sandbox_directory(agent, ref.framework.get("id", ""), ref.id)
    name = "stderr" if stderr else "stdout"
    sandbox = SandboxFile(agent, f"{directory}/{name}")
    if json_output:
        print_json(
            {
                "id": ref.id,
                "name": ref.task.get("name"),
                "state": ref.state,
                "framework_id": ref.framework.get("id"),
                "agent_id": ref.agent_id,
                "file": name,
                "path": sandbox.path,
                "data": sandbox.tail(lines),
            }
        )
        return
    _write(sandbox.tail(lines))
    while follow:
        for data in sandbox.new_data():
            _write(data)
        if _task_state(address, ref.id) in TERMINAL:
            for data in sandbox.new_data():
                _write(data)
            return
        time.sleep(0.5)


@app.command(context_settings={"allow_interspersed_args": False})
def run(
    command: Annotated[list[str], typer.Argument(help="The shell command (after --).")],
    *,
    master: MasterOption = None,
    name: Annotated[str, typer.Option("--name", help="Task name.")] = "infinity-run",
    cpus: Annotated[float, typer.Option("--cpus", min=0.001, help="CPUs for the task.")] = 0.1,
    mem: Annotated[float, typer.Option("--mem", min=1, help="Memory (MB) for the task.")] = 32.0,
    attach: Annotated[
        bool, typer.Option("--attach", help="Stream stdout while the task runs.")
    ] = False,
    offer_timeout: Annotated[
        float,
        typer.Option(
            "--offer-timeout",
            callback=_positive_seconds,
            help="Seconds to wait for a fitting offer.",
        ),
    ] = 60.0,
) -> None:
    """Run one shell command as a task (like mesos-execute); exit with its result."""
    # the asyncio client (aiohttp) is imported only by the command that needs it
    from mesos_runtime.scheduler import CallError, MasterUnavailable, StreamLost

    from .taskrun import TaskRequest

    request = TaskRequest(command=" ".join(command), name=name, cpus=cpus, mem=mem)
    address = resolve_master(master)
    try:
        result = asyncio.run(_run(address, request, attach, offer_timeout))
    except MasterUnavailable as e:
        cause = e.__cause__
        if cause is None:  # no leader advertised: the message says where it looked
            fail(f"{e} (is the cluster up? `infinity cluster up`, or set --master)")
        fail(unreachable("master", master_url(address), cause))
    except MasterAddressError as e:
        fail(str(e))
    except (CallError, StreamLost, TimeoutError, RuntimeError) as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; the task was torn down", code=130)
    raise typer.Exit(result.exit_code)


async def _run(
    address: str, request: TaskRequest, attach: bool, offer_timeout: float
) -> TaskResult:
    from .taskrun import run_task

    follower: asyncio.Task[None] | None = None
    done = asyncio.Event()
    stdout: SandboxFile | None = None

    async def locate(framework_id: str, status: TaskStatus, name: str) -> SandboxFile:
        agent_id = status.agent_id.value if status.agent_id else ""

        def find() -> SandboxFile:
            agent = agent_of(master_state(address), agent_id)
            directory = sandbox_directory(agent, framework_id, status.task_id.value)
            return SandboxFile(agent, f"{directory}/{name}")

        return await asyncio.to_thread(find)

    async def follow(framework_id: str, status: TaskStatus) -> None:
        nonlocal stdout
        stdout = await locate(framework_id, status, "stdout")
        while not done.is_set():
            for data in await asyncio.to_thread(lambda: list(stdout.new_data())):
                _write(data)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 0.3)

    def on_running(framework_id: str, status: TaskStatus) -> None:
        nonlocal follower
        if attach and follower is None:
            follower = asyncio.create_task(follow(framework_id, status))

    async def after_terminal(result: TaskResult) -> None:
        done.set()
        try:
            if follower is not None:
                await follower
            file = stdout or await locate(result.framework_id, result.status, "stdout")
            for data in await asyncio.to_thread(lambda: list(file.new_data())):
                _write(data)
            if result.exit_code != 0:
                errors = await locate(result.framework_id, result.status, "stderr")
                tail = await asyncio.to_thread(errors.tail, 20)
                if tail:
                    err.print("--- stderr (last 20 lines) ---")
                    sys.stderr.write(tail if tail.endswith("\n") else tail + "\n")
        except CliError as e:
            err.print(f"[yellow]could not read the task's output: {e}[/]")

    return await run_task(
        address,
        request,
        err.print,
        offer_timeout=offer_timeout,
        on_running=on_running,
        after_terminal=after_terminal,
    )


def _task_state(address: str, task_id: str) -> str:
    for ref in all_tasks(master_state(address), include_completed=True):
        if ref.id == task_id:
            return ref.state
    return "TASK_UNKNOWN"


def _write(data: str) -> None:
    if data:
        sys.stdout.write(data)
        sys.stdout.flush()
