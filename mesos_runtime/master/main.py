"""`mesos-master`: parse flags, recover the registry, serve the HTTP APIs until SIGTERM.

Standalone (no --zk) the registry is a file under --work_dir and this master always leads;
with --zk the leadership and the registry store come from mesos_runtime.discovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web

from mesos_runtime import MESOS_API_VERSION, __version__
from mesos_runtime.security.acls import load_acls
from mesos_runtime.security.credentials import credentials_flag
from mesos_runtime.security.http_limits import ConnectionGuard, GuardedRunner, connection_limit
from mesos_runtime.security.tls import server_context
from mesos_runtime.wire.flags import FlagError, HelpRequested, parse_flags

from .access import MasterAccess
from .allocator import Allocator
from .flags import MasterFlags, parse_weights
from .http import Leadership, StandaloneLeadership, build_app
from .master import Master
from .registry import FileStore, Registry, RegistryFenced, RegistryStore

log = logging.getLogger("mesos.master")


def _setup_logging(flags: MasterFlags) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if flags.log_dir:
        Path(flags.log_dir).mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(Path(flags.log_dir) / "mesos-master.log"))
    logging.basicConfig(
        level=getattr(logging, flags.logging_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname).1s %(name)s] %(message)s",
        handlers=handlers,
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # the format uses no thread or process fields: do not collect them for every record
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


async def run(flags: MasterFlags) -> int:
    """Serve until SIGTERM/SIGINT (0), or until this master loses leadership or its
    registry writes are fenced (1: as Mesos, it exits rather than act beside a new leader;
    its supervisor restarts it as a standby)."""
    hostname = flags.hostname or socket.gethostname()
    advertise_ip = flags.advertise_ip or (flags.ip if flags.ip != "0.0.0.0" else "127.0.0.1")
    advertise_port = flags.advertise_port or flags.port
    weights = parse_weights(flags.weights)
    allocator = Allocator(
        role_weights=weights,
        min_allocatable_cpus=flags.min_allocatable_cpus,
        min_allocatable_mem=flags.min_allocatable_mem,
    )
    zookeeper: Any = None
    store: RegistryStore
    if flags.zk:
        # imported only with --zk: standalone masters never load kazoo
        from mesos_runtime.discovery import ZooKeeperLeadership, parse_zk_url
        from mesos_runtime.discovery.store import ZooKeeperStore

        zookeeper = ZooKeeperLeadership(
            parse_zk_url(flags.zk), session_timeout=float(flags.zk_session_timeout)
        )
        store = ZooKeeperStore(zookeeper.contender)
    else:
        store = FileStore(flags.work_dir)
    master = Master(
        flags,
        Registry(store),
        allocator,
        hostname=hostname,
        advertise_ip=advertise_ip,
        advertise_port=advertise_port,
    )
    leadership: Leadership = zookeeper or StandaloneLeadership(master.info)
    if zookeeper is None:
        await master.recover()
    app = build_app(master, leadership, build_access(flags))
    # three quarters of the descriptors for clients; the rest: registry, ZooKeeper, logs
    guard = ConnectionGuard(connection_limit(0.75))
    runner = GuardedRunner(app, guard, handler_cancellation=True, access_log=None)
    await runner.setup()
    tls = server_context()
    site = web.TCPSite(runner, flags.ip, flags.port, reuse_address=True, ssl_context=tls)
    await site.start()
    log.info(
        "Master %s (Infinity %s, Mesos API %s) listening on %s:%d (%s) as %s; %s",
        master.id,
        __version__,
        MESOS_API_VERSION,
        flags.ip,
        flags.port,
        "TLS" if tls is not None else "plain HTTP",
        master.info.pid,
        f"contending in {flags.zk}" if zookeeper else f"standalone, work_dir {flags.work_dir}",
    )

    stop = asyncio.Event()
    lost = asyncio.Event()
    master.on_fenced = lost.set
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    if zookeeper is None:
        master.start()
        log.info("Elected as the leading master (standalone)")
    else:
        await zookeeper.start(master.info)
        if await _first(stop.wait(), zookeeper.contender.elected()) == 1:
            log.info("Elected as the leading master; recovering the registry")
            try:
                await master.recover()
            except RegistryFenced:
                lost.set()
            else:
                master.start()
                zookeeper.mark_recovered()
                log.info("Recovered: serving as the leading master")

    waits = [stop.wait(), lost.wait()]
    if zookeeper is not None and zookeeper.is_leader:
        waits.append(zookeeper.contender.lost())
    if await _first(*waits) == 2:
        lost.set()
    if lost.is_set():
        log.critical("Lost leadership: stopping so that no two masters act at once")
        if zookeeper is not None:
            zookeeper.mark_deposed()
    log.info("Shutting down")
    await master.stop()
    if zookeeper is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(zookeeper.close(), 5)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(runner.cleanup(), 5)
    return 1 if lost.is_set() else 0


async def _first(*waits: Coroutine[Any, Any, Any]) -> int:
    """Wait for the first of `waits` to finish; its index (the others are cancelled)."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return next(i for i, t in enumerate(tasks) if t in done)


