"""Marathon's framework: keep every app at its instances, roll deployments forward, kill and
replace what fails.

On offers it launches the instances apps are missing (deployment steps first, backoff
respected, constraints and resources matched by the scheduler library); on status updates
it tracks instances, replaces the ones that end (with backoff), and reports events; a
periodic `converge()` kills what a deployment step wants gone, times out launches, handles
unreachable instances, runs readiness checks and completes steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from mesos_runtime.scheduler import (
    Framework,
    NoMatch,
    OfferDemand,
    OfferMismatch,
    SchedulerClient,
    TaskTracker,
    match_offer,
)
from mesos_runtime.scheduler.client import CallError
from mesos_runtime.scheduler.constraints import Placement
from mesos_runtime.wire.mesos import (
    Filters,
    Offer,
    OfferID,
    StatusReason,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from mesos_runtime.wire.resources import Resources
from mesos_runtime.wire.scheduler import Subscribed

from .appdef import App
from .backoff import LaunchDelay
from .deployments import RESTART, SCALE, START, STOP, Action, Deployment
from .events import EventBus
from .instances import Instance, iso
from .repository import Repository
from .tasks import build_task, resource_request

__all__ = ["MarathonScheduler", "OfferStats", "SchedulerSettings"]

log = logging.getLogger(__name__)


@dataclass
class SchedulerSettings:
    max_instances_per_offer: int = 100
    task_launch_timeout: float = 300.0
    decline_offer_duration: float = 120.0
    reconciliation_interval: float = 600.0
    converge_interval: float = 1.0
    converge_batch: float = 0.05


@dataclass
class OfferStats:
    """What became of the offers an app's launches saw (for `/v2/queue`)."""

    since: float = field(default_factory=time.time)
    processed: int = 0
    unused: int = 0
    last_unused_at: float | None = None
    last_used_at: float | None = None
    reasons: Counter[str] = field(default_factory=Counter)
    last_by_agent: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        last: Counter[str] = Counter()
        for reasons in self.last_by_agent.values():
            last.update(reasons)
        steps = [r.value for r in NoMatch]
        return {
            "processedOffersCount": self.processed,
            "unusedOffersCount": self.unused,
            "lastUnusedOfferAt": iso(self.last_unused_at),
            "lastUsedOfferAt": iso(self.last_used_at),
            "rejectSummaryLastOffers": [
                {"reason": r, "declined": last[r], "processed": self.processed} for r in steps
            ],
            "rejectSummaryLaunchAttempt": [
                {"reason": r, "declined": self.reasons[r], "processed": self.processed}
                for r in steps
            ],
        }


