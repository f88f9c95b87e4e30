"""`infinity task run`: a one-shot framework, like `mesos-execute`.

It subscribes, launches one shell command task on the first offer with room for it,
reports each state transition, and tears itself down once the task is terminal.
"""

from __future__ import annotations

import asyncio
import getpass
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mesos_runtime.scheduler import (
    Framework,
    SchedulerClient,
    StreamLost,
    command_task,
    run,
    task_resources,
)
from mesos_runtime.wire.mesos import (
    FrameworkInfo,
    Offer,
    TaskState,
    TaskStatus,
    new_id,
)
from mesos_runtime.wire.resources import Resources
from mesos_runtime.wire.scheduler import Subscribed

from .endpoints import credential_for, master_state, tls_context
from .output import CliError

_EXIT_STATUS = re.compile(r"exited with status (\d+)")


@dataclass(frozen=True)
class TaskRequest:
    command: str
    name: str
    cpus: float
    mem: float


@dataclass
class TaskResult:
    task_id: str
    framework_id: str
    status: TaskStatus

    @property
    def exit_code(self) -> int:
        """0 for TASK_FINISHED; the command's status when the message says it; else 1."""
        if self.status.state is TaskState.TASK_FINISHED:
            return 0
        match = _EXIT_STATUS.search(self.status.message or "")
        if match and int(match.group(1)) != 0:
            return min(int(match.group(1)), 255)
        return 1


class OneShot(Framework):
    """Launches exactly one task and stops when it is terminal."""

    def __init__(
        self,
        request: TaskRequest,
        report: Callable[[str], None],
        on_running: Callable[[str, TaskStatus], None] | None = None,
        after_terminal: Callable[[TaskResult], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__()
        self.after_terminal = after_terminal
        self.result: TaskResult | None = None
        self.request = request
        self.task_id = f"{request.name}.{new_id()}"
        self.report = report
        self.on_running = on_running
        self.launched = False
        self.failed_because: str | None = None
        self.framework_id = ""
        self._waiting_reported = False

    async def subscribed(self, client: SchedulerClient, subscribed: Subscribed) -> None:
        self.framework_id = subscribed.framework_id.value
        self.report(f"Subscribed with framework id {self.framework_id}")

    async def offers(self, client: SchedulerClient, offers: list[Offer]) -> None:
        chosen = None if self.launched else next((o for o in offers if self._fits(o)), None)
        rest = [o.id for o in offers if o is not chosen]
        if chosen is not None:
            task = command_task(
                chosen,
                self.request.command,
                name=self.request.name,
                task_id=self.task_id,
                cpus=self.request.cpus,
                mem=self.request.mem,
            )
            await client.launch([chosen.id], [task])
            self.launched = True
            self.report(f"Launching task {self.task_id} on {chosen.hostname}")
        elif not self.launched and not self._waiting_reported:
            self._waiting_reported = True
            self.report(
                f"Waiting for an offer with cpus:{self.request.cpus:g};mem:{self.request.mem:g}"
            )
        if rest:
            # once launched, keep offers away from this framework for a while
            await client.decline(rest, 60.0 if self.launched else 1.0)

    def _fits(self, offer: Offer) -> bool:
        wanted = task_resources(offer, cpus=self.request.cpus, mem=self.request.mem)
        return Resources.from_wire(offer.resources).contains(wanted)

    async def update(self, client: SchedulerClient, status: TaskStatus) -> None:
        if status.task_id.value != self.task_id:
            return
        line = f"Received status update {status.state.value} for task {self.task_id}"
        if status.message:
            line += f"\n  message: '{status.message}'"
        if status.reason:
            line += f"\n  reason: {status.reason.value}"
        self.report(line)
        if status.state is TaskState.TASK_RUNNING and self.on_running is not None:
            self.on_running(self.framework_id, status)
        if status.state.is_terminal:
            self.result = TaskResult(self.task_id, self.framework_id, status)
            if self.after_terminal is not None:
                # still subscribed: the sandbox is read before the framework is torn down
                await self.after_terminal(self.result)
            self.stop()

    async def error(self, client: SchedulerClient, message: str) -> None:
        self.failed_because = message
        self.report(f"Master sent ERROR: {message}")


async def run_task(
    master: str,
    request: TaskRequest,
    report: Callable[[str], None],
    *,
    offer_timeout: float,
    on_running: Callable[[str, TaskStatus], None] | None = None,
    after_terminal: Callable[[TaskResult], Awaitable[None]] | None = None,
) -> TaskResult:
    """Run the task to a terminal state, then tear the framework down."""
    info = FrameworkInfo(user=_user(), name=f"infinity-task-run ({request.name})")
    framework = OneShot(request, report, on_running, after_terminal)
    credential = credential_for(master)
    async with SchedulerClient(master, info, credential=credential, ssl=tls_context()) as client:
        # a one-shot framework leaves nothing behind: TEARDOWN when it stops
        runner = asyncio.create_task(run(client, framework, reconnect=False, teardown=True))
        try:
            await _wait_launched(runner, framework, offer_timeout)
            await runner
        except StreamLost:
            # an operator's TEARDOWN (`infinity task kill`) ends the stream without an ERROR
            torn_down = bool(framework.framework_id) and await asyncio.to_thread(
                _torn_down, master, framework.framework_id
            )
            if torn_down:
                raise RuntimeError(
                    f"framework {framework.framework_id} was torn down (`infinity task kill` "
                    f"or an operator's TEARDOWN); task {framework.task_id} ended with it"
                ) from None
            raise
        finally:
            if not runner.done():
                framework.stop()
                await asyncio.gather(runner, return_exceptions=True)
    if framework.result is None:
        raise RuntimeError(
            framework.failed_because or "the framework stopped before the task ended"
        )
    return framework.result


async def _wait_launched(runner: asyncio.Task[None], framework: OneShot, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not framework.launched and not runner.done():
        if loop.time() > deadline:
            raise TimeoutError(
                f"no offer with cpus:{framework.request.cpus:g};mem:{framework.request.mem:g} "
                f"within {timeout:.0f}s (are agents registered with free resources?)"
            )
        await asyncio.wait({runner}, timeout=0.1)
    if runner.done() and runner.exception() is not None:
        raise runner.exception()  # type: ignore[misc]


def _torn_down(master: str, framework_id: str) -> bool:
    try:
        doc = master_state(master)
    except CliError:
        return False
    return any(f.get("id") == framework_id for f in doc.get("completed_frameworks", []))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"