def build_access(flags: MasterFlags) -> MasterAccess:
    """Authentication and authorization from the flags; ValueError naming a bad one."""
    required = [
        name
        for name in (
            "authenticate_frameworks",
            "authenticate_http_frameworks",
            "authenticate_agents",
            "authenticate_http_readonly",
            "authenticate_http_readwrite",
        )
        if getattr(flags, name)
    ]
    for name in ("http_authenticators", "http_framework_authenticators"):
        value = getattr(flags, name)
        if value is not None and value != "basic":
            raise ValueError(f"--{name}={value}: only 'basic' (HTTP Basic) is supported")
    if flags.authorizers != "local":
        raise ValueError(f"--authorizers={flags.authorizers}: only 'local' (--acls) is supported")
    credentials = credentials_flag("credentials", flags.credentials)
    if credentials is None and required:
        raise ValueError(f"--{required[0]} needs --credentials (the principals and secrets)")
    return MasterAccess(flags, credentials, load_acls(flags.acls))


def check_quorum(flags: MasterFlags) -> None:
    """`--quorum` as this master means it: the registry lives in ZooKeeper and a write is
    durable once ZooKeeper's majority holds it. So the flag needs --zk, and it must be a
    majority of the ZooKeeper servers --zk lists, and no more than them (it could never be
    met). Raises ValueError saying what is wrong."""
    if flags.quorum is None:
        return
    if not flags.zk:
        raise ValueError("--quorum needs --zk: a standalone master's registry is a local file")
    from mesos_runtime.discovery import parse_zk_url  # only with --zk: kazoo is heavy

    try:
        servers = len(parse_zk_url(flags.zk).servers)
    except ValueError as e:
        raise ValueError(f"--zk: {e}") from None
    majority = servers // 2 + 1
    if not majority <= flags.quorum <= servers:
        raise ValueError(
            f"--quorum={flags.quorum}: the registry is written to ZooKeeper, where a write "
            f"is durable once a majority of its servers hold it; with {servers} ZooKeeper "
            f"server(s) in --zk the quorum must be between {majority} and {servers}"
        )


def main(argv: list[str] | None = None) -> int:
    try:
        flags = parse_flags(MasterFlags, sys.argv[1:] if argv is None else argv)
    except HelpRequested as e:
        print(f"Usage: mesos-master [options]\n\n{e}")
        return 0
    except FlagError as e:
        print(e, file=sys.stderr)
        return 1
    if flags.version:
        print(f"mesos-master (Infinity {__version__}) {MESOS_API_VERSION}")
        return 0
    try:
        parse_weights(flags.weights)
        check_quorum(flags)
        build_access(flags)
        server_context()  # bad LIBPROCESS_SSL_* settings stop the start, named
    except ValueError as e:
        print(e, file=sys.stderr)
        return 1
    _setup_logging(flags)
    return asyncio.run(run(flags))


if __name__ == "__main__":
    sys.exit(main())
