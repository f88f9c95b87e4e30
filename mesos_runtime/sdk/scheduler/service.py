"""The service scheduler: a v1 framework that drives the service's plans.

Every event ends in `progress()`: each plan's open steps are brought up to date from the
tasks, old tasks of a step (an older config, or replaced by the operator's plan restart)
are killed, and the steps that need resources make the framework want offers (else it
suppresses; new work revives). Offers are evaluated (`evaluate.py`) and accepted with
RESERVE/CREATE/LAUNCH (a config needing other resources re-reserves first); task statuses
move the steps; a task that fails after its step completed gets a recovery step (restart
in place), and an instance whose agent is drained or gone (at once), or unreachable past
the permanent-failure timeout, or that the operator replaces, is placed afresh.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from mesos_runtime.scheduler import (
    CallError,
    Framework,
    OfferDemand,
    SchedulerClient,
    SchedulerState,
    TaskTracker,
)
from mesos_runtime.scheduler.offers import reservation_id_of
from mesos_runtime.scheduler.reservations import unreserve_operations
from mesos_runtime.scheduler.state import TaskRecord
from mesos_runtime.sdk.context import PodInstance
from mesos_runtime.sdk.plan import Phase, Plan, Status, Step
from mesos_runtime.sdk.plans import build_plan, check_change, step_name
from mesos_runtime.sdk.spec import Goal, ServiceSpec, Strategy
from mesos_runtime.wire.mesos import (
    AGENT_AWAY_STATES,
    AGENT_GONE_STATES,
    Offer,
    StatusReason,
    TaskState,
    TaskStatus,
)
from mesos_runtime.wire.resources import Resources
from mesos_runtime.wire.scheduler import Subscribed

from .config import SchedulerConfig
from .evaluate import CONFIG_LABEL, Evaluation, Evaluator, Refusal, task_name_of
from .records import Orphan, PodRecord, ServiceStore, TargetConfig, config_id
from .shortfall import WAITING, Shortfalls, with_waiting
from .views import ApiViews

__all__ = ["ServiceScheduler"]

log = logging.getLogger(__name__)

LAUNCH_BACKOFF_MAX = 30.0  # seconds between relaunches of a task that keeps failing
# how long an unused offer's resources are refused (seconds): briefly while a step wants
# offers (the next may fit); for as long as the SDK does (14 days) from an agent nothing
# wants, since new work revives and a REVIVE clears every filter
SHORT_DECLINE = 5.0
LONG_DECLINE = 14 * 24 * 3600.0
# orphans written before their agent was kept: any agent may hold them
UNKNOWN_ORPHAN_DECLINE = 60.0


def decline_seconds(agent_id: str, steps_want: bool, orphan_agents: set[str | None]) -> float:
    """How long to refuse an offer nothing used. While only orphaned reservations want
    offers, an agent holding none of them is filtered long (it was declined every 60 s
    while the orphans' agents were away); the agents holding them briefly: their
    reservations come in their next offer."""
    if steps_want or agent_id in orphan_agents:
        return SHORT_DECLINE
    if None in orphan_agents:
        return UNKNOWN_ORPHAN_DECLINE
    return LONG_DECLINE


def _permanent_loss(status: TaskStatus) -> str | None:
    """Why a terminal status means its agent is lost for good, or None: the agent will not
    come back (gone), or is being emptied for maintenance (DRAIN_AGENT). The instance is then
    replaced elsewhere at once, as `pod replace` does."""
    if status.reason is StatusReason.REASON_AGENT_DRAINING:
        return f"its agent is draining ({_describe(status)})"
    if status.state in AGENT_GONE_STATES:
        return f"its agent is gone ({_describe(status)})"
    return None


def _config_of(record: TaskRecord) -> str | None:
    labels = record.task.labels.labels if record.task.labels else []
    return next((lb.value for lb in labels if lb.key == CONFIG_LABEL), None)


class ServiceScheduler(ApiViews, Framework):
    def __init__(self, cfg: SchedulerConfig, state: SchedulerState, webui_url: str) -> None:
        super().__init__()
        self.cfg = cfg
        self.spec: ServiceSpec = cfg.spec
        self.state = state
        self.store = ServiceStore(state)
        self.tracker = TaskTracker(state)
        self.webui_url = webui_url
        self.target = config_id(cfg.spec_text)
        self.pods: dict[str, PodRecord] = {}
        self.plans: dict[str, Plan] = {}
        self.finished: dict[str, str] = {}  # task name -> config it finished with
        self.killing: set[str] = set()  # task ids killed on purpose
        self.superseded: dict[str, str] = {}  # task id -> the restarted step replacing it
        # reservations no instance holds (replaced away): released when their agent offers
        self.orphans: dict[str, Orphan] = {}
        self._room_ok: set[str] = set()  # instances whose agent has room for their resize
        self._wanted_names: set[str] = set()  # the steps that wanted offers last time
        self.demand = OfferDemand([cfg.role])
        self.evaluator = Evaluator(
            cfg.service_name,
            cfg.role,
            cfg.principal,
            cfg.templates,
            cfg.options,
            template_context=cfg.template_context,
        )
        self.client: SchedulerClient | None = None
        self.framework_id: str | None = None
        # step timings (step name -> event -> time), for the API and the benchmark
        self.timings: dict[str, dict[str, float]] = {}
        self._lock = asyncio.Lock()
        self.connected = asyncio.Event()  # SUBSCRIBED at least once
        self._ticker: asyncio.Task[None] | None = None
        self.launched_count = 0  # tasks launched by this process
        self._why: dict[str, str] = {}  # the last reason an offer did not serve a step
        self.shortfalls = Shortfalls()  # why offers could not place unplaced instances
        # instance -> (consecutive failures, when the last was, why): the relaunch backoff
        self._failures: dict[str, tuple[int, float, str]] = {}
        # instances placed afresh (replaced) not yet launched, and when the last replacement
        # launched: `min-replace-delay-secs` spaces replacements out (in memory, as the SDK)
        self._replacing: set[str] = set()
        self._last_replacement = float("-inf")

    # --- loading and the target configuration ---------------------------------------------

    async def load(self) -> None:
        self.pods = await self.store.pods()
        self.plans = await self.store.plans()
        self.finished = await self.state.all_json("finished")
        self.orphans = await self.store.orphans()
        await self.tracker.load()
        self.superseded = await self.store.superseded()
        for task_id in [t for t in self.superseded if t not in self.tracker.records]:
            del self.superseded[task_id]  # it ended while no scheduler was there to hear
            await self.store.remove_superseded(task_id)
        stored_id = await self.state.framework_id()
        self.framework_id = stored_id.value if stored_id else None
        target = await self.store.target()
        if target is not None and target.id != self.target:
            self._check_change(target)
            log.info("the spec changed (%s -> %s): rolling it out", target.id, self.target)
            update = build_plan(self.spec, "update")
            update.name = "deploy"  # the CLI follows `deploy`; `update` names the same plan
            self.plans["deploy"] = update
        elif "deploy" not in self.plans:
            self.plans["deploy"] = build_plan(self.spec, "deploy")
        await self.store.put_target(TargetConfig(id=self.target, spec=self.cfg.spec_text))
        if "recovery" not in self.plans:
            self.plans["recovery"] = Plan(
                name="recovery",
                strategy=Strategy.PARALLEL,
                phases=[Phase(name="recovery", strategy=Strategy.PARALLEL)],
            )
        for name in [p.name for p in self.spec.plans if p.name not in ("deploy", "update")]:
            if name not in self.plans:
                custom = build_plan(self.spec, name)
                custom.interrupted = True  # custom plans run when the operator starts them
                self.plans[name] = custom
        for name, plan in self.plans.items():
            await self.store.put_plan(name, plan)

    def _check_change(self, target: TargetConfig) -> None:
        from mesos_runtime.sdk.spec import load_spec

        check_change(load_spec(target.spec, "the stored target configuration"), self.spec)

    def plan_view(self, name: str) -> Plan:
        if name == "update" and "update" not in self.plans:
            name = "deploy"
        plan = self.plans.get(name)
        if plan is None:
            raise KeyError(name)
        return plan

    # --- hooks --------------------------------------------------------------------------

    async def subscribed(self, client: SchedulerClient, subscribed: Subscribed) -> None:
        self.client = client
        self.framework_id = subscribed.framework_id.value
        await self.state.set_framework_id(subscribed.framework_id)
        if not self.connected.is_set():
            # a new process (restart, failover to another instance): its webui_url is new
            try:
                await client.update_framework(client.framework_info)
            except CallError as e:
                log.warning("UPDATE_FRAMEWORK refused: %s", e)
        self.connected.set()
        self.demand.subscribed()
        self.tracker.adopt(client, interval=0.5)
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_forever())
        await self.progress(new_work=True)

    async def update(self, client: SchedulerClient, status: TaskStatus) -> None:
        record = await self.tracker.update(status)
        task_id = status.task_id.value
        if record is None:
            if not status.state.is_terminal and status.state is not TaskState.TASK_UNREACHABLE:
                log.info("killing task %s this scheduler does not know", task_id)
                await client.kill(status.task_id, status.agent_id)
            return
        where = self._task_of(record)
        if where is not None:
            pod_name, index, task = where
            instance = f"{pod_name}-{index}"
            pod_record = self.pods.get(instance)
            if pod_record is not None:
                await self._agent_health(pod_record, record, status)
            if status.state.is_terminal:
                on_purpose = task_id in self.killing
                self.killing.discard(task_id)
                if self.superseded.pop(task_id, None) is not None:
                    await self.store.remove_superseded(task_id)
                goal = self.spec.pod(pod_name).task(task).goal
                lost = _permanent_loss(status)
                if status.state is TaskState.TASK_FINISHED and goal is not Goal.RUNNING:
                    name = record.task.name
                    self.finished[name] = _config_of(record) or ""
                    await self.state.put_json("finished", name, self.finished[name])
                elif (
                    lost is not None
                    and pod_record is not None
                    and pod_record.agent_id == record.agent_id
                ):
                    log.info("%s: %s: replacing it on another agent", instance, lost)
                    rid = pod_record.reservation_id
                    await self._unplace(instance, lost)
                    if status.state in AGENT_GONE_STATES and rid is not None:
                        # a gone agent never comes back: its reservation went with it
                        self.orphans.pop(rid, None)
                        await self.store.remove_orphan(rid)
                elif not on_purpose:
                    self._failed(instance, _describe(status))
                    self._recover(pod_name, index, task, _describe(status))
            elif status.state in AGENT_AWAY_STATES and task_id not in self.killing:
                self._recover(pod_name, index, task, _describe(status))
        await self.progress()

    async def offers(self, client: SchedulerClient, offers: list[Offer]) -> None:
        async with self._lock:
            wanted = self._wanted()
            taken: set[str] = set()
            for offer in offers:
                operations, released = self._cleanup(offer)
                available = Resources.from_wire(offer.resources)
                launched: list[Evaluation] = []
                for record in self._to_place(wanted):
                    if record.name in taken:
                        continue
                    placed = self._evaluate(offer, available, record, [])
                    if isinstance(placed, Refusal):
                        self._short(record.name, offer, placed)
                        continue
                    taken.add(record.name)
                    self.shortfalls.placed(record.name)
                    available = placed.remaining
                    self.pods[record.name] = placed.pod
                    await self.store.put_pod(placed.pod)
                    operations.extend(placed.operations)
                    log.info("reserved %s on %s", record.name, offer.hostname)
                for step in wanted:
                    if step.asset in taken:
                        continue
                    if self._waits_for_peers(step):
                        continue
                    if self._awaiting_room(step):
                        self._check_room(step, offer, available)
                        continue
                    result = self._evaluate(offer, available, self._record(step), step.tasks)
                    if isinstance(result, Refusal):
                        if result.on_step:
                            step.message = result.reason
                        if result.shortfall is not None:
                            self._short(step.asset, offer, result)  # said once, summarised
                        elif self._new_why(step, result.reason):
                            log.info(
                                "%s: offer from %s not used: %s", step.name, offer.hostname, result
                            )
                        continue
                    taken.add(step.asset)
                    self.shortfalls.placed(step.asset)
                    self._room_ok.discard(step.asset)
                    launched.append(result)
                    available = result.remaining
                    self.pods[step.asset] = result.pod
                    await self.store.put_pod(result.pod)
                    for info in result.tasks:
                        await self.tracker.launched(info, offer)
                    self.launched_count += len(result.tasks)
                    operations.extend(result.operations)
                    step.status, step.message = Status.STARTING, None
                    self._time(step, "launched")
                    if step.asset in self._replacing:
                        self._replacing.discard(step.asset)
                        self._last_replacement = time.monotonic()
                if operations:
                    await client.accept([offer.id], operations, filters=1)
                    for rid in released:
                        self.orphans.pop(rid, None)
                        await self.store.remove_orphan(rid)
                else:
                    orphan_agents = {o.agent_id for o in self.orphans.values()}
                    refuse = decline_seconds(offer.agent_id.value, bool(wanted), orphan_agents)
                    await client.decline([offer.id], refuse)
            for step in wanted:
                if step.asset not in taken:
                    self._say_waiting(step)
            await self._save_plans()
        await self.progress()

    # --- recovery -------------------------------------------------------------------------

    def _recover(self, pod: str, index: int, task: str, why: str, kind: str = "restart") -> None:
        """A recovery step for a task that failed outside of its plan's own work."""
        asset = f"{pod}-{index}"
        for plan in self.plans.values():
            for step in plan.steps():
                if step.asset == asset and step.status not in (Status.COMPLETE, Status.PENDING):
                    return  # its plan is working on it: that step relaunches it
        deploy = self.plans["deploy"]
        if any(s.asset == asset and s.status is not Status.COMPLETE for s in deploy.steps()):
            return  # not deployed yet: the deploy plan launches it
        phase = self.plans["recovery"].phases[0]
        for step in phase.steps:
            if step.asset == asset and step.status is not Status.COMPLETE:
                if kind == "replace":
                    step.message = f"replace: {why}"
                if task not in step.tasks:
                    step.tasks.append(task)
                return
        phase.steps = [s for s in phase.steps if s.asset != asset]
        tasks = [task] if kind == "restart" else [t.name for t in self.spec.pod(pod).tasks]
        phase.steps.append(
            Step(
                name=step_name(pod, index, tasks),
                pod=pod,
                index=index,
                tasks=tasks,
                message=f"{kind}: {why}",
            )
        )
        log.info("recovery: %s %s (%s)", kind, asset, why)

    async def _agent_health(
        self, pod_record: PodRecord, record: TaskRecord, status: TaskStatus
    ) -> None:
        """When the instance's agent went away (for the permanent-failure timeout), or is back."""
        if status.state in AGENT_AWAY_STATES:
            if pod_record.failed_since is None and pod_record.agent_id == record.agent_id:
                pod_record.failed_since = time.time()
                await self.store.put_pod(pod_record)
        elif status.state is TaskState.TASK_RUNNING and pod_record.failed_since is not None:
            pod_record.failed_since = None
            await self.store.put_pod(pod_record)

    async def restart_pod(self, instance: str) -> list[str]:
        """Kill the instance's tasks; the recovery plan relaunches them in place."""
        pod, index = self._instance(instance)
        self._recover(pod, index, self.spec.pod(pod).tasks[0].name, "restarted by the operator")
        step = self._recovery_step(instance)
        if step is not None:
            step.tasks = [t.name for t in self.spec.pod(pod).tasks]
        # the tasks being killed are superseded, in memory before anything awaits: else the
        # recovery step sees them still running, completes, and nothing is relaunched
        await self._supersede(
            {r.task_id: step.name if step else instance for r in self._live_tasks(instance)}
        )
        killed = await self._kill_instance(instance)
        await self.progress(new_work=True)
        return killed

    async def replace_pod(self, instance: str) -> list[str]:
        """Kill the instance's tasks and place it afresh, on another agent when there is one."""
        killed = await self._kill_instance(instance)
        await self._unplace(instance, "replaced by the operator")
        await self.progress(new_work=True)
        return killed

    async def _unplace(self, instance: str, why: str) -> None:
        record = self.pods.get(instance)
        pod, index = self._instance(instance)
        if record is not None:
            # its reservation becomes an orphan: DESTROY + UNRESERVE when it is offered
            # (remembered, so that an uninstall waits for it too)
            if record.reservation_id is not None:
                orphan = Orphan(hostname=record.hostname or "", agent_id=record.agent_id)
                self.orphans[record.reservation_id] = orphan
                await self.store.put_orphan(record.reservation_id, orphan)
            record = record.replace(
                reservation_id=None,
                agent_id=None,
                hostname=None,
                ports={},
                volumes={},
                avoid_agent=record.agent_id,
                failed_since=None,
            )
            self.pods[instance] = record
            await self.store.put_pod(record)
        self._replacing.add(instance)
        for tracked in list(self.tracker.records.values()):
            where = self._task_of(tracked)
            gone = tracked.status is not None and tracked.status.state in AGENT_AWAY_STATES
            if gone and where is not None and f"{where[0]}-{where[1]}" == instance:
                await self.tracker.forget(tracked.task_id)
        self._recover(pod, index, self.spec.pod(pod).tasks[0].name, why, kind="replace")

    async def _kill_instance(self, instance: str) -> list[str]:
        assert self.client is not None
        killed = []
        for record in self._live_tasks(instance):
            self.killing.add(record.task_id)
            killed.append(record.task.name)
            await self.client.kill(record.task.task_id, record.task.agent_id)
        return killed

    def _recovery_step(self, instance: str) -> Step | None:
        return next(
            (
                s
                for s in self.plans["recovery"].steps()
                if s.asset == instance and s.status is not Status.COMPLETE
            ),
            None,
        )

    async def _tick_forever(self) -> None:
        while not self.stopping:
            await asyncio.sleep(1.0)
            try:
                await self._replace_lost()
                await self.progress()  # e.g. a relaunch whose backoff has run out
            except Exception:
                log.exception("checking for permanently failed pods failed")

    async def _replace_lost(self) -> None:
        now = time.time()
        changed = False
        for name, record in list(self.pods.items()):
            if record.failed_since is None or record.reservation_id is None:
                continue
            pod = self.spec.pod(record.pod)
            timeout = self.cfg.permanent_failure_timeout
            if timeout is None:
                timeout = pod.replacement_failure_policy.permanent_failure_timeout_secs
            if timeout is None or now - record.failed_since < timeout:
                continue
            await self._unplace(
                name, f"its agent has been gone for {now - record.failed_since:.0f}s"
            )
            changed = True
        if changed:
            await self.progress(new_work=True)

    # --- the steps ------------------------------------------------------------------------

    def _instance(self, instance: str) -> tuple[str, int]:
        for pod in self.spec.pods:
            for index in range(pod.count):
                if pod.instance_name(index) == instance:
                    return pod.name, index
        raise KeyError(instance)

    def _task_of(self, record: TaskRecord) -> tuple[str, int, str] | None:
        name = record.task.name
        for pod in self.spec.pods:
            for index in range(pod.count):
                for task in pod.tasks:
                    if task_name_of(pod.instance_name(index), task.name) == name:
                        return pod.name, index, task.name
        return None

    def _live_tasks(self, instance: str, task: str | None = None) -> list[TaskRecord]:
        out = []
        for record in self.tracker.records.values():
            where = self._task_of(record)
            if where is None or f"{where[0]}-{where[1]}" != instance:
                continue
            if task is not None and where[2] != task:
                continue
            state = record.status.state if record.status else TaskState.TASK_STAGING
            if state.is_terminal or state in AGENT_AWAY_STATES:
                continue
            out.append(record)
        return sorted(out, key=lambda r: r.staged_at or 0)

    def _advance(self, step: Step) -> None:
        """Bring one open step up to date from its tasks."""
        pod = self.spec.pod(step.pod)
        before = step.status
        states = []
        for name in step.tasks:
            goal = pod.task(name).goal
            task_name = task_name_of(step.asset, name)
            if goal is not Goal.RUNNING and self._finished_ok(task_name, goal):
                states.append(Status.COMPLETE)
                continue
            placed = self.pods.get(step.asset)
            agent = placed.agent_id if placed is not None else None
            # only a task on the instance's own reservation counts (not one being replaced)
            current = [
                r
                for r in self._live_tasks(step.asset, name)
                if _config_of(r) == self.target
                and agent is not None
                and r.agent_id == agent
                and r.task_id not in self.superseded
            ]
            if not current:
                states.append(Status.PENDING)
                continue
            record = current[-1]
            status = record.status
            running = status is not None and status.state is TaskState.TASK_RUNNING
            checked = pod.task(name).readiness_check or pod.task(name).health_check
            if (
                status is not None
                and running
                and goal is Goal.RUNNING
                and (checked is None or status.healthy)
            ):
                states.append(Status.COMPLETE)
                if status.timestamp:  # when the agent saw it ready (for the benchmark)
                    self.timings.setdefault(step.name, {}).setdefault("ready", status.timestamp)
            elif running:
                states.append(Status.STARTED)
            else:
                states.append(Status.STARTING)
        if all(s is Status.COMPLETE for s in states):
            step.status, step.message = Status.COMPLETE, None
            self._failures.pop(step.asset, None)
        elif all(s in (Status.STARTED, Status.COMPLETE) for s in states):
            step.status = Status.STARTED
        elif Status.PENDING not in states:
            step.status = Status.STARTING
        elif step.status in (Status.STARTING, Status.STARTED, Status.PREPARED):
            step.status = Status.PENDING
            failure = self._failures.get(step.asset)
            step.message = f"relaunching: {failure[2]}" if failure else None
        if step.status is not before:
            self._time(step, step.status.value.lower())

    def _finished_ok(self, task_name: str, goal: Goal) -> bool:
        if task_name not in self.finished:
            return False
        return goal is Goal.ONCE or self.finished[task_name] == self.target

    def _open_steps(self) -> list[Step]:
        """The steps their plans' strategies let run now (deploy first, then recovery, ...)."""
        busy: set[str] = set()
        out = []
        for name in [
            "deploy",
            "recovery",
            *[n for n in self.plans if n not in ("deploy", "recovery")],
        ]:
            plan = self.plans.get(name)
            if plan is None:
                continue
            for step in plan.candidates(busy):
                out.append(step)
            for step in plan.steps():
                if step.status not in (Status.PENDING, Status.COMPLETE, Status.ERROR):
                    busy.add(step.asset)
            busy.update(s.asset for s in out)
        return out

    def _wanted(self) -> list[Step]:
        """The steps that want offers: to launch, or to see whether their agent has room
        for a resize before their old tasks are killed."""
        return [
            s
            for s in self._open_steps()
            if s.status is Status.PENDING
            and (not self._blocked(s) or self._awaiting_room(s))
            and not self._backing_off(s)
            and not self._replace_delayed(s)
        ]

    def _replace_delayed(self, step: Step) -> bool:
        """A replacement launches only `min-replace-delay-secs` (its pod's) after the last
        replacement of any pod launched, as the SDK spaces out PERMANENT recoveries: a run
        of lost agents does not move every pod at once."""
        if step.asset not in self._replacing:
            return False
        delay = self.spec.pod(step.pod).replacement_failure_policy.min_replace_delay_secs
        left = self._last_replacement + delay - time.monotonic()
        if left <= 0:
            return False
        message = f"replacement delayed {left:.0f}s more (min-replace-delay-secs {delay:g})"
        if not (step.message or "").startswith("replacement delayed"):
            log.info("%s: %s", step.name, message)
        step.message = message
        return True

    def _failed(self, instance: str, why: str) -> None:
        count = self._failures.get(instance, (0, 0.0, ""))[0] + 1
        self._failures[instance] = (count, time.monotonic(), why)

    def _backing_off(self, step: Step) -> bool:
        """A task that keeps failing is relaunched after 1, 2, 4 ... 30 s (the first at once)."""
        failure = self._failures.get(step.asset)
        if failure is None or failure[0] < 2:
            return False
        delay = min(LAUNCH_BACKOFF_MAX, 2.0 ** (failure[0] - 2))
        return time.monotonic() - failure[1] < delay

    def _blocked(self, step: Step) -> bool:
        """Old tasks of the step still run (being killed), or the instance is unreachable."""
        return any(self._live_tasks(step.asset, name) for name in step.tasks)

    async def progress(self, new_work: bool = False) -> None:
        """Advance every open step, kill what a step replaces, and say whether offers are wanted."""
        if self.client is None:
            return
        async with self._lock:
            changed = False
            while True:
                moved = False
                for step in self._open_steps():
                    status = step.status
                    if step.status is Status.PENDING and step.name not in self.timings:
                        self._time(step, "start")
                    self._advance(step)
                    if step.status is Status.PENDING:
                        await self._kill_outdated(step)
                    if step.status is not status:
                        moved = changed = True
                if not moved:
                    break
            if changed:
                await self._save_plans()
            # a step that newly wants offers revives them (clearing earlier decline
            # filters); decided under the lock, so demands go out in the order they arose
            wanted = {s.name for s in self._wanted()} | {f"release {r}" for r in self.orphans}
            grew = bool(wanted - self._wanted_names)
            self._wanted_names = wanted
            await self.demand.update(self.client, bool(wanted), new_work=new_work or grew)

    def _outdated(self, step: Step) -> list[TaskRecord]:
        """The step's running tasks it replaces: an older config, or restarted."""
        return [
            record
            for name in step.tasks
            for record in self._live_tasks(step.asset, name)
            if _config_of(record) != self.target or record.task_id in self.superseded
        ]

    async def _kill_outdated(self, step: Step) -> None:
        assert self.client is not None
        if self._awaiting_room(step):
            return  # the old tasks keep running until the agent is known to have room
        for record in self._outdated(step):
            if record.task_id in self.killing:
                continue
            why = "restarted" if record.task_id in self.superseded else "older configuration"
            log.info("%s: killing %s (%s)", step.name, record.task.name, why)
            self.killing.add(record.task_id)
            await self.client.kill(record.task.task_id, record.task.agent_id)

    def _awaiting_room(self, step: Step) -> bool:
        """A step whose new config needs another reservation size waits for an offer from
        its agent showing room for it before it kills the old tasks."""
        record = self.pods.get(step.asset)
        if step.status is not Status.PENDING or record is None or step.asset in self._room_ok:
            return False
        if not self.evaluator.needs_resize(self.spec.pod(step.pod), record):
            return False
        return any(_config_of(r) != self.target for r in self._outdated(step))

    def _check_room(self, step: Step, offer: Offer, available: Resources) -> None:
        record = self.pods[step.asset]
        if offer.agent_id.value != record.agent_id:
            return
        why = self.evaluator.room(offer, available, self.spec.pod(step.pod), record)
        if why is None:
            log.info("%s: %s has room for its new resources", step.name, offer.hostname)
            self._room_ok.add(step.asset)
            step.message = None
        else:
            step.message = (
                f"no room on {offer.hostname} for its new resources ({why}); "
                "its tasks keep running; `pod replace` moves it to an agent with room"
            )
            if self._new_why(step, step.message):
                log.info("%s: %s", step.name, step.message)

    def _short(self, instance: str, offer: Offer, refusal: Refusal) -> None:
        if refusal.shortfall is not None:
            self.shortfalls.note(
                instance, offer.agent_id.value, refusal.shortfall, time.monotonic()
            )

    def _say_waiting(self, step: Step) -> None:
        """The step's message says why no offer serves it (its instance, or a peer its
        config needs placed first, cannot be placed), or no longer once it can."""
        now = time.monotonic()
        waiting = None
        record = self.pods.get(step.asset)
        if record is None or record.reservation_id is None:
            waiting = self.shortfalls.message(step.asset, now)
        elif self._waits_for_peers(step):
            pod = self.spec.pod(step.pod)
            for index in range(pod.count):
                peer = pod.instance_name(index)
                why = self.shortfalls.message(peer, now)
                placed = self.pods.get(peer)
                if why is not None and (placed is None or placed.reservation_id is None):
                    waiting = f"waiting for peer {peer} to be placed: {why.removeprefix(WAITING)}"
                    break
        message = with_waiting(step.message, waiting)
        if message != step.message:
            step.message = message
            if waiting is not None and self._new_why(step, waiting):
                log.info("%s: %s", step.name, waiting)

    def _new_why(self, step: Step, why: str) -> bool:
        """Whether `why` is news for the step: a reason is logged once, not per offer."""
        if self._why.get(step.name) == why:
            return False
        self._why[step.name] = why
        return True

    async def restart_steps(self, steps: list[Step]) -> None:
        """The operator restarted these steps (plan restart): their running tasks are killed
        and relaunched as each step's turn comes (the plan's strategy holds)."""
        # all in memory first, before anything awaits: no progress() in between may see
        # the restarted steps' running tasks as current and complete the steps again
        superseded = {
            record.task_id: step.name
            for step in steps
            for name in step.tasks
            for record in self._live_tasks(step.asset, name)
        }
        # FINISH/ONCE tasks run again too
        rerun = [
            n
            for step in steps
            for t in step.tasks
            if self.finished.pop(n := task_name_of(step.asset, t), None) is not None
        ]
        await self._supersede(superseded)
        for name in rerun:
            await self.state.delete_json("finished", name)

    async def _supersede(self, superseded: dict[str, str]) -> None:
        """Mark running tasks (task id -> the step that replaces them) as superseded: in
        memory at once, before this coroutine's first await, then in the store."""
        self.superseded.update(superseded)
        for task_id, by in superseded.items():
            await self.store.put_superseded(task_id, by)

    async def _save_plans(self) -> None:
        for name, plan in self.plans.items():
            await self.store.put_plan(name, plan)

    def _time(self, step: Step, event: str) -> None:
        self.timings.setdefault(step.name, {}).setdefault(event, time.time())

    def _record(self, step: Step) -> PodRecord:
        return self.pods.get(step.asset) or PodRecord(
            name=step.asset, pod=step.pod, index=step.index
        )

    def _templated(self, pod: str) -> bool:
        return any(t.configs for t in self.spec.pod(pod).tasks)

    def _to_place(self, wanted: list[Step]) -> list[PodRecord]:
        """Unplaced instances of pod types whose wanted steps render config templates:
        their peers' addresses must all be known first, so the whole type is reserved
        before any of its tasks launch."""
        out = []
        for pod_name in dict.fromkeys(s.pod for s in wanted if self._templated(s.pod)):
            pod = self.spec.pod(pod_name)
            for index in range(pod.count):
                name = pod.instance_name(index)
                record = self.pods.get(name) or PodRecord(name=name, pod=pod_name, index=index)
                if record.reservation_id is None:
                    out.append(record)
        return out

    def _waits_for_peers(self, step: Step) -> bool:
        if not self._templated(step.pod):
            return False
        pod = self.spec.pod(step.pod)
        return any(
            (r := self.pods.get(pod.instance_name(i))) is None or r.reservation_id is None
            for i in range(pod.count)
        )

    def _evaluate(
        self, offer: Offer, available: Resources, record: PodRecord, step_tasks: list[str]
    ) -> Evaluation | Refusal:
        pod = self.spec.pod(record.pod)
        placed = [
            p
            for p in self.pods.values()
            if p.pod == record.pod and p.name != record.name and p.reservation_id is not None
        ]
        tasks = [
            t
            for t in step_tasks
            if not (
                pod.task(t).goal is not Goal.RUNNING
                and self._finished_ok(task_name_of(record.name, t), pod.task(t).goal)
            )
        ]
        return self.evaluator.evaluate(
            offer, available, pod, record, tasks, placed, self.peers(), self.target
        )

    def peers(self) -> dict[str, list[PodInstance]]:
        out: dict[str, list[PodInstance]] = {}
        for record in self.pods.values():
            if record.hostname is None:
                continue
            out.setdefault(record.pod, []).append(
                PodInstance(
                    pod=record.pod,
                    index=record.index,
                    hostname=record.hostname,
                    ports=dict(record.ports),
                )
            )
        return out

    def _cleanup(self, offer: Offer) -> tuple[list[Any], list[str]]:
        """DESTROY + UNRESERVE reservations of this role that no pod instance holds."""
        known = {p.reservation_id for p in self.pods.values() if p.reservation_id}
        orphans = {
            rid
            for key, _ in Resources.from_wire(offer.resources)
            if key.role == self.cfg.role
            and (rid := reservation_id_of(key)) is not None
            and rid not in known
        }
        operations = []
        for rid in sorted(orphans):
            log.info("unreserving reservation %s no pod instance holds", rid)
            operations.extend(unreserve_operations(offer, rid))
        return operations, sorted(orphans)

    # --- views for the API ------------------------------------------------------------------

    def health(self) -> bool:
        deploy = self.plans.get("deploy")
        recovery = self.plans.get("recovery")
        return (
            deploy is not None
            and deploy.status is Status.COMPLETE
            and (recovery is None or recovery.status is Status.COMPLETE)
        )

    def pod_status(self) -> dict[str, Any]:
        pods = []
        for pod in self.spec.pods:
            instances = []
            for index in range(pod.count):
                name = pod.instance_name(index)
                record = self.pods.get(name)
                tasks = []
                for task in pod.tasks:
                    live = self._live_tasks(name, task.name) or [
                        r
                        for r in self.tracker.records.values()
                        if r.task.name == task_name_of(name, task.name)
                    ]
                    entry: dict[str, Any] = {"name": task_name_of(name, task.name)}
                    if live:
                        r = live[-1]
                        entry.update(
                            id=r.task_id,
                            status=r.status.state.value if r.status else "TASK_STAGING",
                            agent=r.agent_id,
                            hostname=r.hostname,
                            healthy=r.status.healthy if r.status else None,
                            config=_config_of(r),
                        )
                    else:
                        entry.update(
                            id=None,
                            status="TASK_FINISHED"
                            if entry["name"] in self.finished
                            else "NOT_RUNNING",
                            agent=record.agent_id if record else None,
                            hostname=record.hostname if record else None,
                        )
                    tasks.append(entry)
                instances.append(
                    {
                        "name": name,
                        "agent": record.agent_id if record else None,
                        "hostname": record.hostname if record else None,
                        "ports": dict(record.ports) if record else {},
                        "tasks": tasks,
                    }
                )
            pods.append({"name": pod.name, "instances": instances})
        return {"service": self.cfg.service_name, "pods": pods}


def _describe(status: TaskStatus) -> str:
    text = f"{status.task_id.value.split('__')[0]} {status.state.value}"
    if status.message:
        text += f": {status.message}"
    return text
