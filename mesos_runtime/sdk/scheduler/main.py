"""The scheduler process: read the environment, win the election, serve the HTTP API and
run the framework (the service's plans, or with `SDK_UNINSTALL=true` the uninstall plan).

Exit codes: 0 stopped (SIGTERM), 1 never subscribed (120 s), 2 bad configuration (the
message names the variable and the field), 3 leadership lost (Marathon starts it again).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
from typing import Any

from aiohttp import web

from mesos_runtime.scheduler import (
    DEFAULT_FAILOVER_TIMEOUT,
    ElectionError,
    SchedulerClient,
    SchedulerState,
    StoreError,
    framework_info,
    open_ha,
    run,
)
from mesos_runtime.sdk.plan import PlanError

from .api import make_app
from .config import ConfigError, SchedulerConfig, from_environment
from .service import ServiceScheduler
from .uninstall import Uninstaller

__all__ = ["main", "serve"]

# a scheduler that cannot subscribe this long is better restarted by Marathon than left
# waiting on a master that accepted the connection and never answered
SUBSCRIBE_DEADLINE = 120.0

log = logging.getLogger("infinity-scheduler")


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("SDK_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        cfg = from_environment()
    except ConfigError as e:
        print(f"infinity-scheduler: {e}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(serve(cfg))
    except (ConfigError, PlanError, StoreError, ElectionError) as e:
        print(f"infinity-scheduler: {e}", file=sys.stderr)
        return 2


async def serve(cfg: SchedulerConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    lost = asyncio.Event()
    identity = f"{socket.gethostname()}:{os.getpid()}"
    ha = await open_ha(
        cfg.store, identity, on_change=lambda leading: None if leading else lost.set()
    )
    try:
        elected = asyncio.create_task(ha.election.elected())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({elected, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not elected.done():
            elected.cancel()
            return 0
        log.info("elected leader of %s (%s)", cfg.service_name, identity)
        return await _lead(cfg, SchedulerState(ha.store), stop, lost)
    finally:
        await ha.close()


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to the agent's address (`bind_address`); on an address this machine
    does not have (a name resolving elsewhere), every address, as before it was known."""
    try:
        return _bound(host, port)
    except OSError as e:
        if e.errno != errno.EADDRNOTAVAIL:
            raise
    log.warning("%s is not an address of this machine: the API listens on 0.0.0.0", host)
    return _bound("0.0.0.0", port)


def _bound(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _first_subscription(scheduler: ServiceScheduler | Uninstaller, deadline: float) -> None:
    async with asyncio.timeout(deadline):
        await scheduler.connected.wait()


async def _lead(
    cfg: SchedulerConfig, state: SchedulerState, stop: asyncio.Event, lost: asyncio.Event
) -> int:
    scheduler: ServiceScheduler | Uninstaller
    # bind first: the API's address is the framework's webui_url
    sock = _listen(cfg.bind_host, cfg.api_port)
    port = sock.getsockname()[1]
    url = f"http://{cfg.api_host}:{port}"
    if cfg.uninstall:
        scheduler = Uninstaller(cfg, state, url)
        registered = await scheduler.load()
    else:
        scheduler = ServiceScheduler(cfg, state, url)
        await scheduler.load()
        registered = True
    runner = web.AppRunner(make_app(scheduler), access_log=None)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    log.info("serving the scheduler API on %s (listening on %s)", url, _address(sock))
    try:
        framework = None
        client: SchedulerClient | None = None
        if registered:
            info = framework_info(
                cfg.service_name,
                user=cfg.user,
                roles=[cfg.role],
                principal=cfg.principal,
                webui_url=url,
                failover_timeout=cfg.failover_timeout or DEFAULT_FAILOVER_TIMEOUT,
            )
            info = info.replace(id=await state.framework_id())
            client = SchedulerClient(cfg.master, info)
            framework = asyncio.create_task(run(client, scheduler))
        waits: set[asyncio.Task[Any]] = {
            asyncio.create_task(stop.wait()),
            asyncio.create_task(lost.wait()),
        }
        watchdog = None
        if framework is not None:
            waits.add(framework)
            watchdog = asyncio.create_task(_first_subscription(scheduler, SUBSCRIBE_DEADLINE))
            waits.add(watchdog)
        while True:
            done, waits = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if framework in done and isinstance(scheduler, Uninstaller) and scheduler.done.is_set():
                framework = None
                continue  # uninstalled: keep serving the plan until Marathon deletes the app
            if watchdog in done and not watchdog.exception():
                continue  # subscribed in time
            break
        starved = watchdog is not None and watchdog.done() and watchdog.exception() is not None
        for task in waits:
            task.cancel()
        if framework is not None and framework.done() and framework.exception() is not None:
            raise framework.exception()  # type: ignore[misc]
        if framework is not None:
            scheduler.stop()
            framework.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await framework
        if starved:
            log.error(
                "no SUBSCRIBED from %s within %.0fs: exiting so that Marathon restarts it",
                cfg.master,
                SUBSCRIBE_DEADLINE,
            )
            return 1
        if lost.is_set():
            log.error("lost leadership: exiting so that Marathon restarts this instance")
            return 3
        return 0
    finally:
        if client is not None:
            await client.close()
        await runner.cleanup()