class MarathonScheduler(Framework):
    """The apps, their instances and deployments, driven by offers, updates and time."""

    def __init__(
        self,
        repository: Repository,
        tracker: TaskTracker,
        events: EventBus,
        settings: SchedulerSettings,
        role: str,
    ) -> None:
        super().__init__()
        self.repository = repository
        self.tracker = tracker
        self.events = events
        self.settings = settings
        self.role = role
        self.apps: dict[str, App] = {}
        self.instances: dict[str, Instance] = {}
        self._by_app: dict[str, dict[str, Instance]] = {}  # app id -> task id -> instance
        self.deployments: dict[str, Deployment] = {}
        self.delays = LaunchDelay()
        self.offer_stats: dict[str, OfferStats] = {}
        self.demand = OfferDemand([role] if role != "*" else [])
        self.client: SchedulerClient | None = None
        self.framework_id: str | None = None
        self.counters: Counter[str] = Counter()
        self.last_failures: dict[str, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._readiness_due: dict[str, float] = {}
        self._last_reconcile = 0.0
        self._last_pending: dict[str, int] = {}
        self._subscribed = asyncio.Event()

    # --- lifecycle ---------------------------------------------------------------------

    async def load(self) -> None:
        """Read apps, deployments and task records (on being elected)."""
        self.apps = {a: App.from_json(j) for a, j in (await self.repository.apps()).items()}
        stored = await self.tracker.state.framework_id()
        self.framework_id = stored.value if stored is not None else None
        self.deployments = {d.id: d for d in await self.repository.deployments()}
        from .instances import instance_of

        for record in (await self.tracker.load()).values():
            instance = instance_of(record)
            if instance is not None:
                self._add(instance)
        log.info(
            "loaded %d apps, %d instances, %d deployments",
            len(self.apps),
            len(self.instances),
            len(self.deployments),
        )

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._converge_loop(), name="marathon-converge")

    async def close(self) -> None:
        self.tracker.stop()
        self.demand.close()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._http is not None:
            await self._http.close()

    def wake(self) -> None:
        """Converge soon (after an API change or an update)."""
        self._wake.set()

    @property
    def subscribed_now(self) -> bool:
        return self._subscribed.is_set() and self.client is not None

    # --- views -------------------------------------------------------------------------

    def instances_of(self, app_id: str) -> list[Instance]:
        return list(self._by_app.get(app_id, {}).values())

    def _add(self, instance: Instance) -> None:
        self.instances[instance.task_id] = instance
        self._by_app.setdefault(instance.app_id, {})[instance.task_id] = instance

    def _remove(self, task_id: str) -> None:
        instance = self.instances.pop(task_id, None)
        if instance is None:
            return
        of_app = self._by_app.get(instance.app_id, {})
        of_app.pop(task_id, None)
        if not of_app:
            self._by_app.pop(instance.app_id, None)

    def deployments_of(self, app_id: str) -> list[Deployment]:
        return [d for d in self.deployments.values() if app_id in d.target]

    def _action(self, app_id: str) -> Action | None:
        for deployment in self.deployments.values():
            action = deployment.action_for(app_id)
            if action is not None:
                return action
        return None

    def _counts_as_active(self, instance: Instance, app: App) -> bool:
        """Does `instance` fill one of the app's slots?"""
        if instance.gone or instance.killing:
            return False
        if instance.unreachable:
            inactive_after = app.unreachable_inactive_after
            if inactive_after is not None and instance.unreachable_since is not None:
                return time.time() - instance.unreachable_since < inactive_after
        return True

    def _ready(self, instance: Instance, app: App) -> bool:
        if not instance.healthy(bool(app.health_checks)):
            return False
        return instance.ready or not app.readiness_checks

    def launches_wanted(self, app: App) -> int:
        active = [i for i in self.instances_of(app.id) if self._counts_as_active(i, app)]
        action = self._action(app.id)
        if action is not None and action.action == STOP:
            return 0
        if action is not None and action.action == RESTART:
            new = [i for i in active if i.config_version == app.config_version]
            capacity = math.floor(app.instances * (1 + app.maximum_over_capacity) + 1e-9)
            room = capacity - len(active)
            if room <= 0 and not self._restart_can_kill(app, active):
                room = 1  # minimumHealthCapacity 1 and no over-capacity: one extra at a time
            return max(0, min(room, app.instances - len(new)))
        return max(0, app.instances - len(active))

    def _restart_can_kill(self, app: App, active: list[Instance]) -> bool:
        old = [i for i in active if i.config_version != app.config_version]
        if not old:
            return False
        if any(not self._ready(i, app) for i in old):
            return True
        healthy = sum(1 for i in active if self._ready(i, app))
        minimum = math.ceil(app.instances * app.minimum_health_capacity - 1e-9)
        return healthy - 1 >= minimum

    def pending_launches(self) -> dict[str, int]:
        """Apps with instances to launch now (backoff permitting): app id → count."""
        return {
            app.id: n
            for app in self.apps.values()
            if (n := self.launches_wanted(app)) > 0 and self.delays.remaining(app.id) <= 0
        }

    # --- the framework ---------------------------------------------------------------

    async def subscribed(self, client: SchedulerClient, subscribed: Subscribed) -> None:
        self.client = client
        self.framework_id = subscribed.framework_id.value
        await self.tracker.state.set_framework_id(subscribed.framework_id)
        self.demand.subscribed()
        self._last_pending = {}
        self._subscribed.set()
        self.tracker.adopt(client, interval=2.0)
        self._last_reconcile = time.monotonic()
        log.info("subscribed as framework %s", self.framework_id)
        self.wake()

    async def disconnected(self, client: SchedulerClient, reason: Exception) -> None:
        self._subscribed.clear()

    async def offers(self, client: SchedulerClient, offers: list[Offer]) -> None:
        pending = self.pending_launches()
        for offer in offers:
            if not pending:
                await self._decline([offer.id], self.settings.decline_offer_duration)
                continue
            tasks = self._match(offer, pending)
            if not tasks:
                await self._decline([offer.id], 5.0)
                continue
            await asyncio.gather(*(self._record_launch(app, task, offer) for app, task in tasks))
            self.counters["marathon.tasks.launched"] += len(tasks)
            try:
                await client.launch([offer.id], [t for _, t in tasks], Filters(refuse_seconds=0))
            except CallError as e:
                log.warning("launching %d tasks failed: %s", len(tasks), e)
        if not self.pending_launches():
            await self.demand.update(client, wanted=False)

    async def _decline(self, offer_ids: list[OfferID], refuse: float) -> None:
        if self.client is not None:
            try:
                await self.client.decline(offer_ids, refuse)
            except CallError as e:
                log.warning("DECLINE refused: %s", e)

    def _match(self, offer: Offer, pending: dict[str, int]) -> list[tuple[App, TaskInfo]]:
        available = Resources.from_wire(offer.resources)
        chosen: list[tuple[App, TaskInfo]] = []
        limit = self.settings.max_instances_per_offer
        for app_id in self._launch_order(pending):
            app = self.apps[app_id]
            request = resource_request(app)
            placed = [
                i.placement() for i in self.instances_of(app_id) if not i.gone and not i.killing
            ]
            stats = self.offer_stats.setdefault(app_id, OfferStats())
            stats.processed += 1
            launched_here = 0
            while pending[app_id] > 0 and len(chosen) < limit:
                match = match_offer(
                    request, offer, available=available, placed=placed, instances=app.instances
                )
                if isinstance(match, OfferMismatch):
                    if launched_here == 0:
                        stats.unused += 1
                        stats.last_unused_at = time.time()
                        names = [r.value for r in match.reasons]
                        stats.reasons.update(names)
                        stats.last_by_agent[offer.agent_id.value] = names
                    break
                service_ports = _service_ports(app)
                task = build_task(app, offer, match, service_ports)
                available = available - match.resources
                placed.append(Placement.of_offer(offer))
                chosen.append((app, task))
                pending[app_id] -= 1
                launched_here += 1
            if launched_here:
                stats.last_used_at = time.time()
                stats.last_by_agent.pop(offer.agent_id.value, None)
        return chosen

    def _launch_order(self, pending: dict[str, int]) -> list[str]:
        """Apps in a deployment step first, then the rest, each in id order."""
        deploying = {a.app for d in self.deployments.values() for a in d.current_actions}
        return sorted(pending, key=lambda a: (a not in deploying, a))

    async def _record_launch(self, app: App, task: TaskInfo, offer: Offer) -> None:
        from .instances import instance_of

        record = await self.tracker.launched(task, offer)
        instance = instance_of(record)
        assert instance is not None
        self._add(instance)
        self._publish_status(instance, None)

    async def update(self, client: SchedulerClient, status: TaskStatus) -> None:
        task_id = status.task_id.value
        instance = self.instances.get(task_id)
        record = await self.tracker.update(status)
        if instance is None or record is None:
            if not status.state.is_terminal and status.state is not TaskState.TASK_UNREACHABLE:
                # a task no app of ours knows (left over from a lost state): Marathon kills it
                log.info("killing unknown task %s (%s)", task_id, status.state.value)
                with contextlib.suppress(CallError):
                    await client.kill(status.task_id, status.agent_id)
            return
        instance.record = record
        app = self.apps.get(instance.app_id)
        if status.healthy is not None and instance.health.record(status.healthy, status.message):
            self._publish_health(instance, status.healthy)
        if status.state is TaskState.TASK_UNREACHABLE:
            instance.unreachable_since = instance.unreachable_since or time.time()
        elif instance.unreachable_since is not None and not status.state.is_terminal:
            instance.unreachable_since = None
        self._publish_status(instance, status)
        if status.state.is_terminal:
            self._remove(task_id)
            self._readiness_due.pop(task_id, None)
            if app is not None and not instance.killing and not instance.kill_requested:
                self._failed(app, instance, status)
        self.wake()

    def _failed(self, app: App, instance: Instance, status: TaskStatus) -> None:
        """An instance ended without Marathon asking: replace it, after the app's backoff."""
        delay = self.delays.failed(app)
        self.counters["marathon.tasks.failed"] += 1
        self.last_failures[app.id] = {
            "appId": app.id,
            "host": instance.host,
            "message": status.message or "",
            "state": status.state.value,
            "taskId": instance.task_id,
            "timestamp": iso(time.time()),
            "version": instance.version,
            "slaveId": instance.agent_id,
        }
        log.info(
            "instance %s of %s ended %s (%s); relaunching in %.1fs",
            instance.task_id,
            app.id,
            status.state.value,
            status.message or (status.reason.value if status.reason else ""),
            delay,
        )
        if status.reason is StatusReason.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED:
            self.events.publish(
                "unhealthy_instance_kill_event",
                appId=app.id,
                taskId=instance.task_id,
                instanceId=instance.instance_id,
                version=instance.version,
                reason=status.message or "health check failed",
                host=instance.host,
                slaveId=instance.agent_id,
            )

    def _publish_status(self, instance: Instance, status: TaskStatus | None) -> None:
        state = status.state.value if status is not None else TaskState.TASK_STAGING.value
        self.events.publish(
            "status_update_event",
            slaveId=instance.agent_id,
            taskId=instance.task_id,
            taskStatus=state,
            message=(status.message or "") if status is not None else "",
            appId=instance.app_id,
            host=instance.host,
            ipAddresses=[{"ipAddress": instance.host, "protocol": "IPv4"}],
            ports=instance.ports,
            version=instance.version,
        )
        self._publish_condition(instance, _condition(state))

    def _publish_condition(self, instance: Instance, condition: str) -> None:
        self.events.publish(
            "instance_changed_event",
            instanceId=instance.instance_id,
            condition=condition,
            runSpecId=instance.app_id,
            agentId=instance.agent_id,
            host=instance.host,
            runSpecVersion=instance.version,
        )

    def _publish_health(self, instance: Instance, healthy: bool) -> None:
        self.events.publish(
            "health_status_changed_event",
            appId=instance.app_id,
            taskId=instance.task_id,
            instanceId=instance.instance_id,
            version=instance.version,
            alive=healthy,
        )
        self.events.publish(
            "instance_health_changed_event",
            instanceId=instance.instance_id,
            runSpecId=instance.app_id,
            runSpecVersion=instance.version,
            healthy=healthy,
        )

    # --- converging --------------------------------------------------------------------

    async def _converge_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.converge_interval)
            # a burst of updates (hundreds of launches) makes one round, not one each
            await asyncio.sleep(self.settings.converge_batch)
            self._wake.clear()
            try:
                await self.converge()
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except ConnectionError as e:
                log.info("converge: the stream is gone (%s)", e)
            except Exception:  # the loop must go on whatever one round hits
                log.exception("converge round failed; going on")

    async def converge(self) -> None:
        """One round: kills, timeouts, unreachable, readiness, steps, offer demand."""
        client = self.client if self.subscribed_now else None
        now = time.time()
        for app_id in list(self.apps) + self._orphan_apps():
            app = self.apps.get(app_id)
            for instance in self._to_kill(app_id, app, now):
                await self._kill(instance, client)
        await self._check_readiness()
        await self._advance_deployments()
        if client is None:
            return
        if time.monotonic() - self._last_reconcile > self.settings.reconciliation_interval:
            self._last_reconcile = time.monotonic()
            with contextlib.suppress(CallError):
                await client.reconcile()
        pending = self.pending_launches()
        # revive (which also clears decline filters) when work appears, not every round
        grew = any(n > self._last_pending.get(a, 0) for a, n in pending.items())
        self._last_pending = pending
        await self.demand.update(client, wanted=bool(pending), new_work=grew)

    def _orphan_apps(self) -> list[str]:
        return sorted(set(self._by_app) - set(self.apps))

    def _to_kill(self, app_id: str, app: App | None, now: float) -> list[Instance]:
        instances = [i for i in self.instances_of(app_id) if not i.gone]
        if app is None:  # deleted (or unknown after a failover): stop every instance
            return [i for i in instances if not i.killing]
        kills: list[Instance] = []
        for i in instances:
            if i.killing:
                continue
            launching = i.state in (TaskState.TASK_STAGING, TaskState.TASK_STARTING)
            timed_out = launching and now - i.staged_at > self.settings.task_launch_timeout
            expunge = app.unreachable_expunge_after
            expunged = (
                i.unreachable
                and expunge is not None
                and i.unreachable_since is not None
                and now - i.unreachable_since >= expunge
            )
            if timed_out or expunged:
                kills.append(i)
        action = self._action(app_id)
        active = [i for i in instances if self._counts_as_active(i, app) and i not in kills]
        if action is None:
            return kills
        if action.action == STOP:
            return [i for i in instances if not i.killing]
        if action.action == SCALE:
            wanted = [i for i in active if i.task_id in action.kill_task_ids]
            rest = [i for i in active if i not in wanted]
            extra = len(rest) - app.instances
            if extra > 0:
                wanted += _kill_order(rest, app)[:extra]
            return kills + wanted
        if action.action == RESTART:
            old = [i for i in active if i.config_version != app.config_version]
            unready_old = [i for i in old if not self._ready(i, app)]
            kills += unready_old  # never worth keeping: they count for nothing
            old = [i for i in old if i not in unready_old]
            minimum = math.ceil(app.instances * app.minimum_health_capacity - 1e-9)
            healthy = sum(1 for i in active if i not in unready_old and self._ready(i, app))
            kills += _kill_order(old, app)[: max(healthy - minimum, 0)]
        return kills

    async def _kill(self, instance: Instance, client: SchedulerClient | None) -> None:
        instance.killing = True
        self._publish_condition(instance, "Killing")
        if instance.unreachable:
            # expunged: forget it; if its agent ever comes back the kill below ends it
            self._remove(instance.task_id)
            await self.tracker.forget(instance.task_id)
        if client is None:
            return
        try:
            await client.kill(instance.record.task.task_id, instance.record.task.agent_id)
        except CallError as e:
            log.warning("KILL of %s refused: %s", instance.task_id, e)

    async def kill_instances(self, instances: list[Instance]) -> None:
        """Kill (to be replaced, unless a scale-down says otherwise)."""
        for instance in instances:
            instance.kill_requested = True  # replaced when it ends, without a backoff
            await self._kill_for_replacement(instance)
        self.wake()

    async def _kill_for_replacement(self, instance: Instance) -> None:
        client = self.client if self.subscribed_now else None
        if client is None:
            return
        try:
            await client.kill(instance.record.task.task_id, instance.record.task.agent_id)
        except CallError as e:
            log.warning("KILL of %s refused: %s", instance.task_id, e)

    # --- readiness ---------------------------------------------------------------------

    async def _check_readiness(self) -> None:
        due = []
        now = time.monotonic()
        for instance in self.instances.values():
            app = self.apps.get(instance.app_id)
            if app is None or not app.readiness_checks or instance.ready or not instance.running:
                continue
            if self._action(app.id) is None:
                instance.ready = True  # outside deployments readiness is not waited for
                continue
            if not instance.healthy(bool(app.health_checks)):
                continue
            if self._readiness_due.get(instance.task_id, 0.0) <= now:
                self._readiness_due[instance.task_id] = now + app.readiness_checks[0].interval
                due.append((instance, app))
        if due:
            await asyncio.gather(*(self._probe(i, a) for i, a in due))

    async def _probe(self, instance: Instance, app: App) -> None:
        check = app.readiness_checks[0]
        port = next(
            (
                n
                for spec, n in zip(app.ports, instance.ports, strict=False)
                if spec.name == check.port_name
            ),
            None,
        )
        if port is None:
            return
        if self._http is None:
            self._http = aiohttp.ClientSession()
        url = f"{check.protocol.lower()}://{instance.host}:{port}{check.path}"
        try:
            async with self._http.get(
                url, timeout=aiohttp.ClientTimeout(total=check.timeout), ssl=False
            ) as response:
                body = await response.text(errors="replace")
                instance.ready = response.status in check.ready_statuses
                instance.readiness_response = {
                    "status": response.status,
                    "contentType": response.headers.get("Content-Type", ""),
                    "body": body[:4096] if check.preserve_last_response else "",
                }
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            instance.ready = False
            instance.readiness_response = {"status": 0, "contentType": "", "body": str(e)}
        if instance.ready:
            self.wake()

    def readiness_results(self, deployment: Deployment) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for action in deployment.current_actions:
            app = self.apps.get(action.app)
            if app is None or not app.readiness_checks:
                continue
            out[action.app] = [
                {
                    "name": app.readiness_checks[0].name,
                    "taskId": i.task_id,
                    "ready": i.ready,
                    "lastResponse": i.readiness_response,
                }
                for i in self.instances_of(action.app)
                if i.running and i.config_version == app.config_version
            ]
        return out

    # --- deployments -------------------------------------------------------------------

    def action_done(self, action: Action) -> bool:
        app = self.apps.get(action.app)
        instances = [i for i in self.instances_of(action.app) if not i.gone]
        if action.action == STOP:
            return not instances
        if action.action == START:
            return True
        if app is None:
            return True
        active = [i for i in instances if self._counts_as_active(i, app)]
        if any(i.task_id in action.kill_task_ids for i in instances):
            return False
        if action.action == SCALE:
            return len(active) == app.instances and all(self._ready(i, app) for i in active)
        # RESTART: only new instances, all of them ready, nothing old left
        if any(i.config_version != app.config_version for i in instances):
            return False
        return len(active) == app.instances and all(self._ready(i, app) for i in active)

    async def _advance_deployments(self) -> None:
        for deployment in sorted(self.deployments.values(), key=lambda d: d.version):
            while deployment.current_step < len(deployment.steps) and all(
                self.action_done(a) for a in deployment.current_actions
            ):
                step = deployment.current_actions
                self.events.publish(
                    "deployment_step_success",
                    plan=deployment.plan_json(),
                    currentStep={"actions": [a.to_json() for a in step]},
                )
                deployment.current_step += 1
                if deployment.current_step < len(deployment.steps):
                    await self.repository.put_deployment(deployment)
                    self.publish_deployment_info(deployment)
            if deployment.current_step >= len(deployment.steps):
                await self.finish_deployment(deployment, success=True)

    def publish_deployment_info(self, deployment: Deployment) -> None:
        self.events.publish(
            "deployment_info",
            plan=deployment.plan_json(),
            currentStep={"actions": [a.to_json() for a in deployment.current_actions]},
        )

    async def finish_deployment(self, deployment: Deployment, *, success: bool) -> None:
        self.deployments.pop(deployment.id, None)
        await self.repository.delete_deployment(deployment.id)
        if success:
            for app_id, app in deployment.target.items():
                if app is None:
                    self.events.publish("app_terminated_event", appId=app_id)
            self.events.publish("deployment_success", id=deployment.id, plan=deployment.plan_json())
        else:
            self.events.publish("deployment_failed", id=deployment.id, plan=deployment.plan_json())
        self.wake()


