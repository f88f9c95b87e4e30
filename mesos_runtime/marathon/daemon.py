"""One Marathon instance: serve the API, contend for leadership, and while leading load
the state, subscribe with the stored framework id and drive the apps.

Every instance serves its API from the start (HTTP, HTTPS with TLS: `security.py`); a
non-leader proxies the API to the leader. On
losing leadership (its ZooKeeper session, or `DELETE /v2/leader`) an instance stops its
scheduler without tearing the framework down, so the next leader adopts the running tasks,
and contends again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from mesos_runtime import __version__
from mesos_runtime.scheduler import (
    SchedulerClient,
    SchedulerHA,
    SchedulerState,
    TaskTracker,
    framework_info,
    open_ha,
    run,
)
from mesos_runtime.wire.mesos import Credential, FrameworkInfo

from .api import make_app
from .appdef import AppDefaults
from .events import EventBus
from .flags import MarathonFlags
from .proxy import LeaderProxy
from .repository import Repository
from .scheduler import MarathonScheduler, SchedulerSettings
from .security import ApiSecurity, api_security
from .service import AppService

__all__ = ["FlagsInvalid", "MarathonDaemon", "check_flags"]

log = logging.getLogger("marathon")

_RELEAD_PAUSE = 1.0


class FlagsInvalid(ValueError):
    """A flag that cannot be used (the message names it)."""


def check_flags(flags: MarathonFlags) -> str | None:
    """The secret from `--mesos_authentication_secret_file` (if any), after checking the
    flags; raises FlagsInvalid naming the first bad one. Nothing is started before."""
    if not flags.master:
        raise FlagsInvalid("--master is required (host:port or zk://host:port,.../mesos)")
    from mesos_runtime.scheduler.leader import MasterAddressError, base_url

    if flags.master.startswith("zk://"):
        from mesos_runtime.discovery.zk_url import ZooKeeperURLError, parse_zk_url

        try:
            parse_zk_url(flags.master)
        except ZooKeeperURLError as e:
            raise FlagsInvalid(f"--master: {e}") from None
    else:
        try:
            base_url(flags.master)
        except MasterAddressError as e:
            raise FlagsInvalid(f"--master: {e}") from None
    if flags.zk is not None:
        from mesos_runtime.discovery.zk_url import ZooKeeperURLError, parse_zk_url

        try:
            parse_zk_url(flags.zk)
        except ZooKeeperURLError as e:
            raise FlagsInvalid(f"--zk: {e}") from None
    if not 0 < flags.http_port < 65536:
        raise FlagsInvalid(f"--http_port={flags.http_port}: expected a port in 1-65535")
    for name in ("task_launch_timeout", "reconciliation_interval", "decline_offer_duration"):
        if getattr(flags, name) <= 0:
            raise FlagsInvalid(f"--{name}={getattr(flags, name)}: expected milliseconds > 0")
    if flags.failover_timeout < 0:
        raise FlagsInvalid(f"--failover_timeout={flags.failover_timeout}: expected seconds >= 0")
    if flags.max_instances_per_offer < 1:
        raise FlagsInvalid("--max_instances_per_offer: expected at least 1")
    if not 0 < flags.local_port_min < flags.local_port_max <= 65536:
        raise FlagsInvalid("--local_port_min/--local_port_max: expected 0 < min < max <= 65536")
    if flags.mesos_authentication_secret_file and not flags.mesos_authentication_principal:
        raise FlagsInvalid(
            "--mesos_authentication_secret_file needs --mesos_authentication_principal"
        )
    if flags.mesos_authentication_secret_file:
        try:
            return Path(flags.mesos_authentication_secret_file).read_text().strip()
        except OSError as e:
            raise FlagsInvalid(
                f"--mesos_authentication_secret_file: cannot read "
                f"{flags.mesos_authentication_secret_file}: {e.strerror}"
            ) from None
    return None


@dataclass
class _Leading:
    scheduler: MarathonScheduler
    service: AppService


class MarathonDaemon:
    def __init__(
        self,
        flags: MarathonFlags,
        secret: str | None = None,
        security: ApiSecurity | None = None,
    ) -> None:
        self.flags = flags
        self.secret = secret
        self.security = security if security is not None else api_security(flags)
        self.hostname = flags.hostname or socket.gethostname()
        # what the instances elect and reach each other as: the HTTPS port once TLS is on
        port = flags.https_port if self.security.server_tls is not None else flags.http_port
        self.identifier = f"{self.hostname}:{port}"
        self.url = f"{self.security.scheme}://{self.identifier}"
        self.events = EventBus()
        self.ha: SchedulerHA | None = None
        self.elected_at = 0.0
        self._leading: _Leading | None = None
        self._proxy = LeaderProxy(self.identifier, tls=self.security.client_tls)
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self.info = self._info()

    # --- MarathonContext -------------------------------------------------------------

    @property
    def leading(self) -> _Leading | None:
        return self._leading

    async def leader_address(self) -> str | None:
        if self.ha is None:
            return None
        return await self.ha.election.leader()

    async def abdicate(self) -> None:
        if self.ha is not None:
            # answer the request first; then step down
            asyncio.get_running_loop().call_later(
                0.05, asyncio.ensure_future, self.ha.election.abdicate()
            )

    async def proxy(self, request: web.Request, leader: str) -> web.StreamResponse:
        return await self._proxy.forward(request, leader)

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Serve the API and join the election (raises OSError if a port is taken)."""
        location = self.flags.zk or self.flags.work_dir
        self.ha = await open_ha(
            location,
            self.identifier,
            session_timeout=self.flags.zk_session_timeout / 1000.0,
        )
        self._runner = web.AppRunner(
            make_app(self, self.security), access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        flags, listening = self.flags, []
        if self.security.serve_http:
            await web.TCPSite(self._runner, flags.http_address, flags.http_port).start()
            listening.append(f"http://{flags.http_address}:{flags.http_port}")
        if self.security.server_tls is not None:
            await web.TCPSite(
                self._runner,
                flags.https_address,
                flags.https_port,
                ssl_context=self.security.server_tls,
            ).start()
            listening.append(f"https://{flags.https_address}:{flags.https_port}")
        log.info(
            "Marathon %s serving on %s (%s), state in %s",
            __version__,
            " and ".join(listening),
            "HTTP Basic authentication" if self.security.credentials else "no authentication",
            self.ha.location if not flags.zk else flags.zk.split("@")[-1],
        )

    async def serve(self) -> None:
        """Lead whenever elected, until `stop()`."""
        assert self.ha is not None
        while not self._stopping.is_set():
            elected = asyncio.create_task(self.ha.election.elected())
            stopping = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({elected, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for task in (elected, stopping):
                task.cancel()
            if self._stopping.is_set():
                break
            try:
                await self._lead()
            except Exception:
                log.exception("leading failed; stepping down")
                with contextlib.suppress(Exception):
                    await self.ha.election.abdicate()
            await asyncio.sleep(_RELEAD_PAUSE)

    async def _lead(self) -> None:
        assert self.ha is not None
        log.info("elected leader (%s)", self.identifier)
        self.elected_at = time.time()
        state = SchedulerState(self.ha.store)
        tracker = TaskTracker(state)
        scheduler = MarathonScheduler(
            Repository(state, self.flags.zk_max_versions),
            tracker,
            self.events,
            SchedulerSettings(
                max_instances_per_offer=self.flags.max_instances_per_offer,
                task_launch_timeout=self.flags.task_launch_timeout / 1000.0,
                decline_offer_duration=self.flags.decline_offer_duration / 1000.0,
                reconciliation_interval=self.flags.reconciliation_interval / 1000.0,
            ),
            self.flags.role,
        )
        await scheduler.load()
        service = AppService(
            scheduler,
            AppDefaults(role=self.flags.role, default_user=None),
            local_port_min=self.flags.local_port_min,
            local_port_max=self.flags.local_port_max,
        )
        client = self.scheduler_client(self._framework_info(await state.framework_id()))
        self._leading = _Leading(scheduler, service)
        scheduler.start()
        runner = asyncio.create_task(run(client, scheduler), name="marathon-framework")
        lost = asyncio.create_task(self.ha.election.lost())
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({runner, lost, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._leading = None
            for task in (runner, lost, stopping):
                task.cancel()
            await asyncio.gather(runner, lost, stopping, return_exceptions=True)
            await scheduler.close()
            await client.close()
        if runner.done() and not runner.cancelled() and runner.exception() is None:
            # run() returned: the master sent ERROR (it removed this framework). The next
            # leadership starts as a new framework rather than retrying a dead id
            log.error("Mesos removed framework %s; registering anew", scheduler.framework_id)
            with contextlib.suppress(Exception):
                await self.ha.store.delete("framework", "id")
        log.info("no longer leading")

    def scheduler_client(self, info: FrameworkInfo) -> SchedulerClient:
        """The one place Marathon's SchedulerClient is made (credentials and TLS go here)."""
        assert self.flags.master is not None
        credential = None
        if self.flags.mesos_authentication_principal and self.secret is not None:
            credential = Credential(
                principal=self.flags.mesos_authentication_principal, secret=self.secret
            )
        return SchedulerClient(
            self.flags.master, info, subscribe_timeout=60.0, credential=credential
        )

    def _framework_info(self, framework_id: Any) -> FrameworkInfo:
        role = self.flags.role
        info = framework_info(
            self.flags.framework_name,
            user=self.flags.user,
            roles=[role] if role != "*" else [],
            failover_timeout=float(self.flags.failover_timeout),
            principal=self.flags.mesos_authentication_principal,
            webui_url=self.flags.webui_url or self.url,
            hostname=self.hostname,
        )
        return info.replace(id=framework_id)

    def _info(self) -> dict[str, Any]:
        flags = self.flags
        # Marathon's own config keys only: clients map them onto fixed models
        return {
            "name": "marathon",
            "version": __version__,
            "buildref": "infinity",
            "elected": False,
            "leader": None,
            "frameworkId": None,
            "marathon_config": {
                "checkpoint": True,
                "decline_offer_duration": flags.decline_offer_duration,
                "leader_proxy_connection_timeout_ms": 5000,
                "leader_proxy_read_timeout_ms": 60000,
                "local_port_min": flags.local_port_min,
                "local_port_max": flags.local_port_max,
                "max_instances_per_offer": flags.max_instances_per_offer,
                "executor": "//cmd",
                "failover_timeout": flags.failover_timeout,
                "framework_name": flags.framework_name,
                "ha": bool(flags.zk),
                "hostname": self.hostname,
                "master": flags.master,
                "mesos_role": flags.role,
                "mesos_user": flags.user,
                "task_launch_timeout": flags.task_launch_timeout,
                "reconciliation_interval": flags.reconciliation_interval,
                "webui_url": flags.webui_url or self.url,
            },
            "zookeeper_config": {
                "zk": flags.zk.split("@")[-1] if flags.zk else None,
                "zk_session_timeout": flags.zk_session_timeout,
                "zk_max_versions": flags.zk_max_versions,
            },
            "http_config": {
                "http_port": flags.http_port if self.security.serve_http else None,
                "https_port": flags.https_port if self.security.server_tls is not None else None,
            },
        }

    def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        self.events.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await self._proxy.close()
        if self.ha is not None:
            await self.ha.close()