def _service_ports(app: App) -> list[int]:
    j = app.json
    container = j.get("container") or {}
    mappings = container.get("portMappings") or (container.get("docker") or {}).get("portMappings")
    if mappings:
        return [int(m.get("servicePort", 0)) for m in mappings if m.get("hostPort") is not None]
    return [int(p.get("port", 0)) for p in j.get("portDefinitions", [])]


def _kill_order(instances: list[Instance], app: App) -> list[Instance]:
    """Which to kill first: not running first, then by `killSelection` (youngest first)."""
    youngest_first = app.kill_selection != "OLDEST_FIRST"
    return sorted(
        instances,
        key=lambda i: (i.running, -i.staged_at if youngest_first else i.staged_at),
    )


_CONDITIONS = {
    "TASK_STAGING": "Staging",
    "TASK_STARTING": "Starting",
    "TASK_RUNNING": "Running",
    "TASK_FINISHED": "Finished",
    "TASK_FAILED": "Failed",
    "TASK_KILLING": "Killing",
    "TASK_KILLED": "Killed",
    "TASK_LOST": "Unknown",
    "TASK_ERROR": "Error",
    "TASK_DROPPED": "Dropped",
    "TASK_UNREACHABLE": "Unreachable",
    "TASK_GONE": "Gone",
    "TASK_GONE_BY_OPERATOR": "Gone",
    "TASK_UNKNOWN": "Unknown",
}


def _condition(state: str) -> str:
    return _CONDITIONS.get(state, "Unknown")
